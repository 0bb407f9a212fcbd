#!/usr/bin/env python3
"""Study (encoder-effort issue): gradient-based latent refinement with a fixed decoder, as SGA-style
per-image optimisation (Yang et al. 2020) — is a gradient path in the product worth building?

For each image and quality: the amortized latent y = g_a(x), then N steps of Adam on y itself to
minimise the training loss λ·255²·MSE(g_s(ŷ), x) + bits, with ŷ rounded straight-through for the
decoder and uniform noise for the rate (the training relaxation; z re-derived from y every step,
rounded straight-through). At 20, 50 and 200 steps (configurable) the real quantized path codes the
refined latent (exact code lengths under the integer tables, 8-bit PSNR), next to the amortized
one, with the seconds spent.

  /usr/bin/python3 training/study_latent_refinement.py --model models/hic-base-v4 \\
      --images kodim01.png,kodim05.png --qualities 25,75 --steps 20,50,200 [--threads 2]

Writes bench/results/latent-refinement-DATE.{json,md}. Kodak is only measured here: nothing is tuned
on it (the step size is the one default below, not searched).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval import DEFAULT_KODAK, code_image  # noqa: E402
from hicodec_train.alloc import tune_allocator  # noqa: E402
from hicodec_train.data import load_image  # noqa: E402
from hicodec_train.metrics import psnr  # noqa: E402
from hicodec_train.model import pad_to, rd_loss, round_ste  # noqa: E402
from hicodec_train.package import load_package_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def lam_of_quality(model, q: float) -> float:
    """λ at a quality: geometric interpolation between the anchors, as the gains are."""
    qs, ls = model.cfg.qualities, model.cfg.lambdas
    for i in range(len(qs) - 1):
        if qs[i] <= q <= qs[i + 1]:
            t = (q - qs[i]) / (qs[i + 1] - qs[i])
            return float(np.exp((1 - t) * np.log(ls[i]) + t * np.log(ls[i + 1])))
    return float(ls[-1] if q > qs[-1] else ls[0])


def code(model, y: torch.Tensor, quality: float, x: torch.Tensor, tables) -> dict:
    """The real quantized path on latent y (eval.code_image): bpp and 8-bit PSNR."""
    with torch.no_grad():
        r = code_image(model, x, quality, *tables, y=y)
    ref = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return dict(bpp=(r["bits_y"] + r["bits_z"]) / r["pixels"], psnr=psnr(ref, r["rec"]))


def refine(model, x_pad: torch.Tensor, y0: torch.Tensor, gain: torch.Tensor, lam: float, steps: list[int], lr: float,
           on_checkpoint) -> None:
    y = y0.clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=lr)
    lam_t = torch.full((1,), lam)
    for p in model.parameters():
        p.requires_grad_(False)
    t0 = time.time()
    for i in range(1, max(steps) + 1):
        y_g = y * gain
        z = model.h_a(y_g)
        z_hat = round_ste(z)
        lik_z = model.entropy_z.likelihood(z + torch.empty_like(z).uniform_(-0.5, 0.5))
        e = model.entropy_y(y_g, z_hat, noise=True, ste=True)
        out = dict(x_hat=model.g_s(e["yhat_g"] / gain), lik_y=e["lik"], lik_z=lik_z)
        loss = rd_loss(out, x_pad, lam_t)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i in steps:
            on_checkpoint(i, y.detach(), time.time() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=REPO / "models" / "hic-base-v4")
    p.add_argument("--kodak", type=Path, default=DEFAULT_KODAK)
    p.add_argument("--images", default="kodim01.png,kodim05.png")
    p.add_argument("--qualities", default="25,75")
    p.add_argument("--steps", default="20,50,200")
    p.add_argument("--lr", type=float, default=0.02, help="Adam step on y (ungained units)")
    p.add_argument("--crop", type=int, default=0, help="code the centre crop×crop of each image (0: whole; a CPU-time saver)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--name", default="latent-refinement")
    args = p.parse_args(argv)
    tune_allocator()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, manifest = load_package_model(args.model)
    tables = (model.tables.build()["tables"], model.entropy_z.build()["tables"])
    steps = sorted(int(s) for s in args.steps.split(","))
    rows = []
    for name in args.images.split(","):
        x = load_image(args.kodak / name)
        if args.crop:
            hh, ww = x.shape[-2:]
            c = min(args.crop, hh, ww)
            x = x[..., (hh - c) // 2 : (hh - c) // 2 + c, (ww - c) // 2 : (ww - c) // 2 + c].contiguous()
        xp = pad_to(x)
        for q in (float(v) for v in args.qualities.split(",")):
            gain = model.gain_for_quality(q).detach()[None, :, None, None]
            lam = lam_of_quality(model, q)
            t0 = time.time()
            with torch.no_grad():
                y0 = model.g_a(xp)
            t_enc = time.time() - t0
            base = code(model, y0, q, x, tables)
            row = dict(image=name, quality=q, lam=round(lam, 6), amortized=dict(**base, seconds=round(t_enc, 2)), refined=[])

            def at(i, y, secs, row=row, q=q, x=x):
                r = code(model, y, q, x, tables)
                d_rate = 100 * (r["bpp"] / row["amortized"]["bpp"] - 1)
                row["refined"].append(dict(steps=i, **r, seconds=round(secs, 1), rate_change_percent=round(d_rate, 2),
                                           psnr_change_db=round(r["psnr"] - row["amortized"]["psnr"], 3)))
                print(f"{name} q{q:g} step {i}: {r['bpp']:.4f} bpp {r['psnr']:.2f} dB ({d_rate:+.1f}% rate, "
                      f"{r['psnr'] - row['amortized']['psnr']:+.2f} dB) {secs:.0f} s", flush=True)

            print(f"{name} q{q:g} amortized: {base['bpp']:.4f} bpp {base['psnr']:.2f} dB", flush=True)
            refine(model, xp, y0, gain, lam, steps, args.lr, at)
            rows.append(row)
    day = dt.date.today().isoformat()
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{args.name}-{day}"
    res = dict(study="latent refinement (SGA-style, STE rounding + noise rate)", date=day, model=manifest["id"], threads=args.threads,
               crop=args.crop or None,
               lr=args.lr, steps=steps, torch=torch.__version__, rows=rows)
    stem.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    md = [f"# Latent refinement study ({day}, {manifest['id']}, {args.threads} threads, Adam lr {args.lr}"
          f"{f', centre {args.crop}² crops' if args.crop else ''})", "",
          "| image | q | amortized bpp / dB | " + " | ".join(f"{s} steps: Δrate, ΔPSNR, s" for s in steps) + " |",
          "|---|---:|---|" + "---|" * len(steps)]
    for r in rows:
        md.append(f"| {r['image']} | {r['quality']:g} | {r['amortized']['bpp']:.4f} / {r['amortized']['psnr']:.2f} | "
                  + " | ".join(f"{x['rate_change_percent']:+.1f}%, {x['psnr_change_db']:+.2f} dB, {x['seconds']:.0f} s" for x in r["refined"]) + " |")
    stem.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
