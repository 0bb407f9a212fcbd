#!/usr/bin/env bash
# Ships a campaign checkpoint as the new default model (training/README.md, "Ship"): the package
# (EMA weights), its preview heads, its classifier and its golden streams. What stays by hand:
# `hic bench` with real bytes against the shipped model, the tests whose bounds name a model, the
# docs and figures, and taking the old package out of the tree (CHANGELOG says how to restore it).
#
#   bash training/recipes/ship.sh CHECKPOINT ID [PRIOR]     e.g.
#   bash training/recipes/ship.sh runs/ab6/v5/last.pt hic-base-v5.1 runs/ab6/start.pt
#
# PRIOR: the checkpoint or package the run was started from with --init (recorded in the manifest
# as an earlier stage; several, oldest first, separated by commas). The encoder-side networks are stored as int8 (export.py --int8-encoder:
# +0.17% BD-rate on v6, what makes v6 fit the 16 MB budget; INT8= to store them in fp16).
# HEADS: the preview-head candidates (default 8:64,8:128,4:128,4:192,2:192,2:384; train_previews.py keeps per
# scale the fewest channels within 1 dB); HEADS_MIN: their CPU-minutes (default 12); VIT_EPOCHS,
# VIT_MERGE, VIT_SHIFT, VIT_FLIP, VIT_MIX: the classifier's recipe (defaults 40, 2, 1, 1, 0.5: mirrored
# training photos and CutMix/MixUp on half the batches, 2×2 token merge, ±1-token shifts; on v7's
# latents 67.8% at q50 against 66.3% for 16 epochs without mixing and 66.6% shipped, 25 CPU-minutes
# on 2 threads; docs/MODEL.md, "Classifier").
set -euo pipefail
cd "$(dirname "$0")/../.."
CK=$1
ID=$2
PRIOR=(); for P in ${3//,/ }; do PRIOR+=(--prior "$P"); done
HEADS=${HEADS:-8:64,8:128,4:128,4:192,2:192,2:384}
INT8=${INT8-1}
EXTEND=${EXTEND-0.00025}  # quality 0: λ extrapolated below the trained points (range under 0.1 bpp; EXTEND= for none)
EMA=${EMA---ema}   # EMA= for weights kept by campaign.py eval (runs/campaign/evals/*.pt: already the EMA)
/usr/bin/python3 training/export.py "$CK" --id "$ID" $EMA ${INT8:+--int8-encoder} ${EXTEND:+--extend-lambdas "$EXTEND"} "${PRIOR[@]}" \
  --command "the campaign's recipe (training/CAMPAIGN.md, training/recipes/base-v*.sh); training/recipes/ship.sh $*"
/usr/bin/python3 training/train_previews.py "models/$ID" --cpu-limit "${HEADS_MIN:-12}" --threads 2 --heads "$HEADS" --val-limit 20 \
  --command "/usr/bin/python3 training/train_previews.py models/$ID --cpu-limit ${HEADS_MIN:-12} --threads 2 --heads $HEADS --val-limit 20"
echo "$ID" > models/DEFAULT
INPUTS=latent EPOCHS=${VIT_EPOCHS:-40} MERGE=${VIT_MERGE:-2} SHIFT=${VIT_SHIFT:-1} FLIP=${VIT_FLIP:-1} MIX=${VIT_MIX:-0.5} OUT=runs/vit-$ID \
  bash training/recipes/vit-flowers.sh
npm run build >/dev/null
node tools/make-golden-hic.mjs "$ID"
