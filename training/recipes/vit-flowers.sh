#!/usr/bin/env bash
# The latent-token ViT for the default codec model (and its two baselines), on tf_flowers.
# Rerun whenever models/DEFAULT changes: a classifier reads one codec model's latent only.
#   OUT=runs/vit EPOCHS=5 bash training/recipes/vit-flowers.sh
#   INPUTS=latent MERGE=2 SHIFT=1 EPOCHS=16 …   only the shipped latent ViT, with 2×2 token merge
#                                               and ±1-token shift augmentation
#   INPUTS=latent MERGE=2 SHIFT=1 FLIP=1 MIX=0.5 EPOCHS=40 …   what ship.sh runs: mirrored training
#                                               photos as samples of their own, CutMix/MixUp of the
#                                               token grids on half the batches
# Sized for the 2-core CPU: 2 blocks of 2 heads (attention over 257 tokens is most of the cost on
# Debian's torch 1.13: ~1.9 s per batch of 64 against ~4.5 s with 4 blocks of 4 heads), 5 epochs.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/vit}
EPOCHS=${EPOCHS:-5}
INPUTS=${INPUTS:-latent decoded original}
CODEC=$(cat models/DEFAULT)
ID=${ID:-hic-vit-flowers-${CODEC#hic-base-}}
npm run build >/dev/null
PREP=()
[ "${FLIP:-0}" = 1 ] && PREP+=(--flip)
[ "$INPUTS" = latent ] && PREP+=(--latent-only)  # no decoded photos when no baseline reads them
node training/tools/vit_prep.mjs "$OUT" "${PREP[@]}"
for input in $INPUTS; do
  /usr/bin/python3 training/train_vit.py train --data "$OUT" --input "$input" --epochs "$EPOCHS" --depth "${DEPTH:-2}" --heads "${HEADS:-2}" \
    --warmup 30 --eval-every "$EPOCHS" --threads 2 --merge "${MERGE:-1}" --shift "${SHIFT:-0}" --mix "${MIX:-0}"
done
/usr/bin/python3 training/train_vit.py export --data "$OUT" --id "$ID"
