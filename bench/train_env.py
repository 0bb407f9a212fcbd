#!/usr/bin/env python3
"""Does a runtime setting speed up the campaign's training step? One process per setting (the
environment variables below, read when torch and its libraries load), all alive, the campaign's
step (`train_speed.py`'s "v7 g_s 48/48/24 8×256² channels-last" case) run 2 steps at a time in
each, rounds alternating their order; median step time and its ratio to the default settings.

Settings (train.py starts with blas1+avx512 since 2026-12-03: hicodec_train/alloc.py,
runtime_env; this Debian torch links OpenBLAS with its own pthreads beside libgomp's OpenMP pool, and
its ATen kernels default to AVX2 on a CPU with AVX-512):
- blas1: OPENBLAS_NUM_THREADS=1 (the linear layers' GEMMs on the calling thread only, no third
  thread competing with OpenMP's two);
- passive: OMP_WAIT_POLICY=PASSIVE (OpenMP's threads sleep between parallel regions instead of
  spinning, leaving the core to OpenBLAS's thread);
- avx512: ATEN_CPU_CAPABILITY=avx512 (ATen's own vectorised kernels in AVX-512);
- blas1+avx512: both.

Step times on these VMs wander by ±15% from minute to minute, so besides the medians the report
gives each setting's ratio to the default round by round (the same minute) and how many rounds
it won.

  /usr/bin/python3 bench/train_env.py [--rounds 10] [--out bench/results]

Writes bench/results/train-env-DATE.json and .md. Pause any training run first (`kill -STOP`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import Workers, machine  # noqa: E402

CASE = "v7 g_s 48/48/24 8×256² channels-last"
SETTINGS = {
    "default": {},
    "blas1": {"OPENBLAS_NUM_THREADS": "1"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512"},
    "blas1+avx512": {"OPENBLAS_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx512"},
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--steps", type=int, default=2, help="steps per setting and round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated; default is always run")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args(argv)
    chosen = {name: SETTINGS[name] for name in SETTINGS if name == "default" or name in args.settings.split(",")}
    times = {name: [] for name in chosen}
    with Workers("train_env", args.threads) as w:
        for name, env in chosen.items():
            base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "ATEN_CPU_CAPABILITY")}
            base["HICODEC_DEFAULT_RUNTIME"] = "1"  # each setting exactly as named (not train.py's runtime_env)
            w.start(name, CASE, {**base, **env})
        for r in range(args.rounds):
            for name in (list(chosen) if r % 2 == 0 else list(reversed(chosen))):
                times[name] += w.ask(name, f"run {args.steps}")
    base = statistics.median(times["default"])
    rows = []
    for name, t in times.items():
        n = args.steps
        per_round = [sum(times["default"][i:i + n]) / sum(t[i:i + n]) for i in range(0, len(t), n)]
        rows.append(dict(setting=name, env=chosen[name], step_s_median=round(statistics.median(t), 4), step_s_all=[round(x, 4) for x in t],
                         speed_vs_default=round(base / statistics.median(t), 3),
                         speed_vs_default_by_round=[round(x, 3) for x in per_round],
                         speed_vs_default_round_median=round(statistics.median(per_round), 3),
                         rounds_faster=sum(x > 1 for x in per_round)))
    day = dt.date.today().isoformat()
    res = dict(bench="train-env", date=day, machine=machine(args.threads), case=CASE, rounds=args.rounds, steps=args.steps, rows=rows)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"train-env-{day}"
    k = 1
    while stem.with_suffix(".json").exists():  # a same-day result stays (it may be cited)
        k += 1
        stem = args.out / f"train-env-{day}-{k}"
    stem.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    md = [f"# Training step under runtime settings ({day}, {res['machine']['cpu']}, {args.threads} threads, torch {res['machine']['torch']})", "",
          f"The campaign's step ({CASE}), one process per setting, {args.rounds} rounds × {args.steps} steps interleaved; median.", "",
          "| setting | environment | step (s) | speed × default | by round: median | rounds faster |", "|---|---|---:|---:|---:|---:|"]
    md += [f"| {r['setting']} | {' '.join(f'{k}={v}' for k, v in r['env'].items()) or '–'} | {r['step_s_median']:.3f} | "
           f"×{r['speed_vs_default']:.3f} | ×{r['speed_vs_default_round_median']:.3f} | {r['rounds_faster']}/{args.rounds} |"
           for r in rows]
    stem.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"wrote {stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
