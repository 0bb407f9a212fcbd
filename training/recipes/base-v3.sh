#!/usr/bin/env bash
# The recipe of hic-base-v3: hic-base-v2's run (training/recipes/base-v2.sh, 185 minutes, 15,248
# steps) resumed exactly (weights, optimizer, step, RNG) on the same 2-core CPU, CID22 only.
# Phase 5: 128² crops at lr 1e-4 (v2 ended at 2e-5 after a drop; PSNR was still rising) until
# 255 minutes of training in all. Phase 6: 256² crops at lr 1e-5 (lr 1e-4 × 0.1 from the start of
# the phase) until 270 minutes. Then evaluate and export.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/v3}
[ -f "$OUT/last.pt" ] || OUT="$OUT" NESTED=1 bash training/recipes/base-v2.sh
/usr/bin/python3 training/train.py --out "$OUT" --resume auto --crop 128 --batch 4 \
  --lr 1e-4 --gain-lr-mult 10 --threads 2 --time-limit 255 --lr-drop 1.0 --log-every 50 --ckpt-every 500
/usr/bin/python3 training/train.py --out "$OUT" --resume auto --crop 256 --batch 4 \
  --lr 1e-4 --gain-lr-mult 10 --threads 2 --time-limit 270 --lr-drop 0.0 --log-every 25 --ckpt-every 200
# Run as the first part of a later recipe (NESTED=1): train only; the later recipe evaluates and exports.
if [ -n "${NESTED:-}" ]; then exit 0; fi
/usr/bin/python3 training/eval.py "$OUT/last.pt" --json "$OUT/eval-v3.json"
/usr/bin/python3 training/export.py "$OUT/last.pt" --id "${MODEL_ID:-hic-base-v3}" --eval-json "$OUT/eval-v3.json" \
  --command "training/recipes/base-v3.sh" ${FORCE:+--force}
