#!/usr/bin/env bash
# hic-base-v6: hic-base-v5 with 384 latent channels instead of 192 (configuration base-v6.json).
# Why: the ceiling of v5 — g_s(g_a(x)) with no quantization — is 34.1 dB on Kodak, barely above
# what its linear path alone can carry (192 DCT coefficients of each 16×16×3 patch: 33.7 dB,
# `campaign.py dct-bound`), so no training lifts q100 above ~33.5 dB. 384 coefficients carry 39.9.
# The extension warm-starts from v5 (model.extend_latent): the new channels are the next DCT
# functions of the shortcuts, coded in one new context slice of 192; every non-linear path into or
# out of them starts at zero, and the new slice's tables start narrow (init_new_slice_index).
#
#   bash training/recipes/base-v6.sh ab        # the A/B at equal CPU-minutes from the same campaign
#                                              # checkpoint (runs/ab6/start.pt): v5 continued (runs/ab6/v5)
#                                              # against v6 extended (runs/ab6/v6); 1 thread each, side by side
#   bash training/recipes/base-v6.sh ab-lr     # lr A/B from the campaign checkpoint: lr 3e-4 continued (runs/ablr/lr3e-4)
#                                              # against 1e-4 (runs/ablr/lr1e-4); 1 thread each, side by side, to
#                                              # AB_MIN CPU-minutes on the checkpoint's counter (default 205)
#   bash training/recipes/base-v6.sh campaign  # the campaign on v6: resumes runs/campaign/last.pt when it is a
#                                              # v6 checkpoint, else the A/B's v6 arm, else extends the shipped
#                                              # hic-base-v5; 2 threads, batch 8; WALL minutes (default 60)
set -euo pipefail
cd "$(dirname "$0")/../.."
CFG=training/recipes/base-v6.json
DATA=${HICODEC_TRAIN_DATA:-../shared/data/train-src/cid22}
COMMON=(--pack "$DATA" --crop 256 --scale-min 0.75 --scale-max 1.5 --balance-lambdas --ema 0.999 --val-minutes 10
        --log-every 25 --ckpt-minutes 5 --batch 8 --lr-drop 1.0)
LR=${LR:-1e-4}  # the campaign's lr since the lr A/B of 2026-12-01 (3e-4 before; the ab-lr mode sets its own)
case "${1:-campaign}" in
  ab)
    START=${START:-runs/ab6/start.pt}
    AB=(--threads 1 --cpu-limit "${AB_MIN:-45}")
    /usr/bin/python3 training/train.py --out runs/ab6/v5 --resume auto --init "$START" "${COMMON[@]}" --lr 3e-4 "${AB[@]}" > runs/ab6/v5.out 2>&1 &
    /usr/bin/python3 training/train.py --out runs/ab6/v6 --resume auto --init "$START" --config "$CFG" \
      "${COMMON[@]}" --lr 3e-4 "${AB[@]}" > runs/ab6/v6.out 2>&1 &
    wait
    ;;
  ab-lr)
    mkdir -p runs/ablr
    for LR in 3e-4 1e-4; do
      D=runs/ablr/lr$LR
      R=(--resume auto); [ -f $D/last.pt ] || R=(--resume runs/campaign/last.pt)
      /usr/bin/python3 training/train.py --out $D "${R[@]}" "${COMMON[@]}" --lr $LR --threads 1 --cpu-limit "${AB_MIN:-205}" \
        > runs/ablr/lr$LR.out 2>&1 &
    done
    wait
    ;;
  campaign)
    # lean (v6-lean.json: the new slice without mean net, outside the LRP); a resume of a checkpoint
    # that is not lean yet converts it, keeping its optimizer state
    LEAN=(--config training/recipes/v6-lean.json)
    DEF=models/$(cat models/DEFAULT)
    if [ -f runs/campaign/last.pt ] && /usr/bin/python3 -c "import sys, torch; sys.exit(torch.load('runs/campaign/last.pt', map_location='cpu')['config']['M'] != 384)"; then
      START=(--resume auto "${LEAN[@]}")
    elif grep -q '"channels": 384' "$DEF/manifest.json"; then
      START=(--init "$DEF"); echo "# no v6 checkpoint: the shipped $DEF (weights; fresh optimizer)" >&2
    elif [ -f runs/ab6/v6/last.pt ]; then
      START=(--resume runs/ab6/v6/last.pt "${LEAN[@]}"); echo "# the campaign continues the A/B's v6 arm" >&2
    else
      START=(--init models/hic-base-v5 --config "$CFG"); echo "# no v6 checkpoint: extending the shipped hic-base-v5 (weights; fresh optimizer)" >&2
    fi
    /usr/bin/python3 training/train.py --out runs/campaign "${START[@]}" "${COMMON[@]}" --lr "$LR" --threads 2 --wall-limit "${WALL:-60}"
    ;;
  *) echo "usage: base-v6.sh ab|campaign" >&2; exit 2 ;;
esac
