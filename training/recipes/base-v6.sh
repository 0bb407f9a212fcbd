#!/usr/bin/env bash
# hic-base-v6: hic-base-v5 with 384 latent channels instead of 192 (configuration base-v6.json).
# Why: the ceiling of v5 — g_s(g_a(x)) with no quantization — is 34.1 dB on Kodak, barely above
# what its linear path alone can carry (192 DCT coefficients of each 16×16×3 patch: 33.6 dB), so
# no training lifts q100 above ~33.5 dB. 384 coefficients carry 39.8 dB. The extension warm-starts
# from v5 (model.extend_latent): the new channels are the next DCT functions of the shortcuts,
# coded in one new context slice of 192; every non-linear path into or out of them starts at zero.
#
#   bash training/recipes/base-v6.sh ab   # the A/B at equal CPU-minutes, from the same campaign
#                                         # checkpoint (runs/ab6/start.pt): v5 continued (runs/ab6/v5)
#                                         # against v6 extended (runs/ab6/v6); 1 thread each, side by side
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${HICODEC_TRAIN_DATA:-../shared/data/train-src/cid22}
COMMON=(--pack "$DATA" --crop 256 --scale-min 0.75 --scale-max 1.5 --balance-lambdas --ema 0.999 --val-minutes 10
        --log-every 25 --ckpt-minutes 5 --batch 8 --lr 3e-4 --lr-drop 1.0 --threads 1 --cpu-limit "${AB_MIN:-45}")
case "${1:-ab}" in
  ab)
    START=${START:-runs/ab6/start.pt}
    /usr/bin/python3 training/train.py --out runs/ab6/v5 --resume auto --init "$START" "${COMMON[@]}" > runs/ab6/v5.out 2>&1 &
    /usr/bin/python3 training/train.py --out runs/ab6/v6 --resume auto --init "$START" --config training/recipes/base-v6.json \
      "${COMMON[@]}" > runs/ab6/v6.out 2>&1 &
    wait
    ;;
  *) echo "usage: base-v6.sh ab" >&2; exit 2 ;;
esac
