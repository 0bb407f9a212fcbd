"""Building blocks: GDN for the CNN analysis transform, Swin-style windowed attention for the
Transformer synthesis transform.

Every shape computation here is written so that the TorchScript ONNX exporter keeps H and W
dynamic (see ../shared/design/FIELD-NOTES.md): padding is computed from ``x.shape`` as
``(ws - H % ws) % ws``, crops are plain slices, and the shifted-window mask is built from
``arange`` comparisons instead of a fixed-size buffer.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé et al. 2016), simplified parametrization:
    y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2), with beta, gamma kept non-negative by
    squaring a stored parameter (as CompressAI's ``NonNegativeParametrizer`` does, minus the
    pedestal)."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_min = beta_min
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels)).view(channels, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta * self.beta + self.beta_min
        gamma = self.gamma * self.gamma
        norm = torch.sqrt(F.conv2d(x * x, gamma, beta))
        return x * norm if self.inverse else x / norm


def conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


class LayerNorm(nn.LayerNorm):
    """nn.LayerNorm that also takes bf16 input under CPU autocast (PyTorch 1.13's CPU autocast
    leaves layer_norm out and then refuses bf16 input with fp32 weights; CUDA autocast runs it
    in fp32 anyway). Same parameters, same exported graph for fp32 input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != self.weight.dtype:
            return super().forward(x.to(self.weight.dtype)).to(x.dtype)
        return super().forward(x)


class PixelShuffleUp(nn.Module):
    """conv3x3 (cin → 4·cout) followed by a 2× pixel shuffle (exported as DepthToSpace)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = conv(cin, cout * 4, 3)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


def relative_position_index(ws: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :]  # 2, N, N
    rel = rel.permute(1, 2, 0) + (ws - 1)
    return rel[..., 0] * (2 * ws - 1) + rel[..., 1]  # N, N


class WindowAttention(nn.Module):
    """Multi-head self-attention inside non-overlapping ws×ws windows with a learned relative
    position bias (Liu et al. 2021)."""

    def __init__(self, dim: int, heads: int, ws: int):
        super().__init__()
        assert dim % heads == 0
        self.dim, self.heads, self.ws = dim, heads, ws
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.rel_bias = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        nn.init.trunc_normal_(self.rel_bias, std=0.02)
        self.register_buffer("rel_index", relative_position_index(ws), persistent=False)
        # When set (by the explain export), the last attention weights are kept here.
        self.keep_attention = False
        self.last_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        # x: (B·nW, N, C); mask: (nW, N, N) additive, or None
        bn, n, c = x.shape
        qkv = self.qkv(x).reshape(bn, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)  # (B·nW, h, N, N)
        bias = self.rel_bias[self.rel_index.reshape(-1)].reshape(n, n, self.heads).permute(2, 0, 1)
        attn = attn + bias.unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.reshape(-1, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.reshape(-1, self.heads, n, n)
        attn = attn.softmax(dim=-1)
        if self.keep_attention:
            self.last_attention = attn
        out = (attn @ v).transpose(1, 2).reshape(bn, n, c)
        return self.proj(out)


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    b, h, w, c = x.shape
    x = x.reshape(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def window_reverse(x: torch.Tensor, ws: int, b: int, h: int, w: int) -> torch.Tensor:
    c = x.shape[-1]
    x = x.reshape(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


def shifted_window_mask(hp: torch.Tensor, wp: torch.Tensor, ws: int, shift: int, device) -> torch.Tensor:
    """Additive mask (nW, N, N) for shifted windows, built from arange comparisons so that the
    exported graph stays small and dynamic. Region ids follow the Swin construction: rows
    [0, H-ws), [H-ws, H-shift), [H-shift, H) and the same for columns."""
    ih = torch.arange(hp, device=device)
    iw = torch.arange(wp, device=device)
    rh = (ih >= hp - ws).to(torch.int64) + (ih >= hp - shift).to(torch.int64)
    rw = (iw >= wp - ws).to(torch.int64) + (iw >= wp - shift).to(torch.int64)
    region = (rh[:, None] * 3 + rw[None, :]).to(torch.float32)  # (Hp, Wp)
    win = window_partition(region[None, :, :, None], ws)[..., 0]  # (nW, N)
    diff = win[:, :, None] - win[:, None, :]
    return (diff != 0).to(torch.float32) * -100.0


class SwinBlock(nn.Module):
    """Pre-norm Transformer block on (B, H, W, C) tokens: (shifted) window attention + MLP."""

    def __init__(self, dim: int, heads: int, ws: int = 8, shift: bool = False, mlp_ratio: float = 2.0):
        super().__init__()
        self.ws = ws
        self.shift = ws // 2 if shift else 0
        self.norm1 = LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, ws)
        self.norm2 = LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        ws = self.ws
        t = self.norm1(x)
        pad_b = (ws - h % ws) % ws
        pad_r = (ws - w % ws) % ws
        t = F.pad(t, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = t.shape[1], t.shape[2]
        mask = None
        if self.shift:
            t = torch.roll(t, shifts=(-self.shift, -self.shift), dims=(1, 2))
            mask = shifted_window_mask(hp, wp, ws, self.shift, x.device)
        t = self.attn(window_partition(t, ws), mask)
        t = window_reverse(t, ws, b, hp, wp)
        if self.shift:
            t = torch.roll(t, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + t[:, :h, :w, :]
        return x + self.mlp(self.norm2(x))


class SwinStage(nn.Module):
    """A stack of Swin blocks alternating regular and shifted windows, on NCHW tensors."""

    def __init__(self, dim: int, depth: int, heads: int, ws: int = 8, mlp_ratio: float = 2.0):
        super().__init__()
        self.blocks = nn.ModuleList(
            [SwinBlock(dim, heads, ws, shift=(i % 2 == 1), mlp_ratio=mlp_ratio) for i in range(depth)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.permute(0, 2, 3, 1)
        for blk in self.blocks:
            t = blk(t)
        return t.permute(0, 3, 1, 2)
