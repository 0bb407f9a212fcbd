#!/usr/bin/env python3
"""Evaluate a checkpoint on Kodak: per quality, PSNR (RGB, on the 8-bit rounded output), MS-SSIM
and estimated bpp, and compare with the published JPEG curve.

  /usr/bin/python3 training/eval.py runs/base/last.pt --json runs/base/eval.json

The estimated bpp is the exact ideal code length of the transmitted symbols under the shipped
*integer* tables (y: Gaussian table chosen by the integer scale network; z: per-channel factorized
tables; escapes with their bypass payloads), i.e. what the rANS coder writes minus its few bytes
of flush and the container header. Weights are rounded to fp16 first, as in the package.
Kodak is the evaluation set: nothing here feeds back into training.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hicodec_train.data import load_image  # noqa: E402
from hicodec_train.entropy import bits_with_tables  # noqa: E402
from hicodec_train.metrics import bd_rate, ms_ssim, psnr, rate_at_psnr  # noqa: E402
from hicodec_train.model import HiCodec, ModelConfig, load_checkpoint, pad_to  # noqa: E402
from hicodec_train.package import round_weights_fp16  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_KODAK = Path(os.environ.get("HICODEC_KODAK", SHARED / "data" / "kodak"))
ANCHORS = Path(os.environ.get("HICODEC_ANCHORS", SHARED / "anchors" / "kodak"))


@torch.no_grad()
def code_image(model: HiCodec, x: torch.Tensor, quality: float, y_tables, z_tables, y: torch.Tensor | None = None) -> dict:
    """Runs the real quantized path on one image (1,3,H,W in [0,1]); returns the 8-bit
    reconstruction and the exact table code lengths. `y`: code this latent instead of g_a(x)
    (a refined one, for studies)."""
    h, w = x.shape[-2:]
    gain = model.gain_for_quality(quality).detach()[None, :, None, None]
    y_g = (model.g_a(pad_to(x)) if y is None else y) * gain
    z_hat = torch.round(model.h_a(y_g))
    e = model.entropy_y(y_g, z_hat, exact=True)
    q, k = e["q"], e["k"]
    x_hat = model.g_s(e["yhat_g"] / gain)[..., :h, :w]
    rec = (x_hat.clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
    qn = q.numpy().astype(np.int64).ravel()
    kn = k.numpy().astype(np.int64).ravel()
    zn = z_hat.numpy().astype(np.int64)
    zc = np.broadcast_to(np.arange(zn.shape[1])[None, :, None, None], zn.shape).ravel()
    bits_y = bits_with_tables(qn, kn, y_tables)
    bits_z = bits_with_tables(zn.ravel(), zc, z_tables)
    return dict(rec=rec, bits_y=bits_y, bits_z=bits_z, pixels=h * w)


@torch.no_grad()
def eval_files(model: HiCodec, files, quality: float, y_tables, z_tables, with_ms_ssim: bool = True) -> list[dict]:
    """Per image at one quality: PSNR (8-bit RGB), MS-SSIM, bpp and the z part of it."""
    return eval_files_at(model, files, [quality], y_tables, z_tables, with_ms_ssim)[0]


@torch.no_grad()
def eval_files_at(model: HiCodec, files, qualities, y_tables, z_tables, with_ms_ssim: bool = True,
                  ceiling: list | None = None) -> list[list[dict]]:
    """`eval_files` at several qualities, a list per quality: each image read and run through g_a
    once (the quality's gain comes after g_a), the same numbers as one quality at a time. `ceiling`:
    a list that gets each image's PSNR of g_s(g_a(x)) without quantization."""
    per = [[] for _ in qualities]
    for f in files:
        x = load_image(f)
        y = model.g_a(pad_to(x))
        ref = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        for rows, quality in zip(per, qualities):
            r = code_image(model, x, quality, y_tables, z_tables, y=y)
            rows.append(dict(image=f.name, psnr=psnr(ref, r["rec"]), **({"ms_ssim": ms_ssim(ref, r["rec"])} if with_ms_ssim else {}),
                             bpp=(r["bits_y"] + r["bits_z"]) / r["pixels"], bpp_z=r["bits_z"] / r["pixels"]))
        if ceiling is not None:
            h, w = x.shape[-2:]
            rec = (model.g_s(y)[..., :h, :w].clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
            ceiling.append(psnr(ref, rec))
    return per


def load_anchor(name: str):
    r = json.loads((ANCHORS / name).read_text())["results"]
    return np.asarray(r["bpp"], float), np.asarray(r["psnr-rgb"], float)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a training checkpoint (.pt) or a model package folder")
    p.add_argument("--kodak", type=Path, default=DEFAULT_KODAK, help="folder of evaluation images ($HICODEC_KODAK)")
    p.add_argument("--qualities", default="0,20,40,60,80,100")
    p.add_argument("--limit", type=int, default=0, help="only the first N images (smoke runs)")
    p.add_argument("--json", type=Path, default=None, help="write results here")
    p.add_argument("--no-fp16", action="store_true", help="evaluate the float32 weights")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    from hicodec_train.alloc import tune_allocator

    tune_allocator()
    torch.set_num_threads(args.threads)

    if args.checkpoint.is_dir():  # a model package: evaluate exactly what ships
        from hicodec_train.package import load_package_model

        model, manifest = load_package_model(args.checkpoint)
        ckpt = dict(step=manifest["training"]["steps"], elapsed=60 * manifest["training"]["wall_time_minutes"])
    else:
        ckpt = load_checkpoint(args.checkpoint)
        model = HiCodec(ModelConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["model"])
        model.eval()
        if not args.no_fp16:
            round_weights_fp16(model)
    y_tables = model.tables.build()["tables"]
    z_tables = model.entropy_z.build()["tables"]

    files = sorted(f for f in args.kodak.iterdir() if f.suffix.lower() == ".png")
    if args.limit:
        files = files[: args.limit]
    if not files:
        print(f"no PNG images in {args.kodak}", file=sys.stderr)
        return 1
    qualities = [float(q) for q in args.qualities.split(",")]
    rows = []
    for qual in qualities:
        t0 = time.time()
        per = eval_files(model, files, qual, y_tables, z_tables)
        row = dict(quality=qual, **{k: float(np.mean([e[k] for e in per])) for k in ("psnr", "ms_ssim", "bpp", "bpp_z")},
                   seconds=round(time.time() - t0, 1), images=per)
        rows.append(row)
        print(f"q={qual:5.1f}  bpp {row['bpp']:.4f} (z {row['bpp_z']:.4f})  PSNR {row['psnr']:.3f} dB  "
              f"MS-SSIM {row['ms_ssim']:.5f}  ({row['seconds']}s)", flush=True)

    ours_b = [r["bpp"] for r in rows]
    ours_p = [r["psnr"] for r in rows]
    summary = dict(images=len(files), qualities=[{k: r[k] for k in ("quality", "bpp", "psnr", "ms_ssim", "bpp_z")} for r in rows],
                   step=ckpt.get("step"), wall_time_minutes=round(ckpt.get("elapsed", 0) / 60, 1))
    if (ANCHORS / "jpeg.json").exists() and len(files) == 24:
        jb, jp = load_anchor("jpeg.json")
        savings = {}
        for target in range(28, 35):
            ob, jbt = rate_at_psnr(ours_b, ours_p, target), rate_at_psnr(jb, jp, target)
            savings[str(target)] = None if np.isnan(ob) else round(100 * (1 - ob / jbt), 1)
        summary["bpp_saving_vs_jpeg_at_psnr"] = savings
        for name in ("jpeg.json", "webp.json", "bpg_444_x265_ycbcr.json", "vtm.json", "paper-mbt2018-mean.json"):
            if (ANCHORS / name).exists():
                ab, ap = load_anchor(name)
                try:
                    summary.setdefault("bd_rate_percent", {})[name[:-5]] = round(bd_rate(ab, ap, ours_b, ours_p), 2)
                except ValueError:
                    pass
        print("bpp saving vs JPEG at matched PSNR (%):", savings)
        print("BD-rate (%):", summary.get("bd_rate_percent"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(summary=summary, rows=rows), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
