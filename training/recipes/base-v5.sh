#!/usr/bin/env bash
# The recipe of hic-base-v5 (transforms in hicodec_train/transforms.py, configuration base-v5.json):
# g_a 20.0 kMAC/px, g_s 11.9 kMAC/px (attention over the 16×16-patch tokens at /16, residual 3×3
# conv stages at /8, /4, /2), DCT patch shortcuts, v4's entropy model (channel context 16/16/32/64/64,
# integer scale nets, LRP), 8 λ points 0.0018 … 0.18 (the top two for the full rate range).
# From scratch: nothing is warm-started from v4 (its transforms do not fit), the DCT shortcut makes
# step 0 a transform coder. Data: CID22 (206 photos, 512²), 256² crops rescaled by s ∈ [0.75, 1.5]
# (s > 1 enlarges: the smoother statistics of full-resolution camera photos), flips.
#
#   bash training/recipes/base-v5.sh ab        # the A/B arm: 60 CPU-minutes, 1 thread, batch 4 (runs/ab/v5)
#   bash training/recipes/base-v5.sh campaign  # the campaign: resumes runs/campaign/last.pt, else the A/B
#                                              # arm's checkpoint, else the shipped models/hic-base-v5;
#                                              # 2 threads, batch 8; WALL minutes (default 60)
#   bash training/recipes/base-v5.sh release   # EMA weights with lr ÷10 for RELEASE_MIN CPU-minutes (a fork:
#                                              # runs/campaign-release), then the campaign eval and export
#
# The v4-architecture arm of the A/B (same data, same recipe, from scratch): runs/ab/v4arch with
# runs/ab/v4arch.json (hic-base-v4's configuration with the same 8 λ). bench/ab_curves.py plots both.
set -euo pipefail
cd "$(dirname "$0")/../.."
CFG=training/recipes/base-v5.json
DATA=${HICODEC_TRAIN_DATA:-../shared/data/train-src/cid22}
COMMON=(--pack "$DATA" --crop 256 --scale-min 0.75 --scale-max 1.5 --balance-lambdas --ema 0.999 --val-minutes 10
        --log-every 25 --ckpt-minutes 5)
case "${1:-campaign}" in
  ab)
    /usr/bin/python3 training/train.py --out runs/ab/v5 --resume auto --config "$CFG" --batch 4 --lr 3e-4 --lr-drop 1.0 \
      --cpu-limit 60 --threads 1 "${COMMON[@]}"
    ;;
  campaign)
    START=()
    if [ ! -f runs/campaign/last.pt ]; then
      if [ -f runs/ab/v5/last.pt ]; then START=(--resume runs/ab/v5/last.pt)
      elif [ -f models/hic-base-v5/manifest.json ]; then
        START=(--init models/hic-base-v5 --config "$CFG"); echo "# no campaign checkpoint: continuing the shipped hic-base-v5 (weights; fresh optimizer)" >&2
      else START=(--config "$CFG"); echo "# no campaign checkpoint, no A/B arm, no package: starting from scratch" >&2; fi
    else
      START=(--resume auto)
    fi
    /usr/bin/python3 training/train.py --out runs/campaign "${START[@]}" --batch 8 --lr 3e-4 --lr-drop 1.0 \
      --wall-limit "${WALL:-60}" --threads 2 "${COMMON[@]}"
    ;;
  release)
    /usr/bin/python3 training/train.py --out runs/campaign-release --init runs/campaign/last.pt --batch 8 --lr 3e-5 \
      --lr-drop 1.0 --warmup 10 --cpu-limit "${RELEASE_MIN:-10}" --threads 2 "${COMMON[@]}"
    /usr/bin/python3 training/campaign.py eval runs/campaign-release/last.pt --out runs/campaign/evals/release.json
    ;;
  *) echo "usage: base-v5.sh ab|campaign|release" >&2; exit 2 ;;
esac
