#!/usr/bin/env python3
"""Train the shrink-on-load preview heads of a model package and add them to it.

  /usr/bin/python3 training/train_previews.py models/hic-base-v5 [--heads 8:32,8:64,8:128,4:64,4:128,2:192]
      [--max-gap 1.0] [--cpu-limit 8] [--threads 2] [--out DIR]

The codec is frozen (rebuilt from the package itself: the weights as shipped), so the heads learn
exactly what a decoder will feed them: the first K latent channels, read with the real quantized
path and no LRP refinement (hicodec_train/preview.py). Target: the original, area-averaged by s.
Data: CID22 (HICODEC_TRAIN_DATA), 256² crops; quality uniform in [0, 100] per crop.

Several candidate heads per scale (different K) train together on the same batches. Validation
on cid22-val (not Kodak) at four qualities: PSNR of each head against the downscaled original, next
to the PSNR of a full decode then the same downscale; each scale ships the candidate that reads the
fewest channels within --max-gap dB of that (else the best one), and the manifest keeps every
candidate's figures. Writes preview_s{s}.onnx, adds
a "previews" section and the files to manifest.json (sha256, package bytes ≤ 16 MiB); the package
folder is replaced atomically (write to a temporary copy, rename).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hicodec_train import ort  # noqa: E402
from hicodec_train.alloc import tune_allocator  # noqa: E402
from hicodec_train.data import CropSampler, list_images, load_image  # noqa: E402
from hicodec_train.macs import count_macs  # noqa: E402
from hicodec_train.metrics import psnr as psnr255  # noqa: E402
from hicodec_train.package import _export, load_package_model, onnx_weights, sha256, verify_package  # noqa: E402
from hicodec_train.transforms import PATCH  # noqa: E402
from hicodec_train.preview import PreviewHead, box_downscale, partial_latent, slice_boundaries  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HICODEC_DATA", REPO.parent / "shared" / "data"))
VAL_QUALITIES = (25, 50, 75, 100)


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of two pictures in [0, 1] as 8-bit images (what a decoder writes)."""
    return psnr255(torch.round(a * 255).numpy(), torch.round(b * 255).numpy())


def pad16(x: torch.Tensor, m: int = 64) -> torch.Tensor:
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % m, 0, -h % m), mode="replicate")


@torch.no_grad()
def validate(model, heads: dict, files: list[Path], limit: int | None = None) -> dict:
    """Mean PSNR (dB) over files × VAL_QUALITIES: each head vs box-downscaled original, and the
    full decode box-downscaled the same way."""
    kmax = max(h.channels for h in heads.values())
    acc = {key: {"preview": [], "full_then_downscale": []} for key in heads}
    for f in files[:limit]:
        x = load_image(f)
        h, w = x.shape[-2:]
        xp = pad16(x)
        y = model.g_a(xp)  # the same for every quality
        for q in VAL_QUALITIES:
            qt = torch.tensor([float(q)])
            g = torch.exp(model.log_gain_for_quality(qt))[:, :, None, None]
            y_g = y * g
            z_hat = torch.round(model.h_a(y_g))
            full = model.g_s(model.entropy_y(y_g, z_hat, noise=False)["yhat_g"] / g).clamp(0, 1)
            yk = partial_latent(model, xp, qt, kmax, y)
            for key, head in heads.items():
                s = head.scale
                ref = box_downscale(x[..., : h // s * s, : w // s * s], s)
                hs, ws = ref.shape[-2:]
                prev = head(yk[:, : head.channels]).clamp(0, 1)[..., :hs, :ws]
                down = box_downscale(full[..., : hs * s, : ws * s], s)
                acc[key]["preview"].append(psnr(prev, ref))
                acc[key]["full_then_downscale"].append(psnr(down, ref))
    return {key: {k: round(float(np.mean(v)), 2) for k, v in a.items()} for key, a in acc.items()}


def merge_heads(shipped: dict | None, trained: list[dict]) -> tuple[list[dict], dict]:
    """The manifest's heads after a run that trained `trained` (entries): the package's heads for
    the scales this run did not train stay (their files are in the package already), so a run of
    one scale does not drop the others. Returns the heads (largest scale first) and what the
    previews record adds: `kept` (those scales) and `earlier` (the training records they came from)."""
    shipped = shipped or {}
    done = {e["scale"] for e in trained}
    kept = [e for e in shipped.get("heads", []) if e["scale"] not in done]
    heads = sorted(trained + kept, key=lambda e: -e["scale"])
    if not kept:
        return heads, {}
    earlier = ([shipped["training"]] if "training" in shipped else []) + list(shipped.get("earlier", []))
    return heads, {"kept": sorted((e["scale"] for e in kept), reverse=True), "earlier": earlier}


def warm_start(head, package: Path, manifest: dict, hidden: int) -> bool:
    """Loads the package's shipped head of the same scale, channels, width and up steps into
    `head` (the ONNX initializers carry the PyTorch names); False if none."""
    spec = next((e for e in manifest.get("previews", {}).get("heads", [])
                 if e["scale"] == head.scale and e["channels"] == head.channels and e.get("hidden", hidden) == hidden
                 and e.get("up", 0) == head.up), None)
    if spec is None:
        return False
    weights = {k: torch.from_numpy(v) for k, v in onnx_weights(package / spec["file"]).items()}
    state = head.state_dict()
    if set(state) != set(weights) or any(state[k].shape != weights[k].shape for k in state):
        raise SystemExit(f"{spec['file']}: its weights do not match a {head.scale}:{head.channels} head")
    head.load_state_dict(weights)
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("package", type=Path)
    p.add_argument("--out", type=Path, default=None, help="write the extended package here (default: in place)")
    p.add_argument("--heads", default="8:32,8:64,8:128,4:64,4:128,2:192",
                   help="candidate heads as scale:channels (channels: an end of a context slice)")
    p.add_argument("--max-gap", type=float, default=1.0, help="dB below full decode + downscale a shipped head may be")
    p.add_argument("--hidden", type=int, default=96)
    p.add_argument("--up", type=int, default=0, help="2× upsampling steps inside each head (capped at log2(16/s)); 0: all at /16")
    p.add_argument("--warm-start", action="store_true", help="candidates the package already ships (same scale, channels, width) start from its heads")
    p.add_argument("--cpu-limit", type=float, default=8.0, help="training budget in CPU-minutes (process CPU / threads)")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: the CPU budget decides)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", type=Path, default=None, help="training images (default: HICODEC_TRAIN_DATA or ../shared/data/train-src/cid22)")
    p.add_argument("--val", type=Path, default=SHARED / "cid22-val")
    p.add_argument("--val-limit", type=int, default=None, help="validate on the first N images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--command", default=None, help="the command to record in the manifest")
    args = p.parse_args(argv)

    tune_allocator()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model, manifest = load_package_model(args.package)
    for q in model.parameters():
        q.requires_grad_(False)
    pairs = [tuple(int(v) for v in h.split(":")) for h in args.heads.split(",")]
    ends = slice_boundaries(model)
    for s, c in pairs:
        if c not in ends:
            raise SystemExit(f"{c} channels is not the end of a context slice ({ends})")
    sc = getattr(model.g_s, "shortcut", None)
    w_sc = sc[0].weight.detach() if sc is not None else None
    heads = {f"{s}:{c}": PreviewHead(c, s, args.hidden, w_sc, up=min(args.up, (PATCH // s).bit_length() - 1)) for s, c in pairs}
    warm = set()
    if args.warm_start:
        for key, h in heads.items():
            if warm_start(h, args.package, manifest, args.hidden):
                warm.add(key)
                print(f"# {key}: starts from the package's preview_s{h.scale}.onnx", flush=True)
    params = [q for h in heads.values() for q in h.parameters()]
    # the linear part starts as the exact block average of g_s's shortcut (weights ~1e-3): it moves
    # at a tenth of the learning rate, or Adam's first steps would undo it
    groups = [{"params": [q for h in heads.values() for q in h.body.parameters()], "scale": 1.0},
              {"params": [h.lin.weight for h in heads.values()], "scale": 0.1}]
    opt = torch.optim.Adam(groups, lr=args.lr)
    data = args.data or Path(os.environ.get("HICODEC_TRAIN_DATA", SHARED / "train-src" / "cid22"))
    sampler = CropSampler(list_images([data]), args.crop, seed=args.seed)
    val_files = list_images([args.val])
    kmax = max(c for _, c in pairs)

    before = validate(model, heads, val_files, args.val_limit)
    initial = {k: {n: t.clone() for n, t in h.state_dict().items()} for k, h in heads.items()}
    print(f"# step 0 (linear shortcut, block-averaged): {json.dumps(before)}", flush=True)
    step, cpu0, t0 = 0, time.process_time(), time.time()
    cpu = lambda: (time.process_time() - cpu0) / args.threads  # noqa: E731
    total = args.steps or 10**9
    while step < total and cpu() < args.cpu_limit * 60:
        x = sampler.batch(args.batch)
        quality = torch.rand(args.batch) * 100
        yk = partial_latent(model, x, quality, kmax)
        lr = args.lr * min(1.0, (step + 1) / 50) * (0.1 if cpu() > 0.75 * args.cpu_limit * 60 else 1.0)
        for gr in opt.param_groups:
            gr["lr"] = lr * gr["scale"]
        loss = sum(F.mse_loss(h(yk[:, : h.channels]), box_downscale(x, h.scale)) for h in heads.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step:5d}  loss {float(loss):.5f}  lr {lr:.1e}  {cpu() / 60:.1f} CPU-min", flush=True)
    with torch.no_grad():  # the package stores weights as fp16: validate what ships
        for q in params:
            if q.numel() >= 256:
                q.copy_(q.half().float())
    after = validate(model, heads, val_files, args.val_limit)
    print(f"# step {step}: {json.dumps(after)}", flush=True)
    for k, h in heads.items():  # a head that training made worse (too short a run) ships as it started
        if after[k]["preview"] < before[k]["preview"]:
            h.load_state_dict(initial[k])
            after[k] = {**before[k], "kept_initial": True}
            print(f"# {k}: kept the initial head ({'as the package shipped it' if k in warm else 'linear'})", flush=True)

    src = args.package
    out = args.out or src
    tmp = Path(tempfile.mkdtemp(prefix=".previews-", dir=out.parent))
    try:
        shutil.rmtree(tmp)
        shutil.copytree(src, tmp)
        entries = []
        hy, wy = 32, 48  # Kodak's latent, for the MAC count
        chosen = {}
        for key, h in sorted(heads.items(), key=lambda kv: kv[1].channels):
            a = after[key]
            ok = a["preview"] >= a["full_then_downscale"] - args.max_gap
            best = chosen.get(h.scale)
            if best is None or (not best[1] and (ok or a["preview"] > after[best[0]]["preview"])):
                chosen[h.scale] = (key, ok)
        for s, (key, _) in sorted(chosen.items(), reverse=True):
            h = heads[key]
            name = f"preview_s{s}.onnx"
            y = torch.randn(1, h.channels, 8, 8)
            _export(h, (y,), tmp / name, ["y_hat"], ["x"], {"y_hat": {2: "h", 3: "w"}, "x": {2: "H", 3: "W"}})
            check = None
            if ort.available():
                with torch.no_grad():
                    ref = h(y).numpy()
                got = ort.run(tmp / name, {"y_hat": y.numpy()})["x"]
                check = float(np.abs(got - ref).max())
            macs = count_macs(h, torch.zeros(1, h.channels, hy, wy)) / (hy * wy * 256)
            entries.append({
                "scale": s, "file": name, "channels": h.channels, "halo": h.halo, "hidden": args.hidden, "up": h.up,
                "macs_per_pixel": round(macs, 1), "parity_max_abs": check,
                "validation_psnr_db": {"preview": after[key]["preview"], "full_then_downscale": after[key]["full_then_downscale"],
                                       "step0_linear": before[key]["preview"]},
                "candidates": {k: {"channels": heads[k].channels, **after[k], "step0_linear": before[k]["preview"]}
                               for k in heads if heads[k].scale == s},
            })
        m = json.loads((tmp / "manifest.json").read_text())
        entries, history = merge_heads(m.get("previews"), entries)
        m["previews"] = {
            "rules": ("decode at 1/s of the size: read the y stream's first `channels` channels (whole context slices, in "
                      "order; stop there), ŷ = (q + μ)/gain of those channels without the LRP refinement, x = preview_s{s}(ŷ) "
                      "(float32 [1,3,16h/s,16w/s] RGB, clamp to [0,1]); output size ceil(W/s)×ceil(H/s), the top-left part"),
            "reference": "the original averaged over s×s pixel blocks (area downscale)",
            "selection": f"per scale the candidate reading the fewest channels within {args.max_gap} dB of full decode + downscale on the validation set, else the best",
            "heads": entries,
            "training": {"command": args.command or " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]), "steps": step,
                         "crops_seen": step * args.batch, "crop": args.crop, "batch": args.batch, "lr": args.lr,
                         "cpu_minutes": round(cpu() / 60, 1), "wall_minutes": round((time.time() - t0) / 60, 1),
                         "threads": args.threads, "data": str(data), "validation": f"{args.val} × qualities {list(VAL_QUALITIES)}",
                         "torch": torch.__version__, "commit": git_commit()},
            **history,
        }
        files = {f.name: {"sha256": sha256(f), "bytes": f.stat().st_size} for f in sorted(tmp.iterdir()) if f.is_file() and f.name != "manifest.json"}
        m["files"] = files
        m["package_bytes"] = sum(v["bytes"] for v in files.values())
        if m["package_bytes"] > 16 * 1024 * 1024:
            raise SystemExit(f"package would be {m['package_bytes'] / 2**20:.1f} MiB, over the 16 MiB budget")
        (tmp / "manifest.json").write_text(json.dumps(m, indent=2, ensure_ascii=False) + "\n")
        verify_package(tmp)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            if old.exists():
                shutil.rmtree(old)
            out.rename(old)
        tmp.rename(out)
        if old:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    print(f"wrote {out}: {', '.join('1/' + str(e['scale']) for e in entries)} ({m['package_bytes'] / 2**20:.2f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
