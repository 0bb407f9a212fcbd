#!/usr/bin/env bash
# The latent-token ViT for the default codec model (and its two baselines), on tf_flowers.
# Rerun whenever models/DEFAULT changes: a classifier reads one codec model's latent only.
#   OUT=runs/vit EPOCHS=25 bash training/recipes/vit-flowers.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/vit}
EPOCHS=${EPOCHS:-25}
CODEC=$(cat models/DEFAULT)
ID=${ID:-hic-vit-flowers-${CODEC#hic-base-}}
npm run build >/dev/null
node training/tools/vit_prep.mjs "$OUT"
for input in latent decoded original; do
  /usr/bin/python3 training/train_vit.py train --data "$OUT" --input "$input" --epochs "$EPOCHS" --threads 2
done
/usr/bin/python3 training/train_vit.py export --data "$OUT" --id "$ID"
