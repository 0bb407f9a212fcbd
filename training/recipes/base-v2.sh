#!/usr/bin/env bash
# The recipe of hic-base-v2: hic-base-v1's run (training/recipes/base-v1.sh, 90 minutes, 8,608
# steps) resumed exactly (weights, optimizer, step, RNG) on the same CPU, 2 threads, CID22 only:
# Phase 3: 128² crops at lr 2e-4 up to step 14,500 (165 minutes in all; v1 had dropped the lr at
# 76.5 minutes while PSNR was still climbing ~0.5 dB per 1,000 steps). Phase 4: 256² crops (the
# attention sees several windows and shifted windows per crop) until 185 minutes, lr ×0.1 after
# 166.5 minutes. Then evaluate and export.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/base}
[ -f "$OUT/last.pt" ] || OUT="$OUT" NESTED=1 bash training/recipes/base-v1.sh
/usr/bin/python3 training/train.py --out "$OUT" --resume auto --crop 128 --batch 4 \
  --lr 2e-4 --gain-lr-mult 10 --threads 2 --steps 14500 --lr-drop 1.0 --log-every 50 --ckpt-every 500
/usr/bin/python3 training/train.py --out "$OUT" --resume auto --crop 256 --batch 4 \
  --lr 2e-4 --gain-lr-mult 10 --threads 2 --time-limit 185 --lr-drop 0.9 --log-every 25 --ckpt-every 200
# Run as the first part of a later recipe (NESTED=1): train only; the later recipe evaluates and exports.
if [ -n "${NESTED:-}" ]; then exit 0; fi
/usr/bin/python3 training/eval.py "$OUT/last.pt" --json "$OUT/eval-v2.json"
/usr/bin/python3 training/export.py "$OUT/last.pt" --id "${MODEL_ID:-hic-base-v2}" --eval-json "$OUT/eval-v2.json" \
  --command "training/recipes/base-v2.sh" ${FORCE:+--force}
