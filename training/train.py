#!/usr/bin/env python3
"""Train a hicodec model (rate–distortion loss, one model for all qualities).

  /usr/bin/python3 training/train.py --out runs/base --time-limit 100      # CPU, 100 minutes
  /usr/bin/python3 training/train.py --out runs/base --resume auto          # continue
  python3 training/train.py --out runs/g --resume auto --pack .data/pack/cid22-train.hpk \\
      --val .data/pack/cid22-val.hpk --amp bf16 --channels-last --compile --ema 0.999 \\
      --batch 32 --crop 256 --wall-limit 8                                  # the GPU path (README)
  torchrun --nproc_per_node 8 training/train.py --ddp --out runs/big ...    # several GPUs
  /usr/bin/python3 training/train.py --procs 2 --threads 1 --batch 4 ...     # data-parallel on one machine (gloo)

Each step draws one λ point (and its gain vector) for the whole batch and minimizes
λ·255²·MSE + bpp; the factorized prior's quantiles are fitted by a separate aux optimizer.
Checkpoints (weights, optimizers, EMA, step, wall time, every RNG state) are written atomically to
OUT/last.pt; a run resumes bit-for-bit from them on the same hardware. `--release FILE` also
writes the portable result (EMA weights when kept, no optimizer) that leaves the GPU machine.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hicodec_train.alloc import blas_threads, runtime_env, tune_allocator  # noqa: E402

# before numpy and torch load OpenBLAS and ATen picks its kernels (hicodec_train/alloc.py); only as
# a program (ranks started by --procs too): `import train` in a test leaves its process alone
RUNTIME = runtime_env() if __name__ == "__main__" else {}
import numpy as np  # noqa: E402
import torch  # noqa: E402
from hicodec_train.data import CropSampler, DeviceCropSampler, center_crops, default_data_root, list_images  # noqa: E402
from hicodec_train.model import HiCodec, ModelConfig, adapt_checkpoint, adapt_lambdas, campaign_totals, channel_order_by_rate, init_new_slice_index, line_minutes, load_adapted, load_checkpoint, portable_checkpoint, rd_loss  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, nargs="*", default=None,
                   help="image folders or files (default: $HICODEC_TRAIN_DATA or ../shared/data/train-src/cid22)")
    p.add_argument("--pack", type=Path, default=None,
                   help="a training pack (hicodec_train/pack.py) instead of --data; crops are then made on the device")
    p.add_argument("--out", type=Path, required=True, help="run folder for checkpoints and logs")
    p.add_argument("--resume", default=None, help="checkpoint to resume from, or 'auto' for OUT/last.pt")
    p.add_argument("--init", type=Path, default=None, help="start from the weights of this checkpoint or model package folder (new optimizer)")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: no step limit)")
    p.add_argument("--time-limit", type=float, default=0.0, help="stop after this many minutes of training in all (0: none)")
    p.add_argument("--cpu-limit", type=float, default=0.0,
                   help="stop after this many CPU-minutes of training in all, counted as process CPU time / threads "
                        "(so a 2-thread run's CPU-minute is a wall minute when it has both cores to itself; "
                        "what other work takes from it is not counted): the measure of equal-compute A/B runs")
    p.add_argument("--wall-limit", type=float, default=0.0,
                   help="stop after this many wall-clock minutes of this process, start-up included (0: none)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--gray-prob", type=float, default=0.0, help="share of crops turned gray (R = G = B)")
    p.add_argument("--scale-min", type=float, default=0.75, help="device crops: smallest rescaling factor")
    p.add_argument("--scale-max", type=float, default=1.0,
                   help="device crops: largest rescaling factor (> 1 enlarges, for full-resolution statistics)")
    p.add_argument("--scale-tail", default="0:0", metavar="P:TOP",
                   help="device crops: a share P drawn from [scale-max, TOP] instead (strong enlargement: smooth regions "
                        "at camera resolution); 0:0 none")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--aux-lr", type=float, default=1e-3)
    p.add_argument("--gain-lr-mult", type=float, default=1.0, help="learning-rate multiplier of the log-gain vectors")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--lr-drop", type=float, default=0.85, help="fraction of the budget after which lr ×0.1")
    p.add_argument("--ste-after", type=float, default=0.0,
                   help="fraction of the budget before which the decoder sees noisy latents instead of rounded ones")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip")
    p.add_argument("--train-only", default=None,
                   help="comma-separated parameter-name prefixes to train (e.g. ctx.,h_s_scale.); everything else stays frozen")
    p.add_argument("--freeze", default=None,
                   help="comma-separated parameter-name prefixes to keep as they are (e.g. h_a.: the hyper-analysis, whose "
                        "drift broke smooth skies at the lowest λ, training/tools/sky_probe.py); a run resumed from one "
                        "made with another --freeze has its Adam moments mapped by parameter name (see --freeze-was)")
    p.add_argument("--freeze-was", default=None,
                   help="the --freeze the resumed checkpoint was made with, for a checkpoint that does not record it "
                        "(made before 2026-12-04); '' for none. Default: the checkpoint's record, else --freeze")
    p.add_argument("--balance-lambdas", action="store_true",
                   help="divide each step's loss by a running mean of its λ point's loss, so that high-λ points (losses tens of "
                        "times larger) do not drown the others in the shared weights; each point's own optimum is unchanged")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--ckpt-every", type=int, default=200, help="steps between checkpoints")
    p.add_argument("--ckpt-minutes", type=float, default=10.0, help="also checkpoint at least this often")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--ddp", action="store_true", help="DistributedDataParallel under torchrun")
    p.add_argument("--procs", type=int, default=1,
                   help="data-parallel processes on this machine (gloo; each draws --batch crops a step, so the batch "
                        "is procs × batch): this process is rank 0 and starts the others, which die with it. On 2 "
                        "cores, --procs 2 --threads 1 --batch 4 is the math of --threads 2 --batch 8, but measured ×0.95 as fast "
                        "(bench/train_procs.py, 2026-12-03): the campaign stays one process")
    p.add_argument("--config", type=Path, default=None, help="JSON with ModelConfig overrides")
    # the GPU path
    p.add_argument("--amp", choices=("none", "bf16"), default="none", help="autocast the transforms (entropy model stays fp32)")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format for the convolutions")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (PyTorch 2.x; ignored with a note on 1.x)")
    p.add_argument("--ema", type=float, default=0.0, help="keep an exponential moving average of the weights (e.g. 0.999)")
    p.add_argument("--val", type=Path, default=None, help="validation images: a folder or a pack (default: ../shared/data/cid22-val)")
    p.add_argument("--val-minutes", type=float, default=0.0, help="validate every this many minutes and at the end (0: never)")
    p.add_argument("--val-crop", type=int, default=256)
    p.add_argument("--release", type=Path, default=None, help="at the end, also write the portable checkpoint here")
    return p.parse_args(argv)


def rng_state(sampler) -> dict:
    s = dict(torch=torch.get_rng_state(), sampler=sampler.state(), python=random.getstate(), numpy=np.random.get_state())
    if torch.cuda.is_available():
        s["cuda"] = torch.cuda.get_rng_state_all()
    return s


def set_rng_state(s: dict, sampler) -> None:
    torch.set_rng_state(s["torch"])
    sampler.set_state(s["sampler"])
    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def runtime_summary() -> str:
    """ATen's kernel level and OpenBLAS's threads as this process runs them (alloc.runtime_env)."""
    cap = next((ln.split(":", 1)[1].strip() for ln in torch.__config__.show().splitlines() if "CPU capability" in ln), "?")
    return f"ATen {cap}, OpenBLAS threads {blas_threads() or '?'}" + (f" (set here: {' '.join(f'{k}={v}' for k, v in RUNTIME.items())})" if RUNTIME else "")


def hardware(world: int = 1) -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} ×{torch.cuda.device_count()}"
    procs = f"{world} processes × " if world > 1 else ""
    return f"CPU {platform.processor() or platform.machine()} ({procs}{torch.get_num_threads()} threads)"


def start_ranks(procs: int, argv: list[str], out: Path) -> list:
    """--procs N on one machine: ranks 1…N−1 are started here with the same arguments (their output
    in OUT/rankR.log), and this process becomes rank 0. The others ignore SIGINT/SIGTERM (rank 0
    decides when all stop, so `pkill -TERM -f` on the command line stops the run once, cleanly) and
    are killed by the kernel if rank 0 dies (prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    common = dict(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(procs))
    libc = ctypes.CDLL(None, use_errno=True)
    out.mkdir(parents=True, exist_ok=True)
    kids = []
    for r in range(1, procs):
        with (out / f"rank{r}.log").open("a") as f:
            kids.append(subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *argv], stdout=f, stderr=subprocess.STDOUT,
                                         env=dict(os.environ, **common, RANK=str(r), LOCAL_RANK=str(r)),
                                         preexec_fn=lambda: libc.prctl(1, int(signal.SIGKILL))))  # PR_SET_PDEATHSIG
    os.environ.update(common, RANK="0", LOCAL_RANK="0")
    return kids


def gpu_utilization() -> float | None:
    """GPU busy percentage over the last sample period (NVML), or None."""
    if not torch.cuda.is_available():
        return None
    try:
        return float(torch.cuda.utilization())
    except Exception:
        return None


def name_prefixes(arg: str) -> tuple[str, ...]:
    """Parameter-name prefixes of a comma-separated option (--train-only, --freeze)."""
    return tuple(x.strip() for x in arg.split(",") if x.strip())


def main_param_names(model: torch.nn.Module, frozen: tuple[str, ...]) -> list[str]:
    """The names of the optimizer's first group in its order: every parameter but the quantiles (the
    aux optimizer's), log_gain (a group of its own) and the frozen ones."""
    return [n for n, _ in model.named_parameters() if not n.endswith("quantiles") and n != "log_gain" and not n.startswith(frozen)]


def refrozen_optimizer(saved: dict, names_then: list[str], names_now: list[str]) -> dict:
    """An Adam state_dict saved with one --freeze, for a run with another: the first group's moments
    follow their parameter's name (one trained now and frozen then starts without any, as a fresh Adam
    would); the groups after it (log_gain) keep theirs. State is keyed by position over all groups."""
    groups = saved["param_groups"]
    if len(groups[0]["params"]) != len(names_then):
        raise SystemExit(f"the checkpoint's optimizer has {len(groups[0]['params'])} main parameters, its --freeze "
                         f"{len(names_then)}: give the --freeze it was made with (--freeze-was)")
    then = dict(zip(names_then, groups[0]["params"]))
    state, new_groups, at = {}, [], 0
    for g, group in enumerate(groups):
        ids = [then.get(n) for n in names_now] if g == 0 else group["params"]
        new_groups.append(dict(group, params=list(range(at, at + len(ids)))))
        for i, old in enumerate(ids):
            if old is not None and old in saved["state"]:
                state[at + i] = saved["state"][old]
        at += len(ids)
    return dict(saved, state=state, param_groups=new_groups)


def split_params(model: torch.nn.Module):
    main, aux = [], []
    for n, p in model.named_parameters():
        (aux if n.endswith("quantiles") else main).append(p)
    return main, aux


def load_images(path: Path) -> list[np.ndarray]:
    """uint8 HWC images of a pack file or an image folder."""
    if path.is_file():
        from hicodec_train.pack import load_pack

        return load_pack(path)
    from PIL import Image

    return [np.asarray(Image.open(f).convert("RGB"), dtype=np.uint8) for f in list_images([path])]


class Ema:
    """Exponential moving average of the float weights (buffers copied), kept in fp32."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.state = {k: v.detach().clone().float() if v.is_floating_point() else v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))  # warm start: short average early on
        for k, v in model.state_dict().items():
            e = self.state[k]
            if e.is_floating_point():
                e.mul_(d).add_(v.detach().float(), alpha=1 - d)
            else:
                e.copy_(v)


@torch.no_grad()
def validate(model: HiCodec, weights: dict | None, crops: torch.Tensor, device) -> list[dict]:
    """bpp (likelihoods of the rounded symbols) and PSNR at the lowest, middle and highest λ on
    fixed validation crops, with `weights` (EMA) when given. Never Kodak."""
    was_training = model.training
    backup = None
    if weights is not None:
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(weights)
    model.eval()
    n = len(model.cfg.lambdas)
    res = []
    try:
        for li in sorted({0, n // 2, n - 1}):
            bpp, mse = 0.0, 0.0
            g = torch.exp(model.log_gain[li])[None]
            for i in range(0, crops.shape[0], 8):
                x = crops[i : i + 8].to(device)
                o = model(x, g.expand(x.shape[0], -1), noise=False)
                r = rd_loss(o, x, torch.full((x.shape[0],), float(model.cfg.lambdas[li]), device=device))
                bpp += float(r["bpp"]) * x.shape[0]
                mse += float(r["mse"]) * x.shape[0]
            bpp, mse = bpp / crops.shape[0], mse / crops.shape[0]
            res.append(dict(lam=float(model.cfg.lambdas[li]), bpp=round(bpp, 4), psnr=round(10 * math.log10(1 / max(mse, 1e-10)), 3)))
    finally:
        if backup is not None:
            model.load_state_dict(backup)
        model.train(was_training)
    return res


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    t_start = time.time()
    allocator = tune_allocator()
    rank, world = 0, 1
    ctl_group = None  # the group of the per-step control (a gloo one beside nccl)
    kids = []
    if args.procs > 1:
        if "RANK" not in os.environ:
            kids = start_ranks(args.procs, argv, args.out)
        args.ddp = True
    if args.ddp:
        import torch.distributed as dist

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        # the per-step control (stop, λ, progress) on the CPU: on nccl a GPU tensor read back would
        # wait for the previous step's kernels every step
        ctl_group = dist.new_group(backend="gloo") if backend == "nccl" else None
        rank, world = dist.get_rank(), dist.get_world_size()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed + rank)
    random.seed(args.seed + rank)
    np.random.seed(args.seed + rank)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "last.pt"
    resume = ckpt_path if args.resume == "auto" and ckpt_path.exists() else (Path(args.resume) if args.resume not in (None, "auto") else None)
    ckpt = load_checkpoint(resume) if resume else None
    log = (out / "train.log").open("a") if rank == 0 else None

    def say(msg: str) -> None:
        if rank == 0:
            print(msg, flush=True)
            log.write(msg + "\n")
            log.flush()

    overrides = json.loads(args.config.read_text()) if args.config else {}
    init_state, init_record = None, {}
    if args.init is not None and ckpt is None:
        if args.init.is_dir():  # a shipped model package
            from hicodec_train.package import load_package_model

            m, _ = load_package_model(args.init)
            init_state, init_cfg = m.state_dict(), m.cfg
        else:
            c = load_checkpoint(args.init)
            init_state, init_cfg = c["model"], ModelConfig(**c["config"])
            init_record = dict(c.get("record", {}))
            off = init_record.get("campaign_offset")
            if off and (c.get("cpu_elapsed") or c.get("crops_seen")):
                # a new line from a checkpoint that trained on: its minutes and crops join the totals
                init_record["campaign_offset"] = campaign_totals(off, line_minutes(c))
    if ckpt is not None:
        cfg = ModelConfig(**ckpt["config"])
        if overrides.get("lean_slices", cfg.lean_slices) != cfg.lean_slices:
            # the one change a resume takes (other --config keys are the checkpoint's own): the
            # parameters keep their identity, so the optimizer state is carried over
            ckpt = adapt_checkpoint(ckpt, ModelConfig(**{**cfg.to_dict(), "lean_slices": overrides["lean_slices"]}))
            cfg = ModelConfig(**ckpt["config"])
            say(f"# resumed with lean_slices {cfg.lean_slices} (weights, EMA and Adam moments adapted)")
        if "lambdas" in overrides and tuple(sorted(float(v) for v in overrides["lambdas"])) != tuple(cfg.lambdas):
            # new λ points (log_gain rows): the other change a resume takes
            ckpt = adapt_lambdas(ckpt, overrides["lambdas"])
            cfg = ModelConfig(**ckpt["config"])
            say(f"# resumed with the λ points {list(cfg.lambdas)} (log_gain, EMA, its Adam moments and the λ balance adapted)")
    elif init_state is not None:
        # --config on top of the initial model's configuration (e.g. a wider λ set, new parts)
        base = init_cfg.to_dict()
        if "lambdas" in overrides and "qualities" not in overrides:
            base.pop("qualities")
        cfg = ModelConfig(**{**base, **overrides})
    else:
        cfg = ModelConfig(**overrides)
    model = HiCodec(cfg)

    if args.pack is not None:
        images = load_images(args.pack)
        sources = [str(args.pack)]
        sampler = DeviceCropSampler(images, args.crop, device, seed=args.seed * 1000 + rank, scale_min=args.scale_min,
                                    gray_prob=args.gray_prob, scale_max=args.scale_max,
                                    scale_tail=tuple(float(v) for v in args.scale_tail.split(":")))
        order_crops = lambda: DeviceCropSampler(images, args.crop, "cpu", seed=12345, scale_min=1.0).batch(16)  # noqa: E731
    else:
        roots = args.data or [default_data_root() / "cid22"]
        files = list_images(roots)
        sources = [str(r) for r in roots]
        sampler = CropSampler(files, args.crop, seed=args.seed * 1000 + rank, gray_prob=args.gray_prob)
        order_crops = lambda: CropSampler(files, args.crop, seed=12345).batch(16)  # noqa: E731
    if init_state is not None:
        order = None
        if cfg.slices and not init_cfg.slices:
            # the channels that carry the most bits go first (measured on training crops)
            old = HiCodec(init_cfg)
            old.load_state_dict(init_state)
            order = channel_order_by_rate(old, order_crops())
            say(f"# channels of y reordered by rate for the slices {cfg.slices}: first {order[:8]}")
        fresh = load_adapted(model, init_state, init_cfg, order)
        if cfg.M > init_cfg.M:
            k = init_new_slice_index(model, order_crops(), init_cfg.M)
            say(f"# latent extended {init_cfg.M} → {cfg.M} channels (next DCT functions, slices {cfg.slices}); "
                f"new slice's initial tables {min(k)}…{max(k)}")
        if fresh:
            say(f"# new tensors (not in --init): {len(fresh)}: {', '.join(fresh[:8])}{' …' if len(fresh) > 8 else ''}")
    model = model.to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)

    if args.train_only:
        prefixes = name_prefixes(args.train_only)
        for n, prm in model.named_parameters():
            prm.requires_grad_(n.startswith(prefixes) or n.endswith("quantiles"))
    frozen = name_prefixes(args.freeze or "")
    if args.freeze:
        n_frozen = 0
        for n, prm in model.named_parameters():
            if n.startswith(frozen):
                prm.requires_grad_(False)
                n_frozen += prm.numel()
        if not n_frozen:
            raise SystemExit(f"--freeze {args.freeze}: no parameter has that prefix")
        say(f"# frozen: {n_frozen:,} parameters ({args.freeze})")
    main_p, aux_p = split_params(model)
    gain_p = [model.log_gain] if model.log_gain.requires_grad else []
    main_p = [p for p in main_p if p is not model.log_gain and p.requires_grad]
    opt = torch.optim.Adam([dict(params=main_p), *([dict(params=gain_p, lr_mult=args.gain_lr_mult)] if gain_p else [])], lr=args.lr)
    aux_opt = torch.optim.Adam(aux_p, lr=args.aux_lr)
    step, elapsed, history, crops_seen, val_history = 0, 0.0, [], 0, []
    cpu_elapsed = 0.0  # process CPU seconds / threads spent in training steps
    loss_scale = torch.zeros(len(cfg.lambdas), dtype=torch.float64)  # running mean loss per λ point (0: not seen)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        was = ckpt.get("record", {}).get("freeze")
        was = tuple(was) if was is not None else name_prefixes(args.freeze_was) if args.freeze_was is not None else frozen
        if set(was) != set(frozen):
            ckpt["optimizer"] = refrozen_optimizer(ckpt["optimizer"], main_param_names(model, was),
                                                  [n for n, prm in model.named_parameters() if any(prm is q for q in main_p)])
            say(f"# --freeze {','.join(was) or '(none)'} → {','.join(frozen) or '(none)'}: Adam's moments mapped by parameter name")
        opt.load_state_dict(ckpt["optimizer"])
        aux_opt.load_state_dict(ckpt["aux_optimizer"])
        for o in (opt, aux_opt):  # Adam's moments in their parameter's memory format (a resume may change it: --channels-last)
            for group in o.param_groups:
                for prm in group["params"]:
                    st = o.state.get(prm, {})
                    for k in ("exp_avg", "exp_avg_sq"):
                        if k in st and st[k].shape == prm.shape:
                            st[k] = torch.empty_like(prm, dtype=st[k].dtype).copy_(st[k])
        step, elapsed = ckpt["step"], ckpt["elapsed"]
        cpu_elapsed = ckpt.get("cpu_elapsed", elapsed)
        history = ckpt.get("history", [])
        val_history = ckpt.get("val_history", [])
        if ckpt.get("loss_scale") is not None:
            loss_scale = ckpt["loss_scale"].clone()
        crops_seen = ckpt.get("crops_seen", step * ckpt.get("record", {}).get("batch", args.batch))
        rng = ckpt["rng"][rank] if isinstance(ckpt["rng"], list) else ckpt["rng"]
        set_rng_state(rng, sampler)
        if rank > 0 and not isinstance(ckpt["rng"], list):
            # a checkpoint keeps rank 0's state: the other ranks' crops and quantisation noise must
            # not repeat its own
            fresh = (args.seed * 1000 + rank) * 1_000_003 + step
            sampler.gen.manual_seed(fresh)
            torch.manual_seed(fresh)
            random.seed(fresh)
            np.random.seed(fresh % 2**32)
    ema = Ema(model, args.ema) if args.ema else None  # from the weights as loaded (a checkpoint without an EMA: its weights)
    if ema is not None and ckpt is not None and ckpt.get("ema") is not None:
        ref = model.state_dict()  # in the model's memory format, as the updates are
        ema.state = {k: torch.empty_like(ref[k], dtype=v.dtype).copy_(v) if k in ref and ref[k].shape == v.shape else v.to(device)
                     for k, v in ckpt["ema"].items()}
    loss_scale = loss_scale.to(device)
    net = model
    if args.compile:
        if hasattr(torch, "compile"):
            net = torch.compile(model)
        else:
            say(f"# --compile ignored: torch {torch.__version__} has no torch.compile")
    if args.ddp:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    val_crops = None
    if args.val_minutes > 0:
        vsrc = args.val or default_data_root().parent / "cid22-val"
        val_crops = center_crops(load_images(vsrc), args.val_crop)
        if args.channels_last:
            val_crops = val_crops.contiguous(memory_format=torch.channels_last)

    lambdas = torch.tensor(cfg.lambdas)
    n_lam = len(cfg.lambdas)
    amp = args.amp == "bf16"
    origin = (f"resumed from {resume} (weights, optimizers, EMA, step, RNG)" if ckpt is not None
              else f"weights from {args.init} (new optimizer)" if args.init is not None else "from scratch")
    say(f"# start: {origin}")
    say(f"# hicodec train: {len(sampler)} images from {sources}, device {device} ({hardware(world)}), world {world}, "
        f"batch {args.batch}×{args.crop}², start step {step}, amp {args.amp}, channels-last {args.channels_last}, "
        f"compile {args.compile and hasattr(torch, 'compile')}, ema {args.ema or 'off'}, {allocator}, {runtime_summary()}")

    def progress() -> float:
        p = 0.0
        if args.steps:
            p = max(p, step / args.steps)
        if args.time_limit:
            p = max(p, elapsed / (args.time_limit * 60))
        if args.cpu_limit:
            p = max(p, cpu_elapsed / (args.cpu_limit * 60))
        return p

    # what a tool did to the weights between runs (tools/prune_gs.py) and the campaign's totals
    # before this line (tools/campaign_state.py restore) stay in the record
    carried = {k: v for k, v in ((ckpt or {}).get("record") or init_record).items()
               if k in ("gs_narrowed", "campaign_offset", "restored_from")}

    def record() -> dict:
        return dict(data=sources, images=len(sampler), batch=args.batch * world, crop=args.crop, lr=args.lr,
                    hardware=hardware(world), procs=world, device=device.type, torch=torch.__version__, lambdas=list(cfg.lambdas), amp=args.amp,
                    channels_last=args.channels_last, freeze=list(frozen),
                    ema=args.ema, crops_seen=crops_seen, **carried)

    def checkpoint() -> dict:
        return dict(
            model=model.state_dict(), config=cfg.to_dict(), optimizer=opt.state_dict(), aux_optimizer=aux_opt.state_dict(),
            step=step, elapsed=elapsed, cpu_elapsed=cpu_elapsed, rng=rng_state(sampler), history=history, val_history=val_history,
            crops_seen=crops_seen, ema=ema.state if ema else None, record=record(), loss_scale=loss_scale.cpu(),
        )

    def save() -> None:
        if rank == 0:
            save_atomic(checkpoint(), ckpt_path)

    def run_validation() -> None:
        if val_crops is None or rank != 0:
            return
        v = validate(model, ema.state if ema else None, val_crops, device)
        val_history.append(dict(step=step, elapsed=round(elapsed, 1), cpu_elapsed=round(cpu_elapsed, 1), crops_seen=crops_seen, points=v))
        say(f"# val step {step} ({'EMA' if ema else 'weights'}): " + "  ".join(f"λ {p['lam']}: {p['bpp']:.4f} bpp {p['psnr']:.2f} dB" for p in v))

    def autocast():
        if not amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    model.train()
    start_step = step
    acc = {}
    t_last_ckpt = t_last_val = time.time()
    t0 = time.time()
    stop_reason = "limit"
    stop_signal = []  # SIGINT/SIGTERM: finish the step, validate, checkpoint, exit 0 (campaign stops)
    import signal

    old_handlers = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        # the other ranks ignore a stop: rank 0 decides for all (below), and `pkill -f` reaches every rank
        old_handlers[sig] = signal.signal(sig, (lambda num, _frame: stop_signal.append(num)) if rank == 0 else signal.SIG_IGN)
    # SIGCONT: the run was paused (`kill -STOP`, e.g. around a speed measurement) and goes on. A step
    # it paused counts its CPU time per thread, not its wall time, so the log's minutes, s/step and
    # crops/s and --time-limit leave the pause out (--wall-limit is the wall clock and keeps it)
    # (on a GPU the CPU time says nothing of a step's length: there the wall time stays)
    resumed = []
    old_handlers[signal.SIGCONT] = signal.signal(signal.SIGCONT, lambda _num, _frame: resumed.append(1))
    signal.siginterrupt(signal.SIGCONT, False)  # a resumed system call goes on rather than failing with EINTR
    threads = torch.get_num_threads()
    on_cpu = device.type == "cpu"

    def restore_handlers() -> None:
        for sig, h in old_handlers.items():
            signal.signal(sig, h)

    window = (time.time(), crops_seen, time.process_time(), 0)
    while True:
        t_step, c_step, n_resumed = time.time(), time.process_time(), len(resumed)
        stop = ""
        if stop_signal:
            stop = f"signal {stop_signal[0]}"
        elif ((args.steps and step >= args.steps) or (args.time_limit and elapsed >= args.time_limit * 60)
                or (args.cpu_limit and cpu_elapsed >= args.cpu_limit * 60)):
            stop = "limit"
        elif args.wall_limit and time.time() - t_start >= args.wall_limit * 60:
            stop = "wall limit"
        li = int(torch.randint(n_lam, (1,))) if rank == 0 and not stop else 0  # (a stop draws none: the RNG state saved is the next step's)
        prog = progress()
        if world > 1:
            # rank 0's stop, λ and progress (lr drop, straight-through) for all ranks: one λ per step
            # for the whole batch as on one process, and the same lr, or the ranks' weights part
            ctl = torch.tensor([li, 1 if stop else 0, prog], dtype=torch.float64)
            dist.broadcast(ctl, 0, group=ctl_group)
            li, prog = int(ctl[0]), float(ctl[2])
            if rank > 0:  # its own limits and clocks do not count: all ranks stop at the same step
                stop = "rank 0" if int(ctl[1]) else ""
        if stop:
            stop_reason = stop
            break
        lr = args.lr * min(1.0, (step + 1) / max(1, args.warmup))
        if prog >= args.lr_drop:
            lr *= 0.1
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        x = sampler.batch(args.batch).to(device, non_blocking=True)
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        gain = torch.exp(model.log_gain[li]).unsqueeze(0).expand(x.shape[0], -1)
        try:
            with autocast():
                outp = net(x, gain, ste=prog >= args.ste_after)
        except Exception as e:  # a torch.compile failure must not cost a GPU lease: fall back once
            if net is model or step != start_step:
                raise
            say(f"# torch.compile failed ({type(e).__name__}: {str(e)[:200]}); continuing eager")
            net = model
            with autocast():
                outp = net(x, gain, ste=prog >= args.ste_after)
        r = rd_loss(outp, x, lambdas[li].to(device).expand(x.shape[0]))
        loss = r["loss"]
        if args.balance_lambdas:
            # on the device, without a sync: ls[li] ← first value or 0.99·ls[li] + 0.01·loss
            ls = loss_scale
            lv = loss.detach().to(ls.dtype)
            if world > 1:  # the whole batch's loss, as on one process (the ranks' scales stay equal)
                dist.all_reduce(lv)
                lv /= world
            ls[li] = torch.where(ls[li] > 0, 0.99 * ls[li] + 0.01 * lv, lv)
            # relative to the mean over the points seen so far: the overall step size stays comparable
            mean_seen = ls.sum() / (ls > 0).sum().clamp_min(1)
            loss = loss * (mean_seen / ls[li]).to(loss.dtype)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip:
            torch.nn.utils.clip_grad_norm_(main_p + gain_p, args.clip)
        opt.step()
        aux = model.aux_loss()
        aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        aux_opt.step()
        if ema is not None:
            ema.update(model, step)
        step += 1
        crops_seen += args.batch * world
        if device.type == "cuda" and step % args.log_every == 0:
            torch.cuda.synchronize()
        dt = time.time() - t_step
        cpu_dt = (time.process_time() - c_step) / threads
        if on_cpu and len(resumed) != n_resumed:
            dt = min(dt, cpu_dt)
        elapsed += dt
        cpu_elapsed += cpu_dt
        for k in ("loss", "bpp", "psnr", "bpp_z"):
            acc.setdefault(k, []).append(float(r[k]) if step % args.log_every == 0 or device.type != "cuda" else r[k].detach())
        acc.setdefault("aux", []).append(aux.detach())
        if device.type != "cuda" or step % args.log_every == 0:
            bad = torch.tensor([0.0 if math.isfinite(float(r["loss"])) else 1.0])
            if world > 1:  # any rank's: all stop together
                dist.all_reduce(bad, group=ctl_group)
            if bad.item():
                say(f"non-finite loss at step {step}; stopping without saving")
                restore_handlers()
                return 2
        if step % args.log_every == 0:
            m = {k: float(np.mean([float(v) for v in vs])) for k, vs in acc.items()}
            acc = {}
            now, cpu_now = time.time(), time.process_time()
            span = now - window[0] if len(resumed) == window[3] or not on_cpu else (cpu_now - window[2]) / threads  # paused: CPU time
            cps = (crops_seen - window[1]) / max(1e-9, span)
            window = (now, crops_seen, cpu_now, len(resumed))
            util = gpu_utilization()
            history.append(dict(step=step, elapsed=round(elapsed, 1), cpu_elapsed=round(cpu_elapsed, 1), crops_seen=crops_seen, crops_per_s=round(cps, 1),
                                **({"gpu_util": util} if util is not None else {}), **{k: round(v, 4) for k, v in m.items()}))
            say(f"step {step:6d}  loss {m['loss']:8.4f}  bpp {m['bpp']:.4f} (z {m['bpp_z']:.4f})  psnr {m['psnr']:6.2f}  "
                f"aux {m['aux']:8.2f}  lr {lr:.2e}  {dt:.2f}s/step  {cps:.1f} crops/s"
                f"{f'  gpu {util:.0f}%' if util is not None else ''}  {elapsed / 60:.1f} min ({cpu_elapsed / 60:.1f} CPU)")
        if val_crops is not None and time.time() - t_last_val > args.val_minutes * 60:
            run_validation()
            t_last_val = time.time()
        if step % args.ckpt_every == 0 or time.time() - t_last_ckpt > args.ckpt_minutes * 60:
            save()
            t_last_ckpt = time.time()
    # a second SIGTERM/SIGINT while the last validation and checkpoint run is ignored like the first
    # (the handlers were restored here before, and a repeated stop killed the run unsaved)
    run_validation()
    save()
    restore_handlers()
    for r, k in enumerate(kids, 1):  # they stopped at the same step and exit without validating or saving
        try:
            k.wait(timeout=300)
        except subprocess.TimeoutExpired:
            k.kill()
            k.wait()
        if k.returncode != 0:
            say(f"# rank {r} exited with status {k.returncode} (see {args.out / f'rank{r}.log'})")
    if args.release is not None and rank == 0:
        args.release.parent.mkdir(parents=True, exist_ok=True)
        save_atomic(portable_checkpoint(checkpoint()), args.release)
        say(f"# release checkpoint: {args.release}")
    say(f"# done ({stop_reason}): step {step}, {crops_seen} crops, {elapsed / 60:.1f} min of training "
        f"({(time.time() - t0) / 60:.1f} min this run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
