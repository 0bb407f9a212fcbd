#!/usr/bin/env python3
"""Train a hicodec model (rate–distortion loss, one model for all qualities).

  /usr/bin/python3 training/train.py --out runs/base --time-limit 100      # CPU, 100 minutes
  /usr/bin/python3 training/train.py --out runs/base --resume auto          # continue
  torchrun --nproc_per_node 8 training/train.py --ddp --out runs/big ...    # several GPUs

Each step draws one λ point (and its gain vector) for the whole batch and minimizes
λ·255²·MSE + bpp; the factorized prior's quantiles are fitted by a separate aux optimizer.
Checkpoints (weights, optimizers, step, wall time, every RNG state) are written atomically to
OUT/last.pt; a run resumes bit-for-bit from them on the same hardware.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hicodec_train.data import CropSampler, default_data_root, list_images  # noqa: E402
from hicodec_train.model import HiCodec, ModelConfig, channel_order_by_rate, load_adapted, rd_loss  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, nargs="*", default=None,
                   help="image folders or files (default: $HICODEC_TRAIN_DATA or ../shared/data/train-src/cid22)")
    p.add_argument("--out", type=Path, required=True, help="run folder for checkpoints and logs")
    p.add_argument("--resume", default=None, help="checkpoint to resume from, or 'auto' for OUT/last.pt")
    p.add_argument("--init", type=Path, default=None, help="start from the weights of this checkpoint or model package folder (new optimizer)")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: no step limit)")
    p.add_argument("--time-limit", type=float, default=0.0, help="stop after this many minutes of training (0: none)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--gray-prob", type=float, default=0.0, help="share of crops turned gray (R = G = B)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--aux-lr", type=float, default=1e-3)
    p.add_argument("--gain-lr-mult", type=float, default=1.0, help="learning-rate multiplier of the log-gain vectors")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--lr-drop", type=float, default=0.85, help="fraction of the budget after which lr ×0.1")
    p.add_argument("--ste-after", type=float, default=0.0,
                   help="fraction of the budget before which the decoder sees noisy latents instead of rounded ones")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--ckpt-every", type=int, default=200, help="steps between checkpoints")
    p.add_argument("--ckpt-minutes", type=float, default=10.0, help="also checkpoint at least this often")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--ddp", action="store_true", help="DistributedDataParallel under torchrun")
    p.add_argument("--config", type=Path, default=None, help="JSON with ModelConfig overrides")
    return p.parse_args(argv)


def rng_state(sampler: CropSampler) -> dict:
    s = dict(torch=torch.get_rng_state(), sampler=sampler.state(), python=random.getstate(), numpy=np.random.get_state())
    if torch.cuda.is_available():
        s["cuda"] = torch.cuda.get_rng_state_all()
    return s


def set_rng_state(s: dict, sampler: CropSampler) -> None:
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


def hardware() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} ×{torch.cuda.device_count()}"
    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def split_params(model: torch.nn.Module):
    main, aux = [], []
    for n, p in model.named_parameters():
        (aux if n.endswith("quantiles") else main).append(p)
    return main, aux


def main(argv=None) -> int:
    args = parse_args(argv)
    rank, world = 0, 1
    if args.ddp:
        import torch.distributed as dist

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        rank, world = dist.get_rank(), dist.get_world_size()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(args.seed + rank)
    random.seed(args.seed + rank)
    np.random.seed(args.seed + rank)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "last.pt"
    resume = ckpt_path if args.resume == "auto" and ckpt_path.exists() else (Path(args.resume) if args.resume not in (None, "auto") else None)
    ckpt = torch.load(resume, map_location="cpu") if resume else None

    overrides = json.loads(args.config.read_text()) if args.config else {}
    init_state = None
    if args.init is not None and ckpt is None:
        if args.init.is_dir():  # a shipped model package
            from hicodec_train.package import load_package_model

            m, _ = load_package_model(args.init)
            init_state, init_cfg = m.state_dict(), m.cfg
        else:
            c = torch.load(args.init, map_location="cpu")
            init_state, init_cfg = c["model"], ModelConfig(**c["config"])
    if ckpt is not None:
        cfg = ModelConfig(**ckpt["config"])
    elif init_state is not None:
        # --config on top of the initial model's configuration (e.g. a wider λ set, new parts)
        base = init_cfg.to_dict()
        if "lambdas" in overrides and "qualities" not in overrides:
            base.pop("qualities")
        cfg = ModelConfig(**{**base, **overrides})
    else:
        cfg = ModelConfig(**overrides)
    model = HiCodec(cfg).to(device)
    roots = args.data or [default_data_root() / "cid22"]
    files = list_images(roots)
    sampler = CropSampler(files, args.crop, seed=args.seed * 1000 + rank, gray_prob=args.gray_prob)
    if init_state is not None:
        order = None
        if cfg.slices and not init_cfg.slices:
            # the channels that carry the most bits go first (measured on training crops)
            old = HiCodec(init_cfg)
            old.load_state_dict(init_state)
            order = channel_order_by_rate(old, CropSampler(files, args.crop, seed=12345).batch(16))
            say_early = f"# channels of y reordered by rate for the slices {cfg.slices}: first {order[:8]}"
            if rank == 0:
                print(say_early)
        fresh = load_adapted(model, init_state, init_cfg, order)
        if rank == 0 and fresh:
            print(f"# new tensors (not in --init): {len(fresh)}: {', '.join(fresh[:8])}{' …' if len(fresh) > 8 else ''}")

    main_p, aux_p = split_params(model)
    gain_p = [model.log_gain]
    main_p = [p for p in main_p if p is not model.log_gain]
    opt = torch.optim.Adam([dict(params=main_p), dict(params=gain_p, lr_mult=args.gain_lr_mult)], lr=args.lr)
    aux_opt = torch.optim.Adam(aux_p, lr=args.aux_lr)
    step, elapsed, history = 0, 0.0, []
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        aux_opt.load_state_dict(ckpt["aux_optimizer"])
        step, elapsed = ckpt["step"], ckpt["elapsed"]
        history = ckpt.get("history", [])
        set_rng_state(ckpt["rng"][rank] if isinstance(ckpt["rng"], list) else ckpt["rng"], sampler)
    net = model
    if args.ddp:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    lambdas = torch.tensor(cfg.lambdas)
    n_lam = len(cfg.lambdas)
    log = (out / "train.log").open("a") if rank == 0 else None

    def say(msg: str) -> None:
        if rank == 0:
            print(msg, flush=True)
            log.write(msg + "\n")
            log.flush()

    say(f"# hicodec train: {len(files)} images from {[str(r) for r in roots]}, device {device} ({hardware()}), "
        f"world {world}, batch {args.batch}×{args.crop}², start step {step}")

    def progress() -> float:
        p = 0.0
        if args.steps:
            p = max(p, step / args.steps)
        if args.time_limit:
            p = max(p, elapsed / (args.time_limit * 60))
        return p

    def save() -> None:
        if rank != 0:
            return
        state = dict(
            model=model.state_dict(), config=cfg.to_dict(), optimizer=opt.state_dict(), aux_optimizer=aux_opt.state_dict(),
            step=step, elapsed=elapsed, rng=rng_state(sampler), history=history,
            record=dict(data=[str(r) for r in roots], images=len(files), batch=args.batch * world, crop=args.crop,
                        lr=args.lr, hardware=hardware(), torch=torch.__version__, lambdas=list(cfg.lambdas)),
        )
        save_atomic(state, ckpt_path)

    model.train()
    acc = {}
    t_last_ckpt = time.time()
    t0 = time.time()
    while True:
        if (args.steps and step >= args.steps) or (args.time_limit and elapsed >= args.time_limit * 60):
            break
        t_step = time.time()
        lr = args.lr * min(1.0, (step + 1) / max(1, args.warmup))
        if progress() >= args.lr_drop:
            lr *= 0.1
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        li = int(torch.randint(n_lam, (1,)))
        x = sampler.batch(args.batch).to(device, non_blocking=True)
        gain = torch.exp(model.log_gain[li]).unsqueeze(0).expand(x.shape[0], -1)
        outp = net(x, gain, ste=progress() >= args.ste_after)
        r = rd_loss(outp, x, lambdas[li].to(device).expand(x.shape[0]))
        opt.zero_grad(set_to_none=True)
        r["loss"].backward()
        if args.clip:
            torch.nn.utils.clip_grad_norm_(main_p + gain_p, args.clip)
        opt.step()
        aux = model.aux_loss()
        aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        aux_opt.step()
        step += 1
        dt = time.time() - t_step
        elapsed += dt
        for k in ("loss", "bpp", "psnr", "bpp_z"):
            acc.setdefault(k, []).append(float(r[k]))
        acc.setdefault("aux", []).append(float(aux))
        if not math.isfinite(float(r["loss"])):
            say(f"non-finite loss at step {step}; stopping without saving")
            return 2
        if step % args.log_every == 0:
            m = {k: float(np.mean(v)) for k, v in acc.items()}
            acc = {}
            history.append(dict(step=step, elapsed=round(elapsed, 1), **{k: round(v, 4) for k, v in m.items()}))
            say(f"step {step:6d}  loss {m['loss']:8.4f}  bpp {m['bpp']:.4f} (z {m['bpp_z']:.4f})  psnr {m['psnr']:6.2f}  "
                f"aux {m['aux']:8.2f}  lr {lr:.2e}  {dt:.2f}s/step  {elapsed / 60:.1f} min")
        if step % args.ckpt_every == 0 or time.time() - t_last_ckpt > args.ckpt_minutes * 60:
            save()
            t_last_ckpt = time.time()
    save()
    say(f"# done: step {step}, {elapsed / 60:.1f} min of training ({(time.time() - t0) / 60:.1f} min this run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
