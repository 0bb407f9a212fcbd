#!/usr/bin/env python3
"""What would a preview-friendly bitstream cost? Study tool for shrink-on-load (issue 24).

A reduced-size decode parses the first slices of the channel context one after the other: each
slice's scale net reads the symbols of the slices before it, and each slice's μ the ŷ before it.
A bitstream whose first slices (here 1–3, channels 16–127, what a 1/8 decode reads with slice 0)
were coded from the hyperprior alone (table index from the hyper features h only, μ = μ_h) would
parse them in one call. This probe takes a package, cuts those slices' context (their index convs'
context weights set to 0, their means μ_h), retrains only those index convs on the rate of
channels 16–127 (CID22 crops, random qualities, the rest frozen), and compares real code lengths
and PSNR on cid22-val with the package as shipped.

First finding (2026-12-03, hic-base-v7, 12 cid22-val photos, 12 CPU-minutes = 468 steps of 8 crops,
1 thread beside the campaign): total bpp at q10 / 50 / 90 0.1063 / 0.4766 / 1.6205 as shipped
against 0.1269 / 0.5769 / 1.8429 without the context on slices 1–3 (+19%, +21%, +14%; PSNR
−0.05 dB), the first 128 channels carrying 92 / 73 / 51% of the bits. Still falling when it
stopped, but the context of those slices is worth far more than what parsing them at once would
save (a few ms of a 1/8 decode): the bitstream keeps it.

  /usr/bin/python3 training/tools/context_free_probe.py models/hic-base-v7 --cpu-minutes 12
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hicodec_train.alloc import tune_allocator  # noqa: E402
from hicodec_train.data import CropSampler, list_images, load_image  # noqa: E402
from hicodec_train.package import load_package_model  # noqa: E402
from train_previews import SHARED, pad16, psnr  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("package", type=Path)
    p.add_argument("--slices", default="1,2,3", help="slices coded without the channel context")
    p.add_argument("--cpu-minutes", type=float, default=12.0)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--val-limit", type=int, default=12)
    p.add_argument("--qualities", default="10,50,90")
    args = p.parse_args(argv)
    tune_allocator()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    free = tuple(int(s) for s in args.slices.split(","))
    model, _ = load_package_model(args.package)
    model.eval()
    for q in model.parameters():
        q.requires_grad_(False)
    ctx = model.ctx
    hs = model.cfg.hs_hidden
    lo, hi = ctx.starts[min(free)], ctx.starts[max(free)] + ctx.slices[max(free)]
    scale_index, mean_of = ctx.scale_index, ctx.mean_of

    def free_scale(i, h, q_prev, exact=False):
        if i not in free:
            return scale_index(i, h, q_prev, exact)
        pad = torch.zeros(h.shape[0], ctx.index[i].weight.shape[1] - hs, *h.shape[2:], dtype=h.dtype)
        return torch.clamp(ctx.index[i](torch.cat([h, pad], 1), exact), 0, ctx.index[i].out_max)

    def free_mean(i, mu_h, yhat_prev):
        return mean_of(i, mu_h, yhat_prev) if i not in free else mu_h[:, ctx.starts[i] : ctx.starts[i] + ctx.slices[i]]

    val = list_images([SHARED / "cid22-val"])[: args.val_limit]
    qualities = [int(q) for q in args.qualities.split(",")]

    @torch.no_grad()
    def evaluate(label: str) -> dict:
        res = {}
        for q in qualities:
            first = total = 0.0
            npx = 0
            ps = []
            for f in val:
                x = load_image(f)
                h, w = x.shape[-2:]
                g = torch.exp(model.log_gain_for_quality(torch.tensor([float(q)])))[:, :, None, None]
                y_g = model.g_a(pad16(x)) * g
                z_hat = torch.round(model.h_a(y_g))
                e = model.entropy_y(y_g, z_hat, noise=False)
                bits = -torch.log2(e["lik"])
                first += float(bits[:, :hi].sum())
                total += float(bits.sum()) + float(-torch.log2(model.entropy_z.likelihood(z_hat)).sum())
                npx += h * w
                ps.append(psnr(model.g_s(e["yhat_g"] / g).clamp(0, 1)[..., :h, :w], x))
            res[q] = {f"bpp_first{hi}": round(first / npx, 5), "bpp": round(total / npx, 5), "psnr": round(float(np.mean(ps)), 3)}
        print(label, json.dumps(res), flush=True)
        return res

    shipped = evaluate("as shipped")
    ctx.scale_index, ctx.mean_of = free_scale, free_mean
    with torch.no_grad():
        for i in free:
            ctx.index[i].weight[:, hs:].zero_()
    params = [q for i in free for q in ctx.index[i].parameters()]
    for q in params:
        q.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=args.lr)
    sampler = CropSampler(list_images([SHARED / "train-src" / "cid22"]), 256, seed=0)
    cpu0, step = time.process_time(), 0
    while (time.process_time() - cpu0) / args.threads < args.cpu_minutes * 60:
        x = sampler.batch(8)
        g = torch.exp(model.log_gain_for_quality(torch.rand(8) * 100))[:, :, None, None]
        with torch.no_grad():
            y_g = model.g_a(x) * g
            z_hat = torch.round(model.h_a(y_g))
        e = model.entropy_y(y_g, z_hat, noise=True)
        loss = -torch.log2(e["lik"][:, lo:hi]).sum() / (8 * 256 * 256)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step}  bpp of channels {lo}–{hi - 1} {float(loss):.4f}  {(time.process_time() - cpu0) / args.threads / 60:.1f} CPU-min", flush=True)
    free_ = evaluate(f"slices {args.slices} without context, {step} steps")
    for q in qualities:
        print(f"q{q}: total bpp {100 * (free_[q]['bpp'] / shipped[q]['bpp'] - 1):+.1f}%, PSNR {free_[q]['psnr'] - shipped[q]['psnr']:+.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
