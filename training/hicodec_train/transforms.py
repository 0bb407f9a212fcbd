"""The v5 transforms: built for the compute this project has (two CPU cores).

Measured with torch 1.13 on 2 threads, convolutions train at about twice the rate per MAC of the
Swin blocks, and the v4 transforms spent most of a step at /4 and /2. So:

- g_a (≤ 25 kMAC/px): conv5×5 /2 + GDN, conv3×3 /4 + GDN, conv3×3 /8 + GDN + a residual block,
  conv3×3 /16; plus a linear 16×16-patch shortcut (a stride-16 conv, 3 MACs per latent channel).
- g_s (≤ 12 kMAC/px): a Transformer over the 16×16-patch tokens — windowed multi-head self-attention
  with a relative position bias and MLPs at /16 — then 1×1 conv + pixel shuffle up to /8, /4, /2,
  /1 with a residual 3×3 block at each of /8, /4 and /2; plus the linear shortcut back to pixels
  (1×1 conv to 768 channels and a 16× pixel shuffle).

The shortcuts start as an orthonormal 16×16 DCT in an opponent colour space (the 192 basis
functions of lowest frequency, luma first), scaled so that quantization step 1 is fine; the
non-linear synthesis path starts at zero. At step 0 the model is a block transform coder with a
learned entropy model, and training adds what the linear path cannot represent (as the auxiliary
linear shortcut of AuxT, ICLR 2025, speeds up convergence). Channel order follows frequency, so
the channel context's first slices hold the DC and lowest frequencies.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from .layers import GDN, SwinStage, conv

PATCH = 16
SHORTCUT_GAIN = 16.0  # y = 16 · DCT coefficients: step 1 ≈ 41 dB on the linear path alone


class ResBlock(nn.Module):
    """x + conv3×3(LeakyReLU(conv3×3(x))); the hidden width defaults to c (tools/prune_gs.py
    narrows it in trained weights)."""

    def __init__(self, c: int, hidden: int | None = None):
        super().__init__()
        h = hidden or c
        self.body = nn.Sequential(conv(c, h, 3), nn.LeakyReLU(0.1), conv(h, c, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ShuffleUp(nn.Module):
    """1×1 conv (cin → 4·cout) and a 2× pixel shuffle: upsampling for a quarter of a 3×3's cost;
    the 3×3 work happens at the new resolution."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, 4 * cout, 1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


def dct_basis(m: int, n: int = PATCH, chroma_penalty: int = 4) -> torch.Tensor:
    """(m, 3, n, n) orthonormal basis: 2-D DCT-II of n×n patches in the orthonormal opponent colour
    space (R+G+B)/√3, (R−B)/√2, (R−2G+B)/√6; the m functions of lowest u+v (+ chroma_penalty for
    the two chroma planes), in that order."""
    k = torch.arange(n, dtype=torch.float64)
    d = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * math.sqrt(2 / n)
    d[0] /= math.sqrt(2)  # d[u, i]: orthonormal rows
    colours = torch.tensor([[1, 1, 1], [1, 0, -1], [1, -2, 1]], dtype=torch.float64)
    colours = colours / colours.norm(dim=1, keepdim=True)
    cand = sorted(((u + v + (chroma_penalty if c else 0), c, max(u, v), u, v) for c in range(3) for u in range(n) for v in range(n)))
    if m > len(cand):
        raise ValueError(f"at most {len(cand)} basis functions for {n}×{n}×3 patches")
    out = torch.empty(m, 3, n, n, dtype=torch.float64)
    for j, (_, c, _, u, v) in enumerate(cand[:m]):
        out[j] = colours[c][:, None, None] * (d[u][:, None] * d[v][None, :])[None]
    return out.float()


class AnalysisV5(nn.Module):
    """g_a, v5. `stages` keeps v4's layout (stage i ends at stride 2^(i+1), its last module's
    output is the explain feature map; `stages[-1][0]` is the last conv)."""

    def __init__(self, cfg):
        super().__init__()
        c2, c4, c8 = cfg.ga_dims
        m = cfg.M
        self.stages = nn.ModuleList(
            [
                nn.Sequential(conv(3, c2, 5, 2), GDN(c2)),
                nn.Sequential(conv(c2, c4, 3, 2), GDN(c4)),
                nn.Sequential(conv(c4, c8, 3, 2), GDN(c8), ResBlock(c8)),
                nn.Sequential(conv(c8, m, 3, 2)),
            ]
        )
        self.shortcut = nn.Conv2d(3, m, PATCH, stride=PATCH, bias=False) if cfg.shortcut else None
        if self.shortcut is not None:
            with torch.no_grad():
                self.shortcut.weight.copy_(SHORTCUT_GAIN * dct_basis(m))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        x = x - 0.5
        lin = self.shortcut(x) if self.shortcut is not None else None
        feats = []
        for s in self.stages:
            x = s(x)
            feats.append(x)
        y = x + lin if lin is not None else x
        return (y, feats) if return_features else y


class SynthesisV5(nn.Module):
    """g_s, v5: Swin blocks on the /16 tokens (`stage16`, as the explain export expects), then
    residual conv stages at /8, /4, /2, and the linear patch shortcut."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg.gs_dims[0]
        c8, c4, c2 = cfg.gs_convs
        h8, h4, h2 = cfg.gs_res_hidden or (None, None, None)
        self.inp = nn.Conv2d(cfg.M, d, 1)
        self.stage16 = SwinStage(d, cfg.gs_depths[0], cfg.gs_heads[0], cfg.window, cfg.mlp_ratio)
        self.up8, self.res8 = ShuffleUp(d, c8), ResBlock(c8, h8)
        self.up4, self.res4 = ShuffleUp(c8, c4), ResBlock(c4, h4)
        self.up2, self.res2 = ShuffleUp(c4, c2), ResBlock(c2, h2)
        self.out = ShuffleUp(c2, 3)
        self.act = nn.LeakyReLU(0.1)
        with torch.no_grad():  # the non-linear path starts at zero: x̂ = linear shortcut at step 0
            self.out.conv.weight.zero_()
            self.out.conv.bias.zero_()
        self.shortcut = None
        if cfg.shortcut:
            self.shortcut = nn.Sequential(nn.Conv2d(cfg.M, 3 * PATCH * PATCH, 1, bias=False), nn.PixelShuffle(PATCH))
            with torch.no_grad():
                b = dct_basis(cfg.M)  # (M, 3, 16, 16) → weight (3·256, M, 1, 1), PixelShuffle channel order c·256 + i·16 + j
                self.shortcut[0].weight.copy_(b.reshape(cfg.M, -1).t()[:, :, None, None] / SHORTCUT_GAIN)

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        x = self.stage16(self.inp(y_hat))
        x = self.res8(self.act(self.up8(x)))
        x = self.res4(self.act(self.up4(x)))
        x = self.res2(self.act(self.up2(x)))
        x = self.out(self.act(x))
        if self.shortcut is not None:
            x = x + self.shortcut(y_hat)
        return x + 0.5
