#!/usr/bin/env python3
"""Export a trained checkpoint as a hicodec model package (models/<id>/).

  /usr/bin/python3 training/export.py runs/base/last.pt --id hic-base-v1 [--eval-json runs/base/eval.json]

Writes manifest.json, five ONNX files (opset 17, TorchScript exporter, dynamic H/W, weights stored
as fp16), the integer CDF tables and the gain vectors; then checks ONNX against PyTorch at three
image sizes (one of which needs window padding) with onnxruntime-node when it is installed, and
records the result in the manifest. Runs on the CPU machine.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hicodec_train import ort  # noqa: E402
from hicodec_train.macs import model_macs_per_pixel  # noqa: E402
from hicodec_train.model import HiCodec, ModelConfig, campaign_totals, extend_lambdas, line_minutes  # noqa: E402
from hicodec_train.model import load_checkpoint as read_checkpoint  # noqa: E402
from hicodec_train.package import (  # noqa: E402
    FEATURE_STRIDES, FORMAT_VERSION, OPSET, AnalysisWithFeatures, SynthesisWithAttention, attention_outputs, export_onnx,
    INT8_ROLES, feature_output_names, round_weights_fp16, round_weights_int8, sha256, verify_package, write_prior, write_tables,
)

REPO = Path(__file__).resolve().parents[1]
PARITY_SIZES = ((64, 64), (128, 192), (320, 448))  # 64×64 → 4×4 latent: window padding to 8×8


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def load_checkpoint(path: Path, ema: bool = False) -> tuple[HiCodec, dict]:
    ckpt = read_checkpoint(path)
    model = HiCodec(ModelConfig(**ckpt["config"]))
    if ema and not ckpt.get("ema"):
        raise ValueError(f"{path} keeps no EMA weights")
    model.load_state_dict(ckpt["ema"] if ema else ckpt["model"])
    return model.eval(), ckpt


def campaign_record(ckpt: dict) -> dict:
    """A campaign's weights (a checkpoint restored from its state, tools/campaign_state.py) carry
    the campaign's totals: the steps and crops of the line itself count from the restore, and
    all the training those weights have had is recorded beside them."""
    rec = ckpt.get("record") or {}
    if "campaign_offset" not in rec:
        return {}
    return {"campaign": {**campaign_totals(rec["campaign_offset"], line_minutes(ckpt)),
                         "restored_from": rec.get("restored_from"), "log": "training/CAMPAIGN.md"}}


def parity(model: HiCodec, root: Path, files: dict, sizes=PARITY_SIZES, seed: int = 0) -> dict:
    """Max |ONNX − PyTorch| per float network and exact equality of the integer network, at
    each size. Inputs are the real intermediate tensors of a random image."""
    g = torch.Generator().manual_seed(seed)
    report = {}
    cfg = model.cfg
    for h, w in sizes:
        x = torch.rand(1, 3, h, w, generator=g)
        gain = model.gain_for_quality(50.0)[None, :, None, None]
        with torch.no_grad():
            y, *feats = AnalysisWithFeatures(model.g_a)(x)
            y_g = y * gain
            z = model.h_a(y_g)
            z_hat = torch.round(z)
            e = model.entropy_y(y_g, z_hat, exact=True)
            mu = e["mu_h"]
            y_hat = e["yhat_g"] / gain
            x_hat, *attn = SynthesisWithAttention(model.g_s)(y_hat)
        cases = {
            "analysis": ({"x": x}, {"y": y, **dict(zip(feature_output_names(), feats))}),
            "hyper_analysis": ({"y_g": y_g}, {"z": z}),
            "hyper_mean": ({"z_hat": z_hat}, {"mu_g": mu}),
            "synthesis": ({"y_hat": y_hat}, {"x_hat": x_hat, **{a["name"]: t for a, t in zip(attention_outputs(cfg), attn)}}),
        }
        key = f"{w}x{h}"
        report[key] = {}
        for role, (feeds, refs) in cases.items():
            out = ort.run(root / files[role], {n: t.numpy().astype(np.float32) for n, t in feeds.items()})
            if list(out) != list(refs):
                raise AssertionError(f"{role}: outputs {list(out)} != {list(refs)} (the primary output must come first)")
            for name, ref in refs.items():
                got = out[name]
                if got.shape != tuple(ref.shape):
                    raise AssertionError(f"{role}.{name} at {key}: shape {got.shape} != {tuple(ref.shape)}")
                label = role if name == next(iter(refs)) else f"{role}.{name}"
                report[key][label] = float(np.abs(got - ref.numpy()).max())
        k = e["k"].numpy().astype(np.uint8)
        if model.ctx is None:
            out = ort.run(root / files["hyper_scale"], {"z_hat": z_hat.numpy().astype(np.int32)})["index"]
        else:
            out = context_chain(model, root, files["context"], z_hat, e, report[key])
        report[key]["hyper_scale_mismatches"] = int((out != k).sum())
        report[key]["hyper_scale_elements"] = int(out.size)
        assert out.shape == (1, cfg.M, h // 16, w // 16)
    return report


def context_chain(model: HiCodec, root: Path, names: dict, z_hat: torch.Tensor, e: dict, report: dict) -> np.ndarray:
    """Runs the channel-context graphs slice by slice in ONNX Runtime, as the decoder does, on
    the PyTorch symbols q; records the float differences and returns the table indices."""
    ctx = model.ctx
    h = ort.run(root / "hyper_scale.onnx", {"z_hat": z_hat.numpy().astype(np.int32)})["h"]
    with torch.no_grad():
        h_ref = model.h_s_scale.hidden(z_hat, exact=True).numpy().astype(np.uint8)
    report["hyper_scale_hidden_mismatches"] = int((h != h_ref).sum())
    q = e["q"].numpy().astype(np.int32)
    mu_h = e["mu_h"].numpy().astype(np.float32)
    ks, yhat_prev, worst = [], [], 0.0
    for i, (s, c) in enumerate(zip(ctx.starts, ctx.slices)):
        feeds = {"h": h} | ({"q_prev": np.ascontiguousarray(q[:, :s])} if i else {})
        ks.append(ort.run(root / names["scale"][i], feeds)["index"])
        if ctx.has_mean(i):
            prev = np.concatenate(yhat_prev, 1)
            mu = ort.run(root / names["mean"][i], {"mu_h": mu_h, "yhat_prev": prev})["mu"]
            with torch.no_grad():
                ref = ctx.mean_of(i, e["mu_h"], torch.from_numpy(prev)).numpy()
            worst = max(worst, float(np.abs(mu - ref).max()))
        else:
            mu = mu_h[:, s : s + c]
        yhat_prev.append(q[:, s : s + c].astype(np.float32) + mu)
    report["context_mean"] = worst
    if names.get("refine"):
        r = ctx.refine_channels
        yg = np.ascontiguousarray(np.concatenate(yhat_prev, 1)[:, :r])
        out = ort.run(root / names["refine"], {"mu_h": np.ascontiguousarray(mu_h[:, :r]), "yhat_g": yg})["yhat_g_out"]
        report["context_refine"] = float(np.abs(out - e["yhat_g"][:, :r].numpy()).max())
    return np.concatenate(ks, 1)


def conv_layers(module: torch.nn.Module) -> list[dict]:
    """The convolutions of a transform in forward order (kernel, stride, dilation, padding, output
    channels): what `hic explain` computes theoretical receptive fields from."""
    out = []
    for name, m in module.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            out.append({"name": name, "kernel": m.kernel_size[0], "stride": m.stride[0], "dilation": m.dilation[0],
                        "padding": m.padding[0] if isinstance(m.padding, tuple) else m.padding, "out_channels": m.out_channels})
    return out


def prior_stage(path: Path) -> dict:
    """What an earlier training stage was: from a package's manifest (its own record, with its own
    earlier stages) or from a checkpoint's record."""
    if path.is_dir():
        t = json.loads((path / "manifest.json").read_text())["training"]
        keep = ("steps", "wall_time_minutes", "batch", "crop", "lr", "lambdas", "crops_seen", "hardware", "command", "commit", "earlier_stages")
        return {"source": f"package {path.name}", **{k: t[k] for k in keep if k in t}}
    ck = read_checkpoint(path)
    rec = ck.get("record", {})
    return {"source": f"checkpoint {path}", "steps": ck.get("step"), "wall_time_minutes": round(ck.get("elapsed", 0.0) / 60, 1),
            "crops_seen": ck.get("crops_seen"), **{k: rec.get(k) for k in ("batch", "crop", "lr", "hardware", "train_only") if k in rec}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--id", required=True, help="registered model id, e.g. hic-base-v1")
    p.add_argument("--out", type=Path, default=None, help="package folder (default: models/<id>)")
    p.add_argument("--eval-json", type=Path, default=None, help="eval.py results to embed in the manifest")
    p.add_argument("--command", default=None, help="the training command to record")
    p.add_argument("--force", action="store_true", help="replace an existing package folder")
    p.add_argument("--no-parity", action="store_true", help="skip the ONNX Runtime check")
    p.add_argument("--int8-encoder", action="store_true",
                   help="store the encoder-side networks' convolution weights as int8 (per output channel): the decoder never runs them")
    p.add_argument("--ema", action="store_true", help="export the checkpoint's EMA weights (what the campaign evaluates)")
    p.add_argument("--prior", type=Path, action="append", default=[],
                   help="an earlier stage this checkpoint grew from (a checkpoint or a package folder), recorded in the manifest; repeat in order")
    p.add_argument("--extend-lambdas", default=None,
                   help="comma-separated λ values beyond the trained ones (e.g. 0.0004,0.25): extrapolated gain vectors "
                        "so that quality 0 and 100 reach lower and higher rates than training covered")
    args = p.parse_args(argv)

    torch.set_num_threads(min(2, torch.get_num_threads()))
    out = args.out or REPO / "models" / args.id
    if out.exists() and not args.force:
        print(f"error: {out} exists (use --force to replace it)", file=sys.stderr)
        return 1
    model, ckpt = load_checkpoint(args.checkpoint, ema=args.ema)
    round_weights_fp16(model)
    if args.int8_encoder:
        round_weights_int8(model.g_a)
        round_weights_int8(model.h_a)
    trained = [True] * len(model.cfg.lambdas)
    if args.extend_lambdas:
        trained = extend_lambdas(model, [float(v) for v in args.extend_lambdas.split(",")])
    cfg = model.cfg

    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent if out.parent.exists() else None))
    try:
        files = export_onnx(model, tmp, int8_encoder=args.int8_encoder)
        write_tables(tmp / "gaussian.tables", model.tables.build()["tables"])
        write_tables(tmp / "factorized.tables", model.entropy_z.build()["tables"])
        model.log_gain.detach().exp().numpy().astype("<f4").tofile(tmp / "gains.f32")
        prior_index = write_prior(tmp / "factorized_prior.f32", model.entropy_z)
        report = None if args.no_parity or not ort.available() else parity(model, tmp, files)

        rec = ckpt.get("record", {})
        tables = model.tables
        manifest = {
            "id": args.id,
            # 2: channel context; 3: with lean slices (no mean graph, refine_channels)
            "format_version": FORMAT_VERSION if model.ctx is None else 3 if cfg.lean_slices else 2,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "networks": {
                role: {"file": f, **spec}
                for role, f, spec in [
                    ("analysis", files["analysis"], {"side": "encoder", "inputs": {"x": "float32 [1,3,H,W] RGB in [0,1], H,W multiples of 64"}, "outputs": {"y": "float32 [1,M,H/16,W/16]", **{n: f"float32 [1,N,H/{st},W/{st}] explain only" for n, st in zip(feature_output_names(), FEATURE_STRIDES)}}}),
                    ("hyper_analysis", files["hyper_analysis"], {"side": "encoder", "inputs": {"y_g": "float32 [1,M,h,w] = y·gain"}, "outputs": {"z": "float32 [1,Nz,h/4,w/4]; round to get ẑ"}}),
                    ("hyper_scale", files["hyper_scale"], {"side": "both", "integer_only": True, "inputs": {"z_hat": "int32 [1,Nz,hz,wz]"}, "outputs": {"index": "uint8 [1,M,4hz,4wz] Gaussian table index"} if model.ctx is None else {"h": "uint8 [1,hidden,4hz,4wz] hyper features for the slices' scale graphs"}}),
                    ("hyper_mean", files["hyper_mean"], {"side": "both", "inputs": {"z_hat": "float32 [1,Nz,hz,wz]"}, "outputs": {"mu_g": "float32 [1,M,4hz,4wz]"}}),
                    ("synthesis", files["synthesis"], {"side": "decoder", "inputs": {"y_hat": "float32 [1,M,h,w] = (q+mu_g)/gain"}, "outputs": {"x_hat": "float32 [1,3,16h,16w] RGB, clamp to [0,1]", **{a["name"]: "float32 [nW,heads,N,N] explain only" for a in attention_outputs(cfg)}}}),
                ]
            },
            **({"context": {
                "slices": list(cfg.slices), "starts": list(model.ctx.starts), "hidden_channels": cfg.hs_hidden,
                "scale": files["context"]["scale"], "mean": files["context"]["mean"], "refine": files["context"]["refine"],
                **({"refine_channels": model.ctx.refine_channels} if cfg.lean_slices else {}),
                "rules": ("slices are coded in order. h = hyper_scale(ẑ) (uint8 [1,hidden,h,w]); slice i: "
                          "k_i = scale_s{i}(h, q_<i) (integer-only; q_prev int32 [1,starts_i,h,w]; slice 0: h only); "
                          "μ_i = mean_s{i}(μ_h, ŷ_g,<i) where mean[i] is a file, else μ_i = μ_h[slice i] "
                          "(μ_h = hyper_mean(ẑ)); q_i = round(y_g,i − μ_i); "
                          "ŷ_g,i = q_i + μ_i; after the last slice the first refine_channels (default M) channels of "
                          "ŷ_g = refine(μ_h, ŷ_g) of those channels, when present; ŷ = ŷ_g / gain"),
            }} if model.ctx is not None else {}),
            "latent": {"channels": cfg.M, "stride": 16, "hyper_channels": cfg.Nz, "hyper_stride": 64, "pad_multiple": 64,
                       "pad_mode": "edge-replicate (right, bottom)", "window": cfg.window,
                       "rules": "y_g = y·gain; z = h_a(y_g); ẑ = round(z); k = h_s_scale(ẑ); μ_g = h_s_mean(ẑ); q = round(y_g − μ_g); ŷ = (q + μ_g)/gain"},
            "quality": {
                "range": [0, 100],
                "anchors": list(cfg.qualities),
                "trained": trained,
                "lambdas": list(cfg.lambdas),
                "gains_file": "gains.f32",
                "gains_shape": [len(cfg.lambdas), cfg.M],
                "interpolation": "geometric: for anchors q_i ≤ q ≤ q_{i+1}, t = (q−q_i)/(q_{i+1}−q_i), gain = g_i^(1−t)·g_{i+1}^t (float; not on the parsing path)",
            },
            "entropy": {
                "coder": "rANS, 32-bit state, byte renormalization, L = 2^23, 16-bit frequencies; escape + bypass as in training/hicodec_train/rans.py",
                "precision": 16,
                "y_tables": {"file": "gaussian.tables", "count": tables.num, "scale_min": tables.s_min, "scale_max": tables.s_max,
                             "spacing": "log", "log_step": tables.log_step, "tail_mass": tables.tail,
                             "scales": [float(s) for s in tables.scales()]},
                "z_tables": {"file": "factorized.tables", "count": cfg.Nz, "one_per": "z channel"},
            },
            "extras": {"factorized_prior": {"file": "factorized_prior.f32", "tensors": prior_index,
                                            "purpose": "training only: lets train.py --init continue from this package"}},
            "explain": {
                "note": "extra outputs of analysis.onnx and synthesis.onnx for `hic explain`; the codec fetches only each graph's first output",
                "features": [{"name": n, "stride": st, "channels": c} for n, st, c in
                             zip(feature_output_names(), FEATURE_STRIDES, (cfg.N,) * 3 if cfg.arch == "v4" else cfg.ga_dims)],
                "attention": [{**a, "layout": "(nW, heads, N, N): windows in raster order over the token grid padded (bottom, right) to a multiple of the window, rolled by −shift for shifted blocks; N = window² tokens in raster order; rows are softmax weights (sum 1)"}
                              for a in attention_outputs(cfg)],
            },
            "macs_per_pixel": model_macs_per_pixel(model),
            "layers": {"g_a": conv_layers(model.g_a), "h_a": conv_layers(model.h_a)},
            "parameters": {n: sum(p.numel() for p in getattr(model, n).parameters()) for n in ("g_a", "h_a", "h_s_scale", "h_s_mean", "g_s", "ctx") if getattr(model, n, None) is not None},
            "onnx": {"opset": OPSET, "exporter": "torch.onnx (TorchScript)", "weights": "float16 initializers cast to float32 in-graph" + (
                f"; {', '.join(INT8_ROLES)}: 4-D weights as int8 × a float32 scale per output channel (Cast, Mul in-graph)" if args.int8_encoder else ""),
                "torch": torch.__version__},
            "training": {
                "data": rec.get("data"), "images": rec.get("images"), "steps": ckpt.get("step"),
                "wall_time_minutes": round(ckpt.get("elapsed", 0.0) / 60, 1), "batch": rec.get("batch"), "crop": rec.get("crop"),
                "lr": rec.get("lr"), "lambdas": [lam for lam, t in zip(cfg.lambdas, trained) if t],
                "crops_seen": ckpt.get("crops_seen"), "hardware": rec.get("hardware"), "torch": rec.get("torch"),
                "command": args.command, "commit": git_commit(), "config": cfg.to_dict(),
                "loss_history_tail": ckpt.get("history", [])[-5:],
                **({"earlier_stages": [prior_stage(p) for p in args.prior]} if args.prior else {}),
                **campaign_record(ckpt),
            },
            "export": {"host": platform.node() and platform.machine(), "parity": report},
        }
        if args.eval_json and args.eval_json.exists():
            manifest["evaluation"] = json.loads(args.eval_json.read_text()).get("summary")
        manifest["files"] = {
            f.name: {"sha256": sha256(f), "bytes": f.stat().st_size} for f in sorted(tmp.iterdir()) if f.is_file()
        }
        total = sum(v["bytes"] for v in manifest["files"].values())
        manifest["package_bytes"] = total
        if total > 16 * 1024 * 1024:
            raise SystemExit(f"package is {total / 2**20:.1f} MiB, over the 16 MiB budget")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        verify_package(tmp)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(out)
        os.chmod(out, 0o755)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    print(f"wrote {out} ({total / 2**20:.2f} MiB)")
    if report:
        worst = max(v for r in report.values() for k, v in r.items() if not k.startswith("hyper_scale_"))
        mism = sum(r["hyper_scale_mismatches"] for r in report.values())
        print(f"parity: max |ONNX − PyTorch| = {worst:.2e}; integer scale-net mismatches: {mism}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
