#!/usr/bin/env bash
# The recipe of the first shipped model (hic-base-v1): CPU, 2 threads, CID22 only.
# Phase 1: 65 minutes of 128² crops (3.4× the optimizer steps per minute of 256² crops; early
# progress per step measured the same). Phase 2: resume at 256² crops until 90 minutes (so the
# attention sees several windows per crop), lr ×0.1 after 76.5 minutes. Then evaluate and export.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/base}
mkdir -p "$OUT"
echo '{"ga_out_init_scale": 24.0}' > "$OUT/config.json"
/usr/bin/python3 training/train.py --out "$OUT" --config "$OUT/config.json" --crop 128 --batch 4 \
  --lr 3e-4 --gain-lr-mult 10 --threads 2 --time-limit 65 --lr-drop 1.0 --log-every 50 --ckpt-every 500
/usr/bin/python3 training/train.py --out "$OUT" --resume auto --crop 256 --batch 4 \
  --lr 3e-4 --gain-lr-mult 10 --threads 2 --time-limit 90 --lr-drop 0.85 --log-every 25 --ckpt-every 200
# Run as the first part of a later recipe (NESTED=1): train only; the later recipe evaluates and exports.
if [ -n "${NESTED:-}" ]; then exit 0; fi
/usr/bin/python3 training/eval.py "$OUT/last.pt" --json "$OUT/eval.json"
/usr/bin/python3 training/export.py "$OUT/last.pt" --id "${MODEL_ID:-hic-base-v1}" --eval-json "$OUT/eval.json" \
  --command "training/recipes/base-v1.sh" ${FORCE:+--force}
