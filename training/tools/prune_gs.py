#!/usr/bin/env python3
"""Narrows the hidden layer of g_s's residual blocks in a trained v5-family checkpoint (issue 27:
g_s ≤ 12 kMAC/px).

Each residual block at /8, /4 and /2 is x + conv2(LeakyReLU(conv1(x))), 3×3 convolutions of c → c
→ c channels: 2,592 MACs per output pixel apiece, 7,776 of v7's 13,128. Narrowing the hidden
layer to h channels costs c·h·18 / stride² instead. Which h channels stay, and what conv2 becomes:

1. calibration: the real quantized path (round, not noise) on CID22 *training* crops at several
   trained λ points; each block's input is recorded;
2. each hidden channel j is scored by the energy of its own contribution to the block's output,
   ‖conv2[:, j] ∗ a_j‖², and the h best stay (conv1's rows and bias follow);
3. conv2 is refitted by least squares from the kept channels' 3×3 neighbourhoods (im2col) to the
   full block's output on the same crops, so that the dropped channels' part is taken over by the
   kept ones wherever they correlate.

The channels are chosen on the EMA weights (what is evaluated and shipped) and the same ones are
kept in the last weights (a running average of weights that kept different channels would mix
unrelated ones: the first A/B did, and its EMA lost 0.9 dB at λ 0.18 while its last weights lost
0.07); conv2 is refitted for each with its own activations, and the Adam moments of the narrowed
tensors are cut to the kept channels, so that training resumes from
the written checkpoint with its optimizer (train.py --resume): a narrowed campaign goes on where the
full one stood. The bitstream does not change (nothing before g_s does): only the picture does, and
`--check` reports what the narrowing costs in PSNR on cid22-val before any training.

  /usr/bin/python3 training/tools/prune_gs.py runs/campaign/last.pt --hidden 72,36,18 \\
      --out runs/ab-prune/gs/last.pt --check
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hicodec_train.alloc import tune_allocator  # noqa: E402
from hicodec_train.data import list_images, load_image  # noqa: E402
from hicodec_train.macs import model_macs_per_pixel  # noqa: E402
from hicodec_train.metrics import psnr  # noqa: E402
from hicodec_train.model import HiCodec, ModelConfig, load_checkpoint, pad_to  # noqa: E402
from train import name_prefixes, save_atomic  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
BLOCKS = ("res8", "res4", "res2")


def calibration_crops(root: Path, n: int, size: int, seed: int = 0) -> torch.Tensor:
    """n random size×size crops, one per image, from the first n images of a folder (sorted)."""
    g = np.random.default_rng(seed)
    out = []
    for f in list_images([root])[:n]:
        x = load_image(f)[0]
        h, w = x.shape[-2:]
        y0, x0 = int(g.integers(0, h - size + 1)), int(g.integers(0, w - size + 1))
        out.append(x[:, y0 : y0 + size, x0 : x0 + size])
    return torch.stack(out)


def calibration_qualities(cfg: ModelConfig, n: int = 4) -> list:
    """Up to n trained quality points, evenly spread from the lowest to the highest."""
    return [cfg.qualities[i] for i in np.unique(np.linspace(0, len(cfg.qualities) - 1, n).round().astype(int))]


@torch.no_grad()
def block_inputs(model: HiCodec, crops: torch.Tensor, qualities) -> dict[str, torch.Tensor]:
    """The input of each residual block of g_s on the real quantized path, crops × qualities."""
    got = {b: [] for b in BLOCKS}
    hooks = [getattr(model.g_s, b).register_forward_hook(lambda m, i, o, b=b: got[b].append(i[0])) for b in BLOCKS]
    try:
        for q in qualities:
            gain = model.gain_for_quality(q)[None].expand(crops.shape[0], -1)
            model(crops, gain, noise=False)
    finally:
        for h in hooks:
            h.remove()
    return {b: torch.cat(v) for b, v in got.items()}


@torch.no_grad()
def narrow_block(block, x: torch.Tensor, hidden: int, keep: torch.Tensor | None = None, samples: int = 60000, seed: int = 0):
    """(keep, conv1 weight, conv1 bias, conv2 weight, conv2 bias, relative error of the refit).
    `keep`: the hidden channels to keep (default: the `hidden` of most output energy)."""
    c1, act, c2 = block.body
    a = act(c1(x))
    target = c2(a)  # (N, c, H, W) with bias
    w2 = c2.weight
    if keep is None:
        energy = torch.stack([F.conv2d(a[:, j : j + 1], w2[:, j : j + 1], padding=1).square().sum() for j in range(a.shape[1])])
        keep = torch.sort(torch.topk(energy, hidden).indices).values
    n, _, hh, ww = a.shape
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n * hh * ww, generator=g)[:samples]  # sampled output positions
    bi, yi, xi = idx // (hh * ww), (idx // ww) % hh, idx % ww
    ap = F.pad(a[:, keep], (1, 1, 1, 1))  # zero padding, as the convolution's
    # each position's 3×3 neighbourhood, (S, h, 3, 3): the order of weight.reshape(c, -1)
    nb = torch.stack([torch.stack([ap[bi, :, yi + dy, xi + dx] for dx in range(3)], -1) for dy in range(3)], -2)
    f64 = torch.cat([nb.reshape(len(idx), -1), torch.ones(len(idx), 1)], 1).double()
    t64 = target[bi, :, yi, xi].double()
    gram = f64.T @ f64
    ridge = 1e-6 * gram.diagonal().mean() * torch.eye(gram.shape[0], dtype=torch.float64)
    sol = torch.linalg.solve(gram + ridge, f64.T @ t64)  # (h·9 + 1, c)
    w_new = sol[:-1].T.reshape(w2.shape[0], hidden, 3, 3).float()
    b_new = sol[-1].float()
    fit = F.conv2d(a[:, keep], w_new, b_new, padding=1)
    base = F.conv2d(a[:, keep], w2[:, keep], c2.bias, padding=1)  # the kept channels as they were
    res = lambda y: float((y - target).square().sum() / target.square().sum().clamp_min(1e-12))  # noqa: E731
    return keep, c1.weight[keep].clone(), c1.bias[keep].clone(), w_new, b_new, dict(refit=res(fit), cut_only=res(base))


def narrow_state(state: dict, cfg: ModelConfig, hidden, crops, qualities, given: dict | None = None) -> tuple[dict, dict, dict]:
    """A state dict with g_s's residual blocks narrowed; the kept indices and fit errors per block.
    `given` (block → channel indices): keep these instead of choosing. The EMA and the last weights
    must keep the same channels, or the EMA's running average mixes unrelated ones."""
    model = loaded(state, cfg)
    xs = block_inputs(model, crops, qualities)
    out, keeps, errs = dict(state), {}, {}
    for b, h in zip(BLOCKS, hidden):
        blk = getattr(model.g_s, b)
        if h >= blk.body[0].out_channels:
            continue
        keep, w1, b1, w2, b2, err = narrow_block(blk, xs[b], h, None if given is None else given[b])
        p = f"g_s.{b}.body"
        out.update({f"{p}.0.weight": w1, f"{p}.0.bias": b1, f"{p}.2.weight": w2, f"{p}.2.bias": b2})
        keeps[b], errs[b] = keep, err
    return out, keeps, errs


def narrow_optimizer(opt: dict, cfg: ModelConfig, keeps: dict, freeze: list[str]) -> dict:
    """Adam moments of the narrowed tensors cut to the kept channels (conv1: rows; conv2: columns).
    The optimizer's parameter order is train.py's: the main parameters in model order (not the
    quantiles, not log_gain, not the frozen ones), then log_gain in its own group."""
    params = dict(HiCodec(cfg).named_parameters())
    names = [n for n in params if not n.endswith("quantiles") and n != "log_gain" and not n.startswith(tuple(freeze))]
    ids = dict(zip(names, opt["param_groups"][0]["params"]))
    wrong = [n for n in names if ids.get(n) in opt["state"] and opt["state"][ids[n]]["exp_avg"].shape != params[n].shape]
    if len(opt["param_groups"][0]["params"]) != len(names) or wrong:
        raise SystemExit(f"the optimizer has {len(opt['param_groups'][0]['params'])} main parameters, this model "
                         f"{len(names)} with --freeze {','.join(freeze) or '(none)'}{' and other shapes' if wrong else ''}: "
                         "give the checkpoint's --freeze (a run made with --train-only is not supported)")
    state = {k: dict(v) for k, v in opt["state"].items()}
    for b, keep in keeps.items():
        p = f"g_s.{b}.body"
        for name, dim in ((f"{p}.0.weight", 0), (f"{p}.0.bias", 0), (f"{p}.2.weight", 1)):
            st = state.get(ids[name])
            if st is None:
                continue
            for k in ("exp_avg", "exp_avg_sq"):
                st[k] = st[k].index_select(dim, keep).clone()
    return dict(opt, state=state)


def loaded(state: dict, cfg: ModelConfig) -> HiCodec:
    m = HiCodec(cfg)
    m.load_state_dict(state)
    return m.eval()


@torch.no_grad()
def check(state_before: dict, cfg_before: ModelConfig, state_after: dict, cfg_after: ModelConfig, files, qualities) -> list[dict]:
    """Mean PSNR on the real quantized path of both weight sets (the rate is the same)."""
    images = [load_image(f) for f in files]

    def run(m: HiCodec) -> list[float]:
        res = []
        for q in qualities:
            vals = []
            for x in images:
                h, w = x.shape[-2:]
                xh = m(pad_to(x), m.gain_for_quality(q)[None], noise=False)["x_hat"][..., :h, :w]
                vals.append(psnr((xh.clamp(0, 1) * 255).round().numpy(), (x * 255).round().numpy()))
            res.append(float(np.mean(vals)))
        return res

    before, after = run(loaded(state_before, cfg_before)), run(loaded(state_after, cfg_after))
    return [dict(quality=q, psnr_before=round(a, 3), psnr_after=round(b, 3), delta=round(b - a, 3)) for q, a, b in zip(qualities, before, after)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ckpt", type=Path, help="a training checkpoint (train.py's last.pt) or a portable one")
    p.add_argument("--hidden", required=True, help="hidden widths of the blocks at /8, /4, /2, e.g. 72,36,18")
    p.add_argument("--out", type=Path, default=None, help="write the narrowed checkpoint here")
    p.add_argument("--train", type=Path, default=SHARED / "train-src" / "cid22", help="calibration images (training set)")
    p.add_argument("--crops", type=int, default=16, help="calibration crops (one per image)")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--freeze", default="h_a.", help="the --freeze the checkpoint was trained with, when it does not record it (its optimizer's groups; "
                   "default h_a., the campaign's since 2026-12-02; '' for none)")
    p.add_argument("--check", action="store_true", help="PSNR before/after on cid22-val (the rate does not change)")
    p.add_argument("--val", type=Path, default=SHARED / "cid22-val")
    p.add_argument("--val-images", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tune_allocator()
    t0 = time.time()
    ck = load_checkpoint(args.ckpt)
    cfg = ModelConfig(**ck["config"])
    if cfg.arch != "v5":
        raise SystemExit("only the v5 family's g_s has residual blocks to narrow")
    hidden = tuple(int(v) for v in args.hidden.split(","))
    widths = cfg.gs_res_hidden or cfg.gs_convs
    if len(hidden) != 3 or any(h < 1 or h > w for h, w in zip(hidden, widths)):
        raise SystemExit(f"--hidden: three widths, each at most the current {widths}")
    new_cfg = ModelConfig(**{**cfg.to_dict(), "gs_res_hidden": hidden})
    crops = calibration_crops(args.train, args.crops, args.crop)
    qualities = calibration_qualities(cfg)
    report = dict(ckpt=str(args.ckpt), hidden=hidden, calibration=dict(images=str(args.train), crops=int(crops.shape[0]), size=args.crop,
                                                                        qualities=qualities))
    new = dict(ck, config=new_cfg.to_dict())
    keeps = None  # chosen on the EMA (what is evaluated and shipped) when there is one, kept alike in the last weights
    for key in ("ema", "model"):
        if ck.get(key) is None:
            continue
        new[key], keeps, errs = narrow_state(ck[key], cfg, hidden, crops, qualities, keeps)
        report[key] = {b: dict(kept=len(keeps[b]), **{k: round(v, 5) for k, v in errs[b].items()}) for b in keeps}
    if ck.get("optimizer") is not None:
        was = ck.get("record", {}).get("freeze")  # recorded by train.py since 2026-12-04; else the flag
        new["optimizer"] = narrow_optimizer(ck["optimizer"], cfg, keeps, list(was) if was is not None else list(name_prefixes(args.freeze)))
    report["kept"] = {b: k.tolist() for b, k in keeps.items()}
    report["g_s_macs_per_px"] = dict(before=model_macs_per_pixel(HiCodec(cfg))["g_s"], after=model_macs_per_pixel(HiCodec(new_cfg))["g_s"])
    before = ck.get("record", {}).get("gs_narrowed", [])
    new["record"] = {**ck.get("record", {}), "gs_narrowed": [*before, dict(hidden=hidden, step=ck.get("step"), tool="training/tools/prune_gs.py")]}
    if args.check:
        files = list_images([args.val])[: args.val_images]
        weights = "ema" if ck.get("ema") is not None else "model"
        report["check"] = dict(weights=weights, images=len(files),
                               rows=check(ck[weights], cfg, new[weights], new_cfg, files, [0, 25, 50, 75, 100]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_atomic(new, args.out)
        report["out"] = str(args.out)
    report["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
