#!/usr/bin/env python3
"""Training throughput: image pixels per second of one full training step (forward, rate–distortion
loss, backward, gradient clip, Adam, the aux step of the factorized prior, EMA) of the v4, v5 and
v7 configurations, v7 also with the transforms under bf16 autocast (`train.py --amp bf16`: on a
CPU with AVX512-BF16 oneDNN runs their convolutions and matmuls in bf16), in the same run,
interleaved, and where the time of a step goes (forward + backward of g_a, g_s and everything
else, measured separately). Each case runs in its own process, as train.py does (all alive, one
computing at a time): cases sharing one heap measured slower than they train (2026-12-03: v7
1.22 s a step in the shared process against ~1.0 s in train.py's log).

  /usr/bin/python3 bench/train_speed.py [--threads 2] [--steps 6] [--rounds 3] [--out bench/results]

Writes bench/results/train-speed-DATE.json and .md (machine, torch version, thread count). Pause
any training run first (`kill -STOP`): these machines have 2 cores.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))
from hicodec_train.alloc import runtime_env, tune_allocator  # noqa: E402
from hicodec_train.macs import model_macs_per_pixel  # noqa: E402
from hicodec_train.model import HiCodec, ModelConfig, rd_loss  # noqa: E402

def recipe(name: str) -> dict:
    return {k: v for k, v in json.loads((REPO / "training" / "recipes" / name).read_text()).items() if not k.startswith("_")}


V4 = recipe("base-v4.json")  # hic-base-v4's training config (its package left the tree)
V5 = recipe("base-v5.json")
V7 = recipe("base-v7-512.json")
V7N = {**V7, "gs_res_hidden": [48, 48, 24]}  # v7 with g_s narrowed by tools/prune_gs.py (base-v7.sh narrow)
# (name, config, batch, crop, mode): v4 as it was trained (8 × 128²) and at 256², v5 and v7 at
# 256², v7 with bf16 autocast, v7 with g_s narrowed, and that in channels-last memory format
# (train.py --channels-last: oneDNN's convolutions take NHWC without reordering), also at batch 16
# (does the entropy model's per-op overhead at /16 amortise?). Only g_a and g_s
# in NHWC, the entropy model NCHW, measured slower than all of it in NHWC (2026-12-03: 2.045 s a
# step against 1.897, NCHW 2.145; the conversions at the boundaries cost more than they saved).
CASES = [
    ("v4 8×128²", V4, 8, 128, "fp32"),
    ("v4 4×256²", V4, 4, 256, "fp32"),
    ("v5 8×256²", V5, 8, 256, "fp32"),
    ("v7 8×256²", V7, 8, 256, "fp32"),
    ("v7 8×256² bf16", V7, 8, 256, "bf16"),
    ("v7 g_s 48/48/24 8×256²", V7N, 8, 256, "fp32"),
    ("v7 g_s 48/48/24 8×256² channels-last", V7N, 8, 256, "channels-last"),
    ("v7 g_s 48/48/24 16×256² channels-last", V7N, 16, 256, "channels-last"),
]
# Each case runs in its own process (as training does); the v4 cases run twice, once with glibc's
# default allocator (HICODEC_DEFAULT_MALLOC=1), as v4 was trained: that is the first baseline, the
# fastest v4 case the second.


class Step:
    """One training step as train.py runs it (CPU path)."""

    def __init__(self, cfg: dict, batch: int, crop: int, mode: str = "fp32"):
        torch.manual_seed(0)
        self.amp = mode == "bf16"
        self.cl = mode == "channels-last"
        self.model = HiCodec(ModelConfig(**cfg)).train()
        if self.cl:
            self.model = self.model.to(memory_format=torch.channels_last)
        main = [p for n, p in self.model.named_parameters() if not n.endswith("quantiles")]
        aux = [p for n, p in self.model.named_parameters() if n.endswith("quantiles")]
        self.main = main
        self.opt = torch.optim.Adam(main, lr=1e-5)
        self.aux_opt = torch.optim.Adam(aux, lr=1e-5)
        self.ema = {k: v.detach().clone() for k, v in self.model.state_dict().items() if v.is_floating_point()}
        self.x = torch.rand(batch, 3, crop, crop)
        if self.cl:
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.lam = torch.full((batch,), 0.013)
        self.gain = torch.exp(self.model.log_gain[len(self.model.cfg.lambdas) // 2]).detach()[None].expand(batch, -1)
        self.pixels = batch * crop * crop

    def autocast(self):
        """The transforms' dtype context, as train.py --amp sets it."""
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=self.amp)

    def __call__(self) -> None:
        with self.autocast():
            out = self.model(self.x, self.gain)
        loss = rd_loss(out, self.x, self.lam)["loss"]
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.main, 1.0)
        self.opt.step()
        aux = self.model.aux_loss()
        self.aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        self.aux_opt.step()
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                if k in self.ema:
                    self.ema[k].mul_(0.999).add_(v, alpha=0.001)

    def parts(self) -> dict:
        """Forward + backward seconds of g_a and g_s alone (inputs of the real shapes)."""
        m = self.model
        res = {}
        x = self.x
        y = torch.randn(x.shape[0], m.cfg.M, x.shape[2] // 16, x.shape[3] // 16)
        if self.cl:
            y = y.contiguous(memory_format=torch.channels_last)
        y.requires_grad_(True)
        for name, fn in (("g_a", lambda: m.g_a(x).float().square().mean()), ("g_s", lambda: m.g_s(y).float().square().mean())):
            def run():
                with self.autocast():
                    loss = fn()
                loss.backward()

            run()  # warm-up
            t = time.perf_counter()
            for _ in range(3):
                m.zero_grad(set_to_none=True)
                run()
            res[name] = (time.perf_counter() - t) / 3
        return res


def machine(threads: int) -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform()}


def worker(name: str, threads: int) -> int:
    """One case in its own process, as train.py runs one configuration per process: a heap shared
    with the other cases' differently sized activations would fragment, and on these VMs every page
    the kernel hands out again costs ~9 µs to fault in. Reads commands from stdin and answers
    each with one JSON line on stdout: `run N` → N step times, `parts` → g_a/g_s seconds and MACs."""
    torch.set_num_threads(threads)
    allocator = tune_allocator()
    _, cfg, b, c, mode = next(case for case in CASES if case[0] == name)
    s = Step(cfg, b, c, mode)
    s()
    s()  # warm-up: the heap reaches its working size
    print(json.dumps({"ready": name, "allocator": allocator}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "run":
            times = []
            for _ in range(int(cmd[1])):
                t = time.perf_counter()
                s()
                times.append(time.perf_counter() - t)
            print(json.dumps(times), flush=True)
        elif cmd[0] == "parts":
            macs = model_macs_per_pixel(s.model)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(json.dumps({**s.parts(), "pixels": s.pixels, "macs": {k: v for k, v in macs.items() if k != "measured_at"},
                              "allocator": allocator, "max_rss_mb": round(rss)}), flush=True)
        else:
            break
    return 0


class Workers:
    """Worker processes of this file (`--worker CASE`), one per label, all alive and asked one at a
    time: each answers a command with one JSON line (see `worker`). Closed on leaving the block."""

    def __init__(self, tool: str, threads: int):
        self.tool, self.threads, self.procs = tool, threads, {}

    def start(self, label: str, case: str, env: dict) -> None:
        """Starts the worker of `case` under `env` and waits until it has built and warmed up."""
        self.procs[label] = subprocess.Popen([sys.executable, __file__, "--worker", case, "--threads", str(self.threads)], env=env,
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ask(label)

    def ask(self, label: str, cmd: str | None = None):
        pr = self.procs[label]
        if cmd is not None:
            pr.stdin.write(cmd + "\n")
            pr.stdin.flush()
        line = pr.stdout.readline()
        if not line:
            raise SystemExit(f"{self.tool}: the worker of {label!r} ended (exit code {pr.wait()})")
        return json.loads(line)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        for pr in self.procs.values():
            if pr.poll() is None:
                pr.stdin.close()
                try:
                    pr.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pr.kill()
                    pr.wait()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=6, help="timed steps per case and round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median step time is reported)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--quick", action="store_true", help="1 round of 2 steps (a smoke run; written as -quick)")
    p.add_argument("--only", help="comma-separated parts of case names: only those cases (tuned allocator) beside the v4 baseline as trained")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.threads)
    if args.quick:
        args.steps, args.rounds = 2, 1
    # (label, case, default allocator): v4 8×128² with glibc's default allocator is the baseline
    # (v4 as it was trained); every case also runs with the tuned allocator
    runs = [(f"{n}", n, True) for n, cfg, *_ in CASES if cfg is V4] + [(f"{n}, tuned malloc", n, False) for n, *_ in CASES]
    if args.only:
        want = [w.strip() for w in args.only.split(",") if w.strip()]
        runs = runs[:1] + [r for r in runs[1:] if not r[2] and any(w in r[1] for w in want)]
        if not want or len(runs) == 1:
            raise SystemExit(f"train_speed: --only {args.only!r} names no case ({', '.join(n for n, *_ in CASES)})")
    times, parts = {}, {}
    with Workers("train_speed", args.threads) as w:
        for label, name, default in runs:  # one process per case, all alive, only one computing at a time
            env = {k: v for k, v in os.environ.items() if k != "HICODEC_DEFAULT_MALLOC"}
            if default:
                env["HICODEC_DEFAULT_MALLOC"] = "1"
            else:  # the runtime settings train.py starts with (since 2026-12-03; v4 as trained had neither)
                runtime_env(env)
            w.start(label, name, env)
            times[label] = []
        for _ in range(args.rounds):
            for label in times:
                times[label] += w.ask(label, f"run {args.steps}")
        for label in times:
            parts[label] = w.ask(label, "parts")
    rows = []
    for label, name, default in runs:
        _, cfg, b, c, mode = next(case for case in CASES if case[0] == name)
        med = statistics.median(times[label])
        rows.append({
            "case": label, "allocator": parts[label]["allocator"], "max_rss_mb": parts[label]["max_rss_mb"], "arch": cfg.get("arch", "v4"),
            "batch": b, "crop": c, "bf16": mode == "bf16", "channels_last": mode == "channels-last", "pixels_per_step": parts[label]["pixels"],
            "step_s_median": round(med, 4), "step_s_all": [round(t, 4) for t in times[label]],
            "pixels_per_s": round(parts[label]["pixels"] / med), "g_a_fwd_bwd_s": round(parts[label]["g_a"], 4),
            "g_s_fwd_bwd_s": round(parts[label]["g_s"], 4), "rest_s": round(med - parts[label]["g_a"] - parts[label]["g_s"], 4),
            "macs_per_pixel": parts[label]["macs"],
        })
    # Two baselines: v4 as it was trained (8 × 128², glibc's default allocator: the issue's
    # 132–140k pixels/s), and the fastest v4 case of the run, whichever allocator and crop (an upper
    # bound of what v4 could get; in train.py the validation's larger tensors raised glibc's mmap
    # threshold, so v4 trained somewhere between the two).
    as_trained = rows[0]
    base = max((r for r in rows if r["arch"] == "v4"), key=lambda r: r["pixels_per_s"])
    for r in rows:
        r["pixels_per_s_vs_v4_as_trained"] = round(r["pixels_per_s"] / as_trained["pixels_per_s"], 3)
        r["pixels_per_s_vs_best_v4"] = round(r["pixels_per_s"] / base["pixels_per_s"], 3)
    day = dt.date.today().isoformat()
    res = {"bench": "train-speed", "date": day, "machine": machine(args.threads), "threads": args.threads, "steps": args.steps,
           "rounds": args.rounds, "baseline": base["case"], "baseline_as_trained": as_trained["case"], "process_per_case": True, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    tag = ("-quick" if args.quick else "") + ("-only" if args.only else "")
    stem = args.out / f"train-speed-{day}{tag}"
    k = 2
    while stem.with_suffix(".json").exists():  # a same-day result stays (it may be cited)
        stem = args.out / f"train-speed-{day}{tag}-{k}"
        k += 1
    stem.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    md = [f"# Training throughput ({day}, {res['machine']['cpu']}, {args.threads} threads, torch {torch.__version__})", "",
          "One full training step (forward, loss, backward, clip, Adam, aux step, EMA), each case in its own process as in "
          f"training, median of {args.rounds}×{args.steps} steps interleaved across the processes; g_a and g_s "
          f"forward+backward timed alone; rest = step − g_a − g_s. Baselines: v4 as trained ({as_trained['case']}, default allocator) and the fastest v4 case ({base['case']}).", "",
          "| case | step (s) | pixels/s | × v4 as trained | × best v4 | g_a (s) | g_s (s) | rest (s) | g_a kMAC/px | g_s kMAC/px |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        mp = r["macs_per_pixel"]
        md.append(f"| {r['case']} | {r['step_s_median']:.3f} | {r['pixels_per_s']:,} | ×{r['pixels_per_s_vs_v4_as_trained']:.2f} | ×{r['pixels_per_s_vs_best_v4']:.2f} | "
                  f"{r['g_a_fwd_bwd_s']:.3f} | {r['g_s_fwd_bwd_s']:.3f} | {r['rest_s']:.3f} | {mp['g_a'] / 1000:.1f} | {mp['g_s'] / 1000:.1f} |")
    stem.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"wrote {stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
