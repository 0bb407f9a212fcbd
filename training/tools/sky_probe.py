#!/usr/bin/env python3
"""Why does one photo break at one quality? Codes an image with a model A (good) and B (broken) and
with B's parts swapped for A's one at a time; prints bpp/PSNR, bits by slice and z, and where the
error is. Study tool for the campaign's sky instability (issue 22).

First finding (2026-12-02; A = hic-base-v7, B = the campaign at 738 CPU-min, the sky photo 28d24b… at
λ 0.00045): A 0.047 bpp / 31.89 dB, B 0.094 / 26.99; B with A's hyper-analysis h_a 0.051 / 31.73,
with any other part of A's (gains, g_a, g_s, h_s, context, z prior) still broken. On the flat sky
B's z differs from what A's h_a makes of the same latent in four channels: one sits on a rounding
boundary (0.513 ± 0.036, so ẑ flips between 0 and 1 across the sky), the others are moved by up to
0.6; μ_h (the only thing a lean slice's ŷ has at this rate: 0.6% of the symbols are not 0) is off
by 40% more. Choosing each ẑ on a rounding boundary by the RD cost of its 64-px block (a decoded
check) mends a third of the damage (0.075 bpp / 28.44 dB) and gains nothing on cid22-val photos
with A: the rest is h_a itself, whose output on large flat areas at the lowest gains drifts where
h_s was not trained (256² crops of 512² photos have few).

  /usr/bin/python3 training/tools/sky_probe.py models/hic-base-v7 runs/campaign/evals/X.pt \\
      ../shared/data/large/28d24b9c83de066597ff96a68769884f.png --lam 0.00045
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from campaign import load_model, quality_of_lambda  # noqa: E402
from eval import code_image  # noqa: E402
from hicodec_train.data import load_image  # noqa: E402
from hicodec_train.metrics import psnr  # noqa: E402
from hicodec_train.model import remap_log_gain  # noqa: E402

PARTS = ("log_gain", "g_a", "g_s", "h_a", "h_s_scale", "h_s_mean", "ctx", "entropy_z")


def run(model, x, q, ref):
    tables = (model.tables.build()["tables"], model.entropy_z.build()["tables"])
    r = code_image(model, x, q, *tables)
    err = (r["rec"].astype(np.float64) - ref.astype(np.float64))
    return dict(bpp=(r["bits_y"] + r["bits_z"]) / r["pixels"], bpp_z=r["bits_z"] / r["pixels"], psnr=psnr(ref, r["rec"]),
                bias=err.reshape(-1, 3).mean(0), err=err, rec=r["rec"])


def swapped(b, a, part):
    m = copy.deepcopy(b)
    if part == "log_gain":
        m.log_gain.data.copy_(remap_log_gain(a.log_gain.data, a.cfg.lambdas, b.cfg.lambdas))
    else:
        getattr(m, part).load_state_dict(getattr(a, part).state_dict())
    return m


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("good", type=Path)
    p.add_argument("bad", type=Path)
    p.add_argument("image", type=Path)
    p.add_argument("--lam", type=float, default=0.00045, help="a λ both models trained")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--save", type=Path, help="write the two reconstructions and error maps here (PNG)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    good, _ = load_model(a.good)
    bad, _ = load_model(a.bad)
    x = load_image(a.image)
    ref = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    qa, qb = quality_of_lambda(good, a.lam), quality_of_lambda(bad, a.lam)
    rows = {"A (good)": run(good, x, qa, ref), "B (bad)": run(bad, x, qb, ref)}
    with torch.no_grad():
        for part in PARTS:
            rows[f"B with A's {part}"] = run(swapped(bad, good, part), x, qb, ref)
    for k, r in rows.items():
        print(f"{k:28s} {r['bpp']:.4f} bpp (z {r['bpp_z']:.4f})  {r['psnr']:.2f} dB  bias RGB {np.round(r['bias'], 2)}")
    # where the error is: mean squared error by 64-px block rows/cols, the worst blocks of A and B
    for k in ("A (good)", "B (bad)"):
        e = (rows[k]["err"] ** 2).mean(-1)
        h, w = (e.shape[0] // 64) * 64, (e.shape[1] // 64) * 64
        blocks = e[:h, :w].reshape(h // 64, 64, w // 64, 64).mean((1, 3))
        print(f"{k}: block MSE rows (mean over cols): {np.round(blocks.mean(1), 1).tolist()}")
    if a.save:
        from PIL import Image

        a.save.mkdir(parents=True, exist_ok=True)
        for k, tag in (("A (good)", "a"), ("B (bad)", "b")):
            Image.fromarray(rows[k]["rec"]).save(a.save / f"rec-{tag}.png")
            e = np.clip(np.abs(rows[k]["err"]).mean(-1) * 8, 0, 255).astype(np.uint8)
            Image.fromarray(e).save(a.save / f"err-{tag}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
