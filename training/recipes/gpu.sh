#!/usr/bin/env bash
# The GPU chain (training/README.md): continue the default model's training on a borrowed GPU
# machine within its limits (10-minute commands, ≤ 64 MiB working tree, files back ≤ 16 MiB).
#
#   here:      bash training/recipes/gpu.sh pack                    # .data/pack/*.hpk (~32 MB, ignored)
#   device:    bash training/recipes/gpu.sh train 8.5               # resumes runs/gpu/last.pt if present
#   device:    bash training/recipes/gpu.sh train 8 && bash training/recipes/gpu.sh bring-back "$OUT"
#   here:      bash training/recipes/gpu.sh finish /work/.device/…/release.pt.parts.json
#
# Starts from the package in models/DEFAULT (or $INIT) the first time; every later command on the
# same (warm) machine resumes runs/gpu/last.pt exactly (weights, optimizers, EMA, step, RNG).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/gpu}
PY=${PY:-python3}
cmd=${1:?usage: gpu.sh pack|train MINUTES|bring-back OUTDIR|finish PARTS_JSON}
case "$cmd" in
  pack)
    /usr/bin/python3 training/pack_data.py --out .data/pack ;;
  train)
    minutes=${2:?minutes}
    INIT=${INIT:-models/$(cat models/DEFAULT)}
    nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv,noheader 2>/dev/null || true
    PYTHONUNBUFFERED=1 $PY training/train.py --out "$RUN" --resume auto --init "$INIT" \
      --pack .data/pack/cid22-train.hpk --val .data/pack/cid22-val.hpk --val-minutes 2 \
      --batch "${BATCH:-32}" --crop "${CROP:-256}" --lr "${LR:-1e-4}" --gain-lr-mult 10 --warmup 200 --lr-drop 1.0 \
      --amp bf16 --channels-last ${COMPILE-"--compile"} --ema 0.999 --gray-prob 0.03 \
      --wall-limit "$minutes" --ckpt-minutes 2 --ckpt-every 100000 --log-every 50 --release "$RUN/release.pt" ;;
  bring-back)
    out=${2:?output folder}
    $PY training/tools/parts.py split "$RUN/release.pt" "$out" --max-mib 15
    cp "$RUN/train.log" "$out/train.log" ;;
  finish)
    parts=${2:?parts index}
    /usr/bin/python3 training/tools/parts.py join "$parts" "$RUN/release.pt"
    /usr/bin/python3 training/eval.py "$RUN/release.pt" --qualities 0,11,22,33,44,56,67,78,89,100 --json "$RUN/eval.json"
    echo "then: /usr/bin/python3 training/export.py $RUN/release.pt --id <new id> --eval-json $RUN/eval.json --command training/recipes/gpu.sh" ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
