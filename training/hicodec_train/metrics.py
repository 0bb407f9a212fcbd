"""Image quality metrics and Bjøntegaard deltas.

- PSNR over all RGB samples of 8-bit images (peak 255).
- MS-SSIM as in Wang et al. 2003 with the usual constants (11-tap Gaussian, σ = 1.5, five
  scales with weights 0.0448 … 0.1333, 2×2 average pooling), computed per RGB channel and
  averaged, the same convention as pytorch_msssim / CompressAI's results.
- BD-rate / BD-PSNR with piecewise cubic Hermite interpolation over the overlapping interval.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    c = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(c**2) / (2 * sigma**2))
    return g / g.sum()


def _ssim(x: torch.Tensor, y: torch.Tensor, win: torch.Tensor, data_range: float):
    c = x.shape[1]
    wh = win.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    wv = win.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def filt(t):
        return F.conv2d(F.conv2d(t, wh, groups=c), wv, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx * mx
    syy = filt(y * y) - my * my
    sxy = filt(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = ((2 * mx * my + c1) / (mx * mx + my * my + c1)) * cs
    return ssim.flatten(2).mean(-1), cs.flatten(2).mean(-1)


def ms_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """a, b: HxWx3 uint8 (or float) images. Needs min(H, W) > 160 (5 scales of an 11-tap window)."""
    x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).permute(2, 0, 1)[None]
    y = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float64)).permute(2, 0, 1)[None]
    if min(x.shape[-2:]) <= 160:
        raise ValueError("MS-SSIM needs images larger than 160 pixels on each side")
    win = _gauss()
    w = torch.tensor(MS_WEIGHTS, dtype=torch.float64)
    vals = []
    for i in range(len(MS_WEIGHTS)):
        ssim, cs = _ssim(x, y, win, data_range)
        if i < len(MS_WEIGHTS) - 1:
            vals.append(torch.relu(cs))
            pad = [0, x.shape[3] % 2, 0, x.shape[2] % 2]
            x = F.avg_pool2d(F.pad(x, pad, mode="replicate") if any(pad) else x, 2)
            y = F.avg_pool2d(F.pad(y, pad, mode="replicate") if any(pad) else y, 2)
    vals.append(torch.relu(ssim))
    stack = torch.stack(vals, dim=0)  # levels, N, C
    return float(torch.prod(stack ** w.view(-1, 1, 1), dim=0).mean())


def _pchip_integral(xs: np.ndarray, ys: np.ndarray, lo: float, hi: float) -> float:
    from scipy.interpolate import PchipInterpolator

    order = np.argsort(xs)
    f = PchipInterpolator(xs[order], ys[order])
    return float(f.integrate(lo, hi))


def bd_rate(rate_a, psnr_a, rate_b, psnr_b) -> float:
    """Average bitrate difference (percent) of curve B against anchor A at equal quality.
    Negative: B needs fewer bits."""
    ra, pa = np.log(np.asarray(rate_a, float)), np.asarray(psnr_a, float)
    rb, pb = np.log(np.asarray(rate_b, float)), np.asarray(psnr_b, float)
    lo, hi = max(pa.min(), pb.min()), min(pa.max(), pb.max())
    if hi <= lo:
        raise ValueError("curves do not overlap in quality")
    ia = _pchip_integral(pa, ra, lo, hi)
    ib = _pchip_integral(pb, rb, lo, hi)
    return float((np.exp((ib - ia) / (hi - lo)) - 1) * 100)


def bd_psnr(rate_a, psnr_a, rate_b, psnr_b) -> float:
    """Average PSNR difference (dB) of B against A at equal rate."""
    ra, pa = np.log(np.asarray(rate_a, float)), np.asarray(psnr_a, float)
    rb, pb = np.log(np.asarray(rate_b, float)), np.asarray(psnr_b, float)
    lo, hi = max(ra.min(), rb.min()), min(ra.max(), rb.max())
    if hi <= lo:
        raise ValueError("curves do not overlap in rate")
    return (_pchip_integral(rb, pb, lo, hi) - _pchip_integral(ra, pa, lo, hi)) / (hi - lo)


def rate_at_psnr(rate, psnr_vals, target: float) -> float:
    """Rate of a curve at a given PSNR, interpolating log-rate linearly between points."""
    p = np.asarray(psnr_vals, float)
    r = np.log(np.asarray(rate, float))
    order = np.argsort(p)
    if target < p.min() or target > p.max():
        return float("nan")
    return float(np.exp(np.interp(target, p[order], r[order])))
