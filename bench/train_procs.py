#!/usr/bin/env python3
"""One process with 2 threads or 2 data-parallel processes with 1 thread each (train.py --procs 2),
the same global batch and the same math: which trains more crops per second on this machine?

Runs training/train.py itself, as the campaign runs it (its recipe: base-v7.sh campaign), from one
checkpoint, in rounds that alternate the two ways (the machine's noise hits both alike), and reads
the crops and step seconds of each run's log windows from its checkpoint's history (the first
window, warm-up, left out). Writes bench/results/train-procs-DATE.json and .md with the machine.

  /usr/bin/python3 bench/train_procs.py --start runs/campaign/last.pt [--steps 40] [--rounds 3]

Pause any training run first (`kill -STOP`): these machines have 2 cores.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))
sys.path.insert(0, str(REPO / "bench"))
from hicodec_train.model import load_checkpoint  # noqa: E402
from train_speed import machine  # noqa: E402

# the campaign's arguments (training/recipes/base-v7.sh campaign) but for the batch, threads and stop
RECIPE = ["--config", "training/recipes/base-v7-512.json", "--crop", "256", "--scale-min", "0.75", "--scale-max", "1.5",
          "--balance-lambdas", "--ema", "0.999", "--lr-drop", "1.0", "--lr", "1e-4", "--freeze", "h_a.", "--channels-last",
          "--ckpt-minutes", "600"]
WAYS = {  # name → arguments; both take 8 crops a step in all
    "1 process × 2 threads, batch 8": ["--threads", "2", "--batch", "8"],
    "2 processes × 1 thread, batch 4 each": ["--procs", "2", "--threads", "1", "--batch", "4"],
}


def one_run(start: Path, first: int, way: list[str], steps: int, log_every: int, data: str, tmp: Path) -> dict:
    """`steps` steps of train.py from `start` (a checkpoint at step `first`) the way `way`."""
    out = tmp / "run"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, str(REPO / "training" / "train.py"), "--out", str(out), "--resume", str(start), "--pack", data,
           "--steps", str(first + steps), "--log-every", str(log_every), *RECIPE, *way]
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    hist = [h for h in load_checkpoint(out / "last.pt")["history"] if h["step"] > first]
    windows = [(b["crops_seen"] - a["crops_seen"], b["elapsed"] - a["elapsed"]) for a, b in zip(hist, hist[1:])]
    crops, secs = sum(c for c, _ in windows), sum(s for _, s in windows)
    return {"crops": crops, "seconds": round(secs, 2), "crops_per_s": round(crops / secs, 3),
            "windows": [round(c / s, 3) for c, s in windows]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--start", type=Path, required=True, help="a checkpoint of the campaign (train.py --resume)")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "train-src" / "cid22"))
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = p.parse_args()
    first = int(load_checkpoint(args.start)["step"])  # (read once: a campaign checkpoint is ~140 MB)
    runs: dict[str, list[dict]] = {k: [] for k in WAYS}
    with tempfile.TemporaryDirectory(prefix="train-procs-") as t:
        for r in range(args.rounds):
            for name, way in WAYS.items():
                runs[name].append(one_run(args.start, first, way, args.steps, args.log_every, args.data, Path(t)))
                print(f"round {r + 1}: {name}: {runs[name][-1]['crops_per_s']} crops/s", flush=True)
    base = next(iter(WAYS))
    # rate over all rounds (crops / seconds) and the median of the rounds' rates
    summary = {}
    for name, rs in runs.items():
        rate = sum(x["crops"] for x in rs) / sum(x["seconds"] for x in rs)
        summary[name] = {"crops_per_s": round(rate, 3), "median_round": round(statistics.median(x["crops_per_s"] for x in rs), 3)}
    for name in summary:
        summary[name]["ratio"] = round(summary[name]["crops_per_s"] / summary[base]["crops_per_s"], 3)
    day = dt.date.today().isoformat()
    res = {"bench": "train-procs", "date": day, "machine": machine(2), "start": str(args.start),
           "start_step": first, "steps": args.steps, "log_every": args.log_every,
           "rounds": args.rounds, "recipe": RECIPE, "ways": WAYS, "runs": runs, "summary": summary}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"train-procs-{day}"
    stem.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    m = res["machine"]
    md = [f"# Training on 2 cores: one process or two ({day}, {m['cpu']}, {m['cores']} cores, torch {torch.__version__})", "",
          f"train.py from `{args.start}` (step {res['start_step']}) in the campaign's recipe, {args.steps} steps a run, "
          f"{args.rounds} rounds alternating the two ways; crops per second of training steps over the log windows "
          f"after the first ({args.log_every} steps each).", "",
          "| way | crops/s (all rounds) | median of rounds | × one process | rounds |", "|---|---:|---:|---:|---|"]
    for name, sm in summary.items():
        md.append(f"| {name} | {sm['crops_per_s']:.3f} | {sm['median_round']:.3f} | ×{sm['ratio']:.3f} | "
                  f"{', '.join(format(x['crops_per_s'], '.2f') for x in runs[name])} |")
    stem.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
