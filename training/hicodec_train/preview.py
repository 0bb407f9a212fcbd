"""Shrink-on-load: small decoders that make a 1/2, 1/4 or 1/8 size picture straight from the latent.

A reduced-size decode does not need the whole decoder, nor even the whole latent. The channel
context codes the latent slice by slice, lowest frequencies first (the v5 channels start as a 16×16
DCT in frequency order), so a decoder can stop reading the stream after the first K channels; a
preview head then maps those K channels at /16 to (16/s)² pixels per token:

    x̂_s = shuffle_r( body(ŷ[:K]) + lin(ŷ[:K]) ) + 0.5        r = 16/s pixels per token side

- ŷ[:K] = (q + μ)/gain of the first slices, *before* the LRP refinement (which needs all channels),
  exactly what the decoder has after reading K channels;
- lin: a 1×1 conv K → 3·r², initialised as the block average of g_s's linear patch shortcut (the
  linear path decoded and box-downscaled, exactly);
- body: conv3×3 K→C, LeakyReLU, conv3×3 C→C, LeakyReLU, 1×1 C→3·r² (starts at zero);
  with `up` = u > 0 the body instead climbs u 2× steps inside the head (ShuffleUp to half the
  width, LeakyReLU, conv3×3, LeakyReLU at /8, then /4), so that its last 3×3 works at (or near)
  the output's own resolution, and ends in 1×1 → 3·(r/2^u)² and a pixel shuffle (a /16-only head
  reading 128 of v6's 384 channels stayed 1.1–1.4 dB below full decode + downscale).

Trained against the box-downscaled (area-averaged) original, with the codec frozen, at random
qualities: a few CPU-minutes. The heads are extra files of the model package, named in its
manifest's "previews" section; a package without them decodes in full and downscales.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .transforms import PATCH, ShuffleUp


class PreviewHead(nn.Module):
    def __init__(self, channels: int, scale: int, hidden: int = 96, shortcut: torch.Tensor | None = None, up: int = 0):
        """channels: K latent channels read; scale: s in {2, 4, 8} (output 1/s of the size);
        shortcut: g_s's linear patch shortcut weight (3·256, M, 1, 1) or None; up: 2× steps inside
        the body (at most log2(16/s))."""
        super().__init__()
        if PATCH % scale:
            raise ValueError(f"scale must divide {PATCH}")
        self.channels, self.scale = channels, scale
        r = PATCH // scale
        self.r = r
        if not 0 <= up or (r >> up) << up != r:
            raise ValueError(f"up={up}: the head makes {r}×{r} pixels per token")
        self.up = up
        layers: list[nn.Module] = [nn.Conv2d(channels, hidden, 3, padding=1), nn.LeakyReLU(0.1),
                                   nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.1)]
        c = hidden
        for _ in range(up):
            c2 = max(16, c // 2)
            layers += [ShuffleUp(c, c2), nn.LeakyReLU(0.1), nn.Conv2d(c2, c2, 3, padding=1), nn.LeakyReLU(0.1)]
            c = c2
        rr = r >> up
        last = nn.Conv2d(c, 3 * rr * rr, 1)
        layers.append(last)
        if up and rr > 1:
            layers.append(nn.PixelShuffle(rr))
        self.body = nn.Sequential(*layers)
        self.lin = nn.Conv2d(channels, 3 * r * r, 1, bias=False)
        self.shuffle = nn.PixelShuffle(r)
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
            self.lin.weight.zero_()
            if shortcut is not None:
                self.lin.weight.copy_(block_average_shortcut(shortcut, channels, scale))

    @property
    def halo(self) -> int:
        """Latent positions each side the head sees: two 3×3 at /16, then one 3×3 per 2× step
        (half a position at /8, a quarter at /4), rounded up."""
        return 2 + (1 if self.up else 0)

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        if self.up:
            return self.body(y_hat) + self.shuffle(self.lin(y_hat)) + 0.5
        return self.shuffle(self.body(y_hat) + self.lin(y_hat)) + 0.5


def block_average_shortcut(w: torch.Tensor, channels: int, scale: int) -> torch.Tensor:
    """g_s's shortcut (3·P·P, M, 1, 1), PixelShuffle order c·P² + i·P + j, averaged over s×s pixel
    blocks and cut to the first `channels` inputs → (3·r², channels, 1, 1), order c·r² + a·r + b."""
    r = PATCH // scale
    w = w[:, :channels, 0, 0].reshape(3, PATCH, PATCH, channels)
    w = w.reshape(3, r, scale, r, scale, channels).mean(dim=(2, 4))
    return w.reshape(3 * r * r, channels, 1, 1).clone()


def box_downscale(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Area average over s×s blocks (H, W multiples of s): the reference a preview is trained to
    and measured against (bench/preview.ts downscales the same way)."""
    return F.avg_pool2d(x, scale)


@torch.no_grad()
def partial_latent(model, x: torch.Tensor, quality: torch.Tensor, channels: int, y: torch.Tensor | None = None) -> torch.Tensor:
    """ŷ of the first `channels` channels as the decoder has it after reading that many: the real
    quantized path slice by slice, no LRP refinement, divided by the gain. quality: (B,); y: g_a(x)
    when the caller has it already."""
    g = torch.exp(model.log_gain_for_quality(quality))[:, :, None, None]
    y_g = (model.g_a(x) if y is None else y) * g
    z_hat = torch.round(model.h_a(y_g))
    mu_h = model.h_s_mean(z_hat)
    ctx = model.ctx
    if ctx is None:
        y_hat_g = torch.round(y_g - mu_h) + mu_h
        return (y_hat_g / g)[:, :channels]
    parts = []
    for i, (s, c) in enumerate(zip(ctx.starts, ctx.slices)):
        if s >= channels:
            break
        mu = ctx.mean_of(i, mu_h, torch.cat(parts, 1) if i else None)
        parts.append(torch.round(y_g[:, s : s + c] - mu) + mu)
    return (torch.cat(parts, 1)[:, :channels]) / g[:, :channels]


def slice_boundaries(model) -> list[int]:
    """Channel counts at which a decoder can stop reading (the ends of the context slices)."""
    if model.ctx is None:
        return [model.cfg.M]
    return [s + c for s, c in zip(model.ctx.starts, model.ctx.slices)]
