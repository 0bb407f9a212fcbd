#!/usr/bin/env bash
# The GPU chain (training/README.md): the campaign goes on on a borrowed GPU machine, from its
# committed state, within that machine's limits (10-minute commands, a working tree of ≤ 64 MiB,
# files back ≤ 16 MiB each).
#
#   here:    bash training/recipes/gpu.sh pack        # .data/pack/*.hpk: as faithful as the tree leaves room for
#   device:  bash training/recipes/gpu.sh train 7.5; bash training/recipes/gpu.sh bring-back "$OUT"
#   here:    bash training/recipes/gpu.sh finish <files_at>/campaign-state.npz.xz    # evaluate it
#   here:    bash training/recipes/gpu.sh adopt <files_at>/campaign-state.npz.xz     # make it the campaign's
#
# train: the first command on a machine restores the campaign's state (training/campaign-state.npz.xz,
#   tools/campaign_state.py) against the shipped package and trains from it (fresh optimizer) in the
#   campaign's configuration (base-v7-512.json, FREEZE as base-v7.sh, the λ balance, 256² crops),
#   with the GPU's batch, bf16 autocast and channels-last. Without a state made against the package
#   it stops, unless OFFSET=CPU_MINUTES,CROPS (the package's totals: its row in training/campaign.json)
#   says to start from the package. Every later command on the same (warm) machine resumes
#   runs/gpu/last.pt exactly (weights, optimizers, EMA, step, RNG).
# bring-back: the log and the EMA weights as a campaign state (~8 MB, one file) into OUTDIR.
# finish: the state that came back, restored and evaluated here (campaign.py eval); nothing changes.
# adopt: it becomes the campaign's state (training/campaign-state.npz.xz) if it has trained further
#   (crops), and runs/campaign, a line forked from the older state, moves aside. The CPU campaign
#   (base-v7.sh campaign) then goes on from it.
set -euo pipefail
arg=${2:-}
[ -n "$arg" ] && [ -e "$arg" ] && arg=$(realpath "$arg")   # a path given relative to where it was called from
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/gpu}
PY=${PY:-python3}                       # the device's python3 holds its PyTorch
TRAIN=${HICODEC_TRAIN_PY:-training/train.py}
CAMPAIGN=${HICODEC_CAMPAIGN_PY:-training/campaign.py}   # the tests give stand-ins for both
STATE=training/campaign-state.npz.xz
DEF=models/$(cat models/DEFAULT)
FREEZE=${FREEZE-h_a.,g_a.}              # as the campaign (base-v7.sh)
LIMIT_MIB=64
cmd=${1:?usage: gpu.sh pack | train MINUTES | bring-back OUTDIR | finish STATE | adopt STATE}
case "$cmd" in
  pack)
    # what the repository takes of the working tree that travels (tracked and not-ignored files),
    # and 1 MiB to spare for what a session adds before its device call
    read -r used fit < <(git ls-files -z --cached --others --exclude-standard | /usr/bin/python3 -c "import os, sys
mib = sum(os.path.getsize(f) for f in sys.stdin.buffer.read().decode().split(chr(0)) if f and os.path.isfile(f)) / 2**20
print(round(mib, 1), round($LIMIT_MIB - mib - 1, 1))")
    echo "# the tree takes $used MiB: the packs get $fit MiB" >&2
    /usr/bin/python3 training/pack_data.py --out .data/pack --fit-mib "$fit" --quality 98 --val-count "${VAL_COUNT:-16}" ;;
  train)
    minutes=${2:?minutes}
    nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv,noheader 2>/dev/null || true
    START=(--resume auto)
    if [ ! -f "$RUN/last.pt" ]; then
      rc=3  # no state: as one made against another package
      if [ -f "$STATE" ]; then
        rc=0
        $PY training/tools/campaign_state.py restore "$STATE" --base "$DEF" --out "$RUN/restored.pt" >&2 || rc=$?
      fi
      case $rc in
        0) START+=(--init "$RUN/restored.pt"); echo "# the campaign's state $STATE, restored against $DEF" >&2 ;;
        3) if [ -z "${OFFSET:-}" ]; then
             echo "no state made against $DEF: OFFSET=CPU_MINUTES,CROPS (the package's totals) starts from the package" >&2; exit 2
           fi
           START+=(--init "$DEF"); echo "# no state made against $DEF: starting from the package (weights), totals $OFFSET" >&2 ;;
        *) echo "restoring $STATE failed (exit $rc)" >&2; exit 2 ;;
      esac
    fi
    PYTHONUNBUFFERED=1 $PY "$TRAIN" --out "$RUN" "${START[@]}" --config training/recipes/base-v7-512.json \
      --pack .data/pack/cid22-train.hpk --val .data/pack/cid22-val.hpk --val-minutes 2 \
      --batch "${BATCH:-64}" --crop 256 --scale-min 0.75 --scale-max 1.5 --balance-lambdas --lr "${LR:-1e-4}" --lr-drop 1.0 \
      --amp bf16 --channels-last ${COMPILE:+--compile} --ema 0.999 ${FREEZE:+--freeze "$FREEZE"} \
      --wall-limit "$minutes" --ckpt-minutes 2 --ckpt-every 100000 --log-every 50 ;;
  bring-back)
    out=${arg:?output folder}
    cp "$RUN/train.log" "$out/train.log" || true   # first: the log comes back even when there is no checkpoint
    $PY training/tools/campaign_state.py save "$RUN/last.pt" --base "$DEF" --out "$out/campaign-state.npz.xz" ${OFFSET:+--offset "$OFFSET"} ;;
  finish)
    new=${arg:?the state that came back}
    stamp=$(date +%F-%H%M%S)
    mkdir -p "$RUN/evals"
    /usr/bin/python3 training/tools/campaign_state.py restore "$new" --base "$DEF" --out "$RUN/restored.pt"
    if [ -f "$(dirname "$new")/train.log" ]; then cp "$(dirname "$new")/train.log" "$RUN/train-$stamp.log"; fi
    /usr/bin/python3 "$CAMPAIGN" eval "$RUN/restored.pt" --out "$RUN/evals/$stamp.json" --threads 2
    echo "then: campaign.py log $RUN/evals/$stamp.json --ref bench/results/campaign/ref-$(cat models/DEFAULT).json --label … --note …;" \
         "if it does not lose against the campaign's last row: gpu.sh adopt $new" >&2 ;;
  adopt)
    new=${arg:?the state that came back}
    here=$(pwd -P)
    for pid in $(pgrep -f "train.py --out runs/campaign" || true); do   # this checkout's campaign
      if [ "$(readlink "/proc/$pid/cwd")" = "$here" ]; then
        echo "the CPU campaign runs: stop it first (kill -TERM $pid)" >&2; exit 2
      fi
    done
    if [ -f "$STATE" ] && ! /usr/bin/python3 training/tools/campaign_state.py ahead "$new" "$STATE"; then
      echo "$new has not trained further than $STATE: nothing changed" >&2; exit 2
    fi
    if [ -e runs/campaign ]; then mv -T runs/campaign "runs/campaign-before-gpu-$(date +%F-%H%M%S)"; fi
    cp "$new" "$STATE"
    echo "$STATE is the state that came back: commit it with its row; bash training/recipes/base-v7.sh campaign goes on from it" >&2 ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
