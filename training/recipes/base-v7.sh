#!/usr/bin/env bash
# The 512-channel candidate (configuration base-v7-512.json): v6 with one more lean slice of 128
# channels. Why: the v5 issue asks for a ceiling (g_s(g_a(x)), no quantization) ≥ 40 dB on Kodak;
# v6's is 38.5 dB, under what its 384 DCT coefficients per patch carry (39.85 dB), while 512 carry
# 44.3 (`campaign.py dct-bound`). model.extend_latent makes the new channels the next DCT functions
# of the shortcuts, every non-linear path into or out of them zero, their tables narrow
# (init_new_slice_index), and the slice lean: the LRP keeps its 192 channels.
#
#   START=runs/campaign/evals/<eval>.pt bash training/recipes/base-v7.sh ab
#       the A/B at equal CPU-minutes from the same weights (a portable checkpoint: the weights
#       `campaign.py eval` keeps), both with fresh optimizers: v6 continued (runs/ab7/v6) against the
#       512-channel extension (runs/ab7/v7); 1 thread each, side by side, AB_MIN CPU-minutes each
#       (default 45; rerun with a larger AB_MIN to continue both); then `campaign.py eval` of each.
#   bash training/recipes/base-v7.sh campaign
#       the campaign on the 512-channel model: resumes runs/campaign/last.pt (refused when the
#       committed state has trained further); on a machine without it the committed state
#       training/campaign-state.npz.xz (tools/campaign_state.py: the EMA weights at the end of the
#       last session, fresh optimizer) when it was saved against the shipped package, else the
#       shipped package itself (weights, fresh optimizer); 2 threads; WALL minutes (default 60)
#   bash training/recipes/base-v7.sh end
#       the end of a session: stops the campaign (SIGTERM: validation, checkpoint), saves its state
#       to training/campaign-state.npz.xz (OFFSET=CPU_MIN,CROPS for a line started from a package)
#       and evaluates the restored weights (campaign.py eval); commit the state with the log's row
#   AB_MIN=30 bash training/recipes/base-v7.sh amp
#       the bf16 A/B: from the campaign checkpoint with its optimizer, the campaign itself goes on in
#       fp32 (runs/campaign, 1 thread) against a branch whose transforms run under bf16 autocast
#       (runs/ab-amp, 1 thread; 1.5× the pixels per second on a CPU with AVX512-BF16,
#       bench/train_speed.py), AB_MIN CPU-minutes more each (default 30); then `campaign.py eval` of each.
#   TAIL=P:TOP (campaign, amp): a share P of the crops enlarged up to TOP× (train.py --scale-tail);
#   AMP=bf16 (campaign): the transforms under bf16 autocast (train.py --amp)
#   CL= (campaign; empty, not 0: its value is passed to train.py): NCHW instead of channels-last (since 2026-12-03: the same math, a step ×1.10–1.13
#       faster on 2 threads, bench/results/train-speed-2026-12-03-only*.json)
#   FREEZE=prefixes (campaign, amp, cooldown, narrow, refreeze; default h_a.,g_a. since 2026-12-04): parameters kept as they are
#       (train.py --freeze). The hyper-analysis drifted under training until smooth skies broke at
#       the lowest λ (training/tools/sky_probe.py); the A/B arm that kept it (runs/ab-freeze, from
#       the shipped package, 1 thread, 78.7 CPU-minutes) kept the sky whole and is the campaign's
#       line since (training/CAMPAIGN.md). A checkpoint resumes only with the FREEZE it was made with
#       (the optimizer's groups): the line before (runs/campaign-trunk-sky) needs FREEZE= .
#   COOL_MIN=20 bash training/recipes/base-v7.sh cooldown
#       the cooldown A/B before a ship, from the campaign checkpoint with its optimizer: the campaign
#       itself goes on at lr 1e-4 (runs/campaign, 1 thread) against a branch at lr 1e-5
#       (runs/cool, 1 thread), side by side, COOL_MIN CPU-minutes more each (default 20); then
#       `campaign.py eval` of each. The branch is what ships if it wins; the campaign goes on from
#       its own trunk either way (a cooled model is a poor start for more training at full lr).
#   AB_MIN=60 GS_HIDDEN=48,48,24 bash training/recipes/base-v7.sh narrow
#       the g_s narrowing A/B (issue 27: g_s ≤ 12 kMAC/px): from the campaign checkpoint with its
#       optimizer, the campaign itself goes on (runs/campaign, 1 thread) against a branch whose g_s
#       residual blocks have the hidden widths GS_HIDDEN at /8, /4, /2 (training/tools/prune_gs.py:
#       the channels that carry most of each block's output stay, conv2 refitted by least squares;
#       runs/ab-narrow, 1 thread), AB_MIN CPU-minutes more each (default 60); then `campaign.py eval`
#       of each.
#   FREEZE2=h_a.,g_a. AB_MIN=60 bash training/recipes/base-v7.sh refreeze
#       the A/B of another --freeze: from the campaign checkpoint with its optimizer, the campaign itself
#       goes on with FREEZE (runs/campaign, 1 thread) against a branch with FREEZE2 (runs/ab-refreeze,
#       1 thread; Adam's moments follow their parameters, train.py --freeze-was), AB_MIN CPU-minutes
#       more each (default 60); then `campaign.py eval` of each. With g_a kept, a step skips the
#       encoder's backward pass: more steps in the same CPU time for everything else.
set -euo pipefail
cd "$(dirname "$0")/../.."
# the campaign's line keeps the hyper-analysis as shipped since 2026-12-02 and the encoder g_a as it was at step 9218
# since 2026-12-04 (the refreeze A/B: docs/MODEL.md); FREEZE= empty: none
FREEZE=${FREEZE-h_a.,g_a.}
DATA=${HICODEC_TRAIN_DATA:-../shared/data/train-src/cid22}
# the campaign's weights as committed at the end of a session (tools/campaign_state.py): what a
# machine without runs/campaign resumes from
STATE=training/campaign-state.npz.xz
DEF=models/$(cat models/DEFAULT)  # the shipped package: what a state is saved against and restored on
TRAIN=${HICODEC_TRAIN_PY:-training/train.py}  # the campaign's trainer (the recipe's tests give a stand-in)
COMMON=(--pack "$DATA" --crop 256 --scale-min 0.75 --scale-max 1.5 --balance-lambdas --ema 0.999 --val-minutes 10
        --log-every 25 --ckpt-minutes 5 --batch 8 --lr-drop 1.0 --lr "${LR:-1e-4}" --threads 1 --cpu-limit "${AB_MIN:-45}")
# A branch of the campaign for an A/B beside its trunk: DIR/start.pt is the campaign's checkpoint,
# LIMIT its CPU-minutes plus MIN (train.py --cpu-limit for both arms); SAME the flags both arms share
# (the campaign's, on 1 thread each; lr and --freeze are each mode's).
branch() {
  [ -f runs/campaign/last.pt ] || { echo "no campaign checkpoint" >&2; exit 2; }
  [ -e "$1" ] && { echo "$1 exists: move it first" >&2; exit 2; }
  mkdir -p "$1" && cp runs/campaign/last.pt "$1/start.pt"
  LIMIT=$(/usr/bin/python3 -c "import torch; print(round(torch.load('$1/start.pt', map_location='cpu')['cpu_elapsed'] / 60 + $2, 1))")
  SAME=(--config training/recipes/base-v7-512.json --pack "$DATA" --crop 256 --scale-min 0.75 --scale-max 1.5 --balance-lambdas
        --ema 0.999 --val-minutes 10 --log-every 25 --ckpt-minutes 5 --batch 8 --lr-drop 1.0 --threads 1 --cpu-limit "$LIMIT"
        ${CL---channels-last})
}
case "${1:-campaign}" in
  ab)
    START=${START:?START=<a portable v6 checkpoint>}
    mkdir -p runs/ab7
    /usr/bin/python3 training/train.py --out runs/ab7/v6 --resume auto --init "$START" "${COMMON[@]}" > runs/ab7/v6.out 2>&1 &
    /usr/bin/python3 training/train.py --out runs/ab7/v7 --resume auto --init "$START" --config training/recipes/base-v7-512.json \
      "${COMMON[@]}" > runs/ab7/v7.out 2>&1 &
    wait
    ;;
  campaign)
    CFG=training/recipes/base-v7-512.json
    if [ -f runs/campaign/last.pt ]; then
      # a machine that kept an older runs/ must not resume it over a newer committed state
      if [ -f "$STATE" ] && /usr/bin/python3 training/tools/campaign_state.py ahead "$STATE" runs/campaign/last.pt; then
        echo "$STATE has trained further than runs/campaign/last.pt: move runs/campaign aside and rerun" >&2; exit 2
      fi
      START=(--resume auto)
    elif [ -f "$STATE" ]; then
      # a machine without runs/: the committed state (weights and totals; fresh optimizer)
      rc=0
      /usr/bin/python3 training/tools/campaign_state.py restore "$STATE" --base "$DEF" --out runs/campaign/restored.pt >&2 || rc=$?
      case $rc in
        0) START=(--init runs/campaign/restored.pt); echo "# the campaign's committed state $STATE, restored against $DEF" >&2 ;;
        3) START=(--init "$DEF"); echo "# $STATE predates $DEF: starting from the shipped package (weights; fresh optimizer)" >&2 ;;
        *) echo "restoring $STATE failed (exit $rc)" >&2; exit 2 ;;
      esac
    else
      START=(--init "$DEF"); echo "# no campaign checkpoint or state: starting from the shipped $DEF (weights; fresh optimizer)" >&2
    fi
    /usr/bin/python3 "$TRAIN" --out runs/campaign "${START[@]}" --config "$CFG" --pack "$DATA" --crop 256 --scale-min 0.75 \
      --scale-max 1.5 --balance-lambdas --ema 0.999 --val-minutes 10 --log-every 25 --ckpt-minutes 5 --batch 8 --lr-drop 1.0 \
      --lr "${LR:-1e-4}" --threads 2 --wall-limit "${WALL:-60}" ${TAIL:+--scale-tail "$TAIL"} ${AMP:+--amp "$AMP"} ${FREEZE:+--freeze "$FREEZE"} \
      ${CL---channels-last}
    ;;
  amp)
    branch runs/ab-amp "${AB_MIN:-30}"
    SAME+=(--lr "${LR:-1e-4}" ${TAIL:+--scale-tail "$TAIL"} ${FREEZE:+--freeze "$FREEZE"})
    /usr/bin/python3 training/train.py --out runs/campaign --resume auto "${SAME[@]}" > runs/ab-amp/trunk.out 2>&1 &
    /usr/bin/python3 training/train.py --out runs/ab-amp --resume runs/ab-amp/start.pt "${SAME[@]}" --amp bf16 > runs/ab-amp/bf16.out 2>&1 &
    wait
    ;;
  cooldown)
    branch runs/cool "${COOL_MIN:-20}"
    SAME+=(${FREEZE:+--freeze "$FREEZE"})
    /usr/bin/python3 training/train.py --out runs/campaign --resume auto "${SAME[@]}" --lr 1e-4 > runs/cool/trunk.out 2>&1 &
    /usr/bin/python3 training/train.py --out runs/cool --resume runs/cool/start.pt "${SAME[@]}" --lr 1e-5 > runs/cool/cool.out 2>&1 &
    wait
    ;;
  narrow)
    branch runs/ab-narrow "${AB_MIN:-60}"
    /usr/bin/python3 training/tools/prune_gs.py runs/ab-narrow/start.pt --hidden "${GS_HIDDEN:-48,48,24}" --out runs/ab-narrow/narrowed.pt \
      --freeze "$FREEZE" > runs/ab-narrow/prune.json  # the optimizer's groups: FREEZE as the campaign ran (may be empty)
    SAME+=(--lr "${LR:-1e-4}" ${FREEZE:+--freeze "$FREEZE"})
    /usr/bin/python3 training/train.py --out runs/campaign --resume auto "${SAME[@]}" > runs/ab-narrow/trunk.out 2>&1 &
    /usr/bin/python3 training/train.py --out runs/ab-narrow --resume runs/ab-narrow/narrowed.pt "${SAME[@]}" > runs/ab-narrow/narrow.out 2>&1 &
    wait
    ;;
  refreeze)
    FREEZE2=${FREEZE2:?FREEZE2=<the --freeze of the branch, e.g. h_a.,g_a.>}
    branch runs/ab-refreeze "${AB_MIN:-60}"
    SAME+=(--lr "${LR:-1e-4}")
    /usr/bin/python3 training/train.py --out runs/campaign --resume auto "${SAME[@]}" ${FREEZE:+--freeze "$FREEZE"} \
      > runs/ab-refreeze/trunk.out 2>&1 &
    # the branch's checkpoint may predate train.py recording its --freeze: say what it was made with
    /usr/bin/python3 training/train.py --out runs/ab-refreeze --resume runs/ab-refreeze/start.pt "${SAME[@]}" --freeze "$FREEZE2" \
      --freeze-was "$FREEZE" > runs/ab-refreeze/branch.out 2>&1 &
    wait
    ;;
  end)
    # the end of a session: the campaign stops (validation and a checkpoint), its state is saved
    # for the next machine, and the restored weights (what the next session starts from) evaluated
    RUN='train.py --out runs/campaign'
    pkill -CONT -f "$RUN" || true   # a paused run must be running to act on SIGTERM
    pkill -TERM -f "$RUN" || true
    while pgrep -f "$RUN" >/dev/null; do sleep 5; done
    EVAL=runs/campaign/evals/$(date +%F-%H%M).json
    /usr/bin/python3 training/tools/campaign_state.py save runs/campaign/last.pt --base "$DEF" --out "$STATE" ${OFFSET:+--offset "$OFFSET"}
    /usr/bin/python3 training/tools/campaign_state.py restore "$STATE" --base "$DEF" --out runs/campaign/restored.pt
    /usr/bin/python3 training/campaign.py eval runs/campaign/restored.pt --out "$EVAL" --threads 2
    echo "then: campaign.py log $EVAL --ref bench/results/campaign/ref-$(cat models/DEFAULT).json --label … --note …" >&2
    ;;
  *) echo "usage: START=… base-v7.sh ab | base-v7.sh campaign | base-v7.sh end | base-v7.sh amp | base-v7.sh cooldown | base-v7.sh narrow | FREEZE2=… base-v7.sh refreeze" >&2; exit 2 ;;
esac
