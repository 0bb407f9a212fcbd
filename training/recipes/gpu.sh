#!/usr/bin/env bash
# The GPU chain (training/README.md): the campaign goes on on a borrowed GPU machine, from its
# committed state, within that machine's limits (10-minute commands, a working tree of ≤ 64 MiB,
# files back ≤ 16 MiB each).
#
#   here:    bash training/recipes/gpu.sh pack        # .data/pack/*.hpk: as large as the tree leaves room for
#   device:  bash training/recipes/gpu.sh train 7.5; bash training/recipes/gpu.sh bring-back "$OUT"
#   here:    bash training/recipes/gpu.sh finish <files_at>/campaign-state.npz.xz
#
# train: the first command on a machine restores the campaign's state (training/campaign-state.npz.xz,
#   tools/campaign_state.py) against the shipped package and trains from it (fresh optimizer) in the
#   campaign's configuration (base-v7-512.json, FREEZE as base-v7.sh, the λ balance, 256² crops),
#   with the GPU's batch, bf16 autocast and channels-last. A state made against another package, or
#   none: the package. Every later command on the same (warm) machine resumes runs/gpu/last.pt
#   exactly (weights, optimizers, EMA, step, RNG).
# bring-back: the EMA weights as a campaign state (~8 MB, one file) and the log, into OUTDIR.
# finish: the state that came back becomes the campaign's (training/campaign-state.npz.xz) if it has
#   trained further (crops); runs/campaign, a line forked from the older state, is moved aside; the
#   restored weights are evaluated (campaign.py eval). The CPU campaign (base-v7.sh campaign) then
#   goes on from it.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/gpu}
PY=${PY:-python3}                       # the device's python3 holds its PyTorch
TRAIN=${HICODEC_TRAIN_PY:-training/train.py}
CAMPAIGN=${HICODEC_CAMPAIGN_PY:-training/campaign.py}   # the tests give stand-ins for both
STATE=training/campaign-state.npz.xz
DEF=models/$(cat models/DEFAULT)
FREEZE=${FREEZE-h_a.}                   # as the campaign (base-v7.sh)
LIMIT_MIB=64
cmd=${1:?usage: gpu.sh pack | train MINUTES | bring-back OUTDIR | finish STATE}
case "$cmd" in
  pack)
    # what the repository takes of the working tree that travels (tracked and not-ignored files),
    # and 1 MiB to spare for what a session adds before its device call
    used=$(git ls-files -z --cached --others --exclude-standard | /usr/bin/python3 -c \
      "import os, sys; print(sum(os.path.getsize(f) for f in sys.stdin.buffer.read().decode().split(chr(0)) if f and os.path.isfile(f)))")
    fit=$(/usr/bin/python3 -c "print(round($LIMIT_MIB - $used / 2**20 - 1, 1))")
    echo "# the tree takes $(/usr/bin/python3 -c "print(round($used / 2**20, 1))") MiB: the packs get $fit MiB" >&2
    /usr/bin/python3 training/pack_data.py --out .data/pack --fit-mib "$fit" --val-count "${VAL_COUNT:-16}" ;;
  train)
    minutes=${2:?minutes}
    nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv,noheader 2>/dev/null || true
    START=(--resume auto)
    if [ ! -f "$RUN/last.pt" ]; then
      rc=0
      if [ -f "$STATE" ]; then
        $PY training/tools/campaign_state.py restore "$STATE" --base "$DEF" --out "$RUN/restored.pt" >&2 || rc=$?
      else
        rc=3
      fi
      case $rc in
        0) START+=(--init "$RUN/restored.pt"); echo "# the campaign's state $STATE, restored against $DEF" >&2 ;;
        3) START+=(--init "$DEF"); echo "# no state made against $DEF: starting from the package (weights)" >&2 ;;
        *) echo "restoring $STATE failed (exit $rc)" >&2; exit 2 ;;
      esac
    fi
    PYTHONUNBUFFERED=1 $PY "$TRAIN" --out "$RUN" "${START[@]}" --config training/recipes/base-v7-512.json \
      --pack .data/pack/cid22-train.hpk --val .data/pack/cid22-val.hpk --val-minutes 2 \
      --batch "${BATCH:-32}" --crop 256 --scale-min 0.75 --scale-max 1.5 --balance-lambdas --lr "${LR:-1e-4}" --lr-drop 1.0 \
      --amp bf16 --channels-last ${COMPILE:+--compile} --ema 0.999 ${FREEZE:+--freeze "$FREEZE"} \
      --wall-limit "$minutes" --ckpt-minutes 2 --ckpt-every 100000 --log-every 50 ;;
  bring-back)
    out=${2:?output folder}
    $PY training/tools/campaign_state.py save "$RUN/last.pt" --base "$DEF" --out "$out/campaign-state.npz.xz"
    cp "$RUN/train.log" "$out/train.log" ;;
  finish)
    new=${2:?the state that came back}
    for pid in $(pgrep -f "train.py --out runs/campaign" || true); do   # this checkout's campaign
      if [ "$(readlink "/proc/$pid/cwd")" = "$PWD" ]; then
        echo "the CPU campaign runs: stop it first (kill -TERM $pid)" >&2; exit 2
      fi
    done
    if [ -f "$STATE" ] && ! /usr/bin/python3 training/tools/campaign_state.py ahead "$new" "$STATE"; then
      echo "$new has not trained further than $STATE: nothing changed" >&2; exit 2
    fi
    stamp=$(date +%F-%H%M)
    mkdir -p "$RUN/evals"
    /usr/bin/python3 training/tools/campaign_state.py restore "$new" --base "$DEF" --out "$RUN/restored.pt"
    [ -e runs/campaign ] && mv runs/campaign "runs/campaign-before-gpu-$stamp"
    cp "$new" "$STATE"
    [ -f "$(dirname "$new")/train.log" ] && cp "$(dirname "$new")/train.log" "$RUN/train-$stamp.log"
    /usr/bin/python3 "$CAMPAIGN" eval "$RUN/restored.pt" --out "$RUN/evals/$stamp.json" --threads 2
    echo "then: campaign.py log $RUN/evals/$stamp.json --ref bench/results/campaign/ref-$(cat models/DEFAULT).json --label … --note …;" \
         "commit $STATE with the row; bash training/recipes/base-v7.sh campaign goes on from it" >&2 ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
