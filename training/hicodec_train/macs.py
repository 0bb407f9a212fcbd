"""Multiply–accumulate counts per image pixel, measured by running each sub-network once with
forward hooks: Conv2d, Linear, GDN (a 1×1 conv over x²), and the two attention matmuls
(QKᵀ and AV) of every window. Element-wise ops (norms, softmax, GELU, adds) are not counted,
as is the convention in the learned-compression literature."""
from __future__ import annotations

import torch
import torch.nn as nn

from .intnet import IntConv
from .layers import GDN, WindowAttention


def count_macs(module: nn.Module, *inputs) -> int:
    total = 0
    hooks = []

    def conv_hook(m, inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] if isinstance(m, nn.Conv2d) else 9
        cin = inp[0].shape[1] // (m.groups if isinstance(m, nn.Conv2d) else 1)
        total += out.numel() * cin * k

    def linear_hook(m, inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    def gdn_hook(m, inp, out):
        nonlocal total
        total += out.numel() * inp[0].shape[1]

    def attn_hook(m, inp, out):
        nonlocal total
        bn, n, c = inp[0].shape
        total += 2 * bn * n * n * c

    for m in module.modules():
        if isinstance(m, (nn.Conv2d, IntConv)):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, GDN):
            hooks.append(m.register_forward_hook(gdn_hook))
        elif isinstance(m, WindowAttention):
            hooks.append(m.register_forward_hook(attn_hook))
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return total


class _Call(nn.Module):
    """Counts the modules of `owner` while running `fn`."""

    def __init__(self, owner: nn.Module, fn):
        super().__init__()
        self.owner, self.fn = owner, fn

    def forward(self, *a):
        return self.fn(*a)


def model_macs_per_pixel(model, h: int = 512, w: int = 768) -> dict:
    """MACs per *image* pixel of each sub-network at an h×w image (default: Kodak size)."""
    cfg = model.cfg
    px = h * w
    x = torch.zeros(1, 3, h, w)
    y = torch.zeros(1, cfg.M, h // 16, w // 16)
    z = torch.zeros(1, cfg.Nz, h // 64, w // 64)
    res = {
        "g_a": count_macs(model.g_a, x),
        "h_a": count_macs(model.h_a, y),
        "h_s_mean": count_macs(model.h_s_mean, z),
        "g_s": count_macs(model.g_s, y),
    }
    if model.ctx is None:
        res["h_s_scale"] = count_macs(model.h_s_scale, z)
    else:
        res["h_s_scale"] = count_macs(_Call(model.h_s_scale, model.h_s_scale.hidden), z)
        slices = context_slice_macs(model.ctx, y, torch.zeros(1, cfg.hs_hidden, h // 16, w // 16))
        res["context"] = sum(slices)
    out = {k: round(v / px, 1) for k, v in res.items()}
    if model.ctx is not None:
        out["context_slices"] = [round(v / px, 1) for v in slices]
    out["measured_at"] = f"{w}x{h}"
    return out


def context_slice_macs(ctx, y: torch.Tensor, h: torch.Tensor) -> list[int]:
    """MACs of each slice's scale and mean nets, then of the LRP (last entry): their sum is the
    channel context's work for one image; a reduced decode that reads the first slices runs those."""
    qs, yhs, out = [], [], []
    for i, (s, c) in enumerate(zip(ctx.starts, ctx.slices)):
        q_prev = torch.cat(qs, 1) if i else None
        yh_prev = torch.cat(yhs, 1) if i else None
        got = {}

        def run(i=i, q_prev=q_prev, yh_prev=yh_prev):
            ctx.scale_index(i, h, q_prev)
            got["mu"] = ctx.mean_of(i, y, yh_prev)

        out.append(count_macs(_Call(ctx, run)))
        mu = got["mu"]
        qs.append(torch.round(y[:, s : s + c] - mu))
        yhs.append(qs[-1] + mu)
    yh = torch.cat(yhs, 1)
    out.append(count_macs(_Call(ctx, lambda: ctx.refine(y, yh))))
    return out
