"""A Vision Transformer that classifies a picture from the codec's latent tokens (one token per
16×16 patch: the decoded latent ŷ, M values: 192 for v5, 384 for v6), and the two baselines of the same size and
recipe on RGB 16×16 patches (of the decoded image, and of the original).

    tokens (B, N, C_in) → Linear → D, + class token, + position embedding (learned on a 16×16 grid,
    bilinearly resized to other grids), → depth × [pre-norm MHSA + MLP] → LayerNorm(class token)
    → Linear → classes

The ONNX export takes the token grid as an image-like tensor (1, C_in, H, W) with dynamic H, W
and also returns the class token's attention over the tokens in the last block (explain).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class VitConfig:
    in_channels: int = 192  # the codec's latent channels (192 for v5, 384 for v6), or 16·16·3 = 768 for RGB patches
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    grid: int = 16  # position embedding learned on grid × grid tokens (256² images)
    classes: int = 5
    dropout: float = 0.1
    merge: int = 1  # m > 1: each m×m block of input tokens is one ViT token (a stride-m conv embed)
    standardize: bool = False  # each input channel shifted and scaled by its training-set mean and std (buffers)

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, d = x.shape
        h = self.heads
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q * (d // h) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)  # (b, h, n, n)
        y = (attn @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x, attn


class TokenViT(nn.Module):
    def __init__(self, cfg: VitConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.standardize:  # set from the training data (set_standardization); saved with the weights
            self.register_buffer("in_mean", torch.zeros(1, cfg.in_channels, 1, 1))
            self.register_buffer("in_inv_std", torch.ones(1, cfg.in_channels, 1, 1))
        if cfg.merge > 1:
            self.embed = nn.Conv2d(cfg.in_channels, cfg.dim, cfg.merge, stride=cfg.merge)
        else:
            self.embed = nn.Linear(cfg.in_channels, cfg.dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        g = cfg.grid // cfg.merge
        self.pos = nn.Parameter(torch.zeros(1, cfg.dim, g, g))
        self.pos_cls = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)
        self.blocks = nn.ModuleList([Block(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.classes)

    def forward(self, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """grid: (B, C_in, H, W) tokens laid out as an image. Returns (logits, the class token's
        attention over the tokens in the last block, averaged over heads: (B, H·W), or
        (B, ⌊H/m⌋·⌊W/m⌋) with merge m)."""
        if self.cfg.standardize:
            grid = (grid - self.in_mean) * self.in_inv_std
        if self.cfg.merge > 1:
            e = self.embed(grid)  # (B, D, ⌊H/m⌋, ⌊W/m⌋): a trailing odd row or column is dropped
            b, _, h, w = e.shape
            t = e.flatten(2).transpose(1, 2)
        else:
            b, c, h, w = grid.shape
            t = self.embed(grid.flatten(2).transpose(1, 2))  # (B, N, D)
        # always resized (identity at 16×16): a Python `if` would be frozen by the ONNX trace
        pos = F.interpolate(self.pos, size=(h, w), mode="bilinear", align_corners=False)
        t = t + pos.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(b, -1, -1) + self.pos_cls, t], 1)
        attn = None
        for blk in self.blocks:
            x, attn = blk(x)
        logits = self.head(self.norm(x[:, 0]))
        return logits, attn[:, :, 0, 1:].mean(1)


def shift_tokens(x: torch.Tensor, rng, max_shift: int) -> torch.Tensor:
    """Training augmentation on a token grid (B, C, H, W): each sample moved by up to ±max_shift
    tokens in x and y, edges replicated. A latent token is a 16×16 patch, so this is the picture
    moved by multiples of 16 pixels, which the transform maps to (nearly) the same tokens."""
    if max_shift <= 0:
        return x
    b, _, h, w = x.shape
    p = F.pad(x, (max_shift,) * 4, mode="replicate")
    off = rng.integers(0, 2 * max_shift + 1, (b, 2))
    return torch.stack([p[i, :, oy : oy + h, ox : ox + w] for i, (oy, ox) in enumerate(off)])


@torch.no_grad()
def set_standardization(model: TokenViT, sample: torch.Tensor) -> None:
    """A standardizing model's input statistics from a sample of its training tokens (B, C, H, W):
    the latent's channels differ in scale by orders of magnitude (low frequencies first)."""
    mean = sample.mean(dim=(0, 2, 3), keepdim=True)
    std = sample.std(dim=(0, 2, 3), keepdim=True)
    model.in_mean.copy_(mean)
    model.in_inv_std.copy_(1.0 / std.clamp_min(1e-6))


def mix_tokens(x: torch.Tensor, rng, p: float) -> tuple[torch.Tensor, np.ndarray, float]:
    """Training augmentation on a token grid (B, C, H, W), with probability p per batch: CutMix (a
    random box of tokens from another sample of the batch, λ = the part kept) or, as often,
    MixUp (λ·x + (1 − λ)·other). Returns the tokens, the other samples' order and λ (1: unmixed);
    the loss is λ·CE(y) + (1 − λ)·CE(y[order])."""
    b, _, h, w = x.shape
    order = np.arange(b)
    if p <= 0 or rng.random() >= p:
        return x, order, 1.0
    order = rng.permutation(b)
    if rng.random() < 0.5:  # CutMix
        lam = float(rng.beta(1.0, 1.0))
        bh, bw = int(round(h * math.sqrt(1 - lam))), int(round(w * math.sqrt(1 - lam)))
        y0, x0 = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        x = x.clone()
        x[:, :, y0 : y0 + bh, x0 : x0 + bw] = x[order, :, y0 : y0 + bh, x0 : x0 + bw]
        return x, order, 1.0 - bh * bw / (h * w)
    lam = float(rng.beta(0.8, 0.8))
    return lam * x + (1 - lam) * x[order], order, lam


def rgb_patches(img: torch.Tensor, patch: int = 16) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] → (B, 3·patch², H/patch, W/patch): each 16×16 patch as one token."""
    b, c, h, w = img.shape
    x = img.reshape(b, c, h // patch, patch, w // patch, patch).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, c * patch * patch, h // patch, w // patch) - 0.5


def count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def cosine_lr(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return 0.5 * base * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
