"""A small SVG line plot for training curves (no matplotlib on these machines): series of (x, y)
points, optional log-scale x, axis labels, a legend."""
from __future__ import annotations

import math
from html import escape

PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _ticks(lo: float, hi: float) -> list[float]:
    span = (hi - lo) or 1.0
    step0 = 10 ** math.floor(math.log10(span / 5))
    step = next(k * step0 for k in (1, 2, 5, 10) if span / (k * step0) <= 8)
    v = math.ceil(lo / step) * step
    out = []
    while v <= hi + 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def line_plot(series: list[dict], title: str, xlabel: str, ylabel: str, logx: bool = False,
              width: int = 720, height: int = 420) -> str:
    """series: [{label, pts: [(x, y), ...], color?, dashed?}] → SVG text."""
    pts = [p for s in series for p in s["pts"] if p[1] is not None and (not logx or p[0] > 0)]
    if not pts:
        raise ValueError("nothing to plot")
    fx = (lambda v: math.log10(v)) if logx else (lambda v: v)
    xs, ys = [fx(p[0]) for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    pad = 0.05 * ((y1 - y0) or 1.0)
    y0, y1 = y0 - pad, y1 + pad
    L, R, T, B = 70, 170, 40, 50
    pw, ph = width - L - R, height - T - B
    sx = lambda v: L + (fx(v) - x0) / (x1 - x0) * pw  # noqa: E731
    sy = lambda v: T + (1 - (v - y0) / (y1 - y0)) * ph  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{L}" y="22" font-size="14">{escape(title)}</text>',
           f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>']
    if logx:
        xt = [10 ** e * m for e in range(math.floor(x0), math.ceil(x1) + 1) for m in (1, 2, 5) if x0 <= math.log10(10 ** e * m) <= x1]
    else:
        xt = _ticks(x0, x1)
    for v in xt:
        x = sx(v)
        out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{T + ph}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{T + ph + 16}" text-anchor="middle">{v:g}</text>')
    for v in _ticks(y0, y1):
        y = sy(v)
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{L + pw}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    out.append(f'<text x="{L + pw / 2}" y="{height - 10}" text-anchor="middle">{escape(xlabel)}{" (log scale)" if logx else ""}</text>')
    out.append(f'<text transform="translate(16,{T + ph / 2}) rotate(-90)" text-anchor="middle">{escape(ylabel)}</text>')
    for i, s in enumerate(series):
        c = s.get("color") or PALETTE[i % len(PALETTE)]
        p = [(sx(x), sy(y)) for x, y in s["pts"] if y is not None and (not logx or x > 0)]
        if not p:
            continue
        dash = ' stroke-dasharray="6,4"' if s.get("dashed") else ""
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2"{dash} points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in p)}"/>')
        out += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{c}"/>' for a, b in p]
        ly = T + 14 + 18 * i
        out.append(f'<line x1="{L + pw + 10}" y1="{ly - 4}" x2="{L + pw + 30}" y2="{ly - 4}" stroke="{c}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{L + pw + 34}" y="{ly}">{escape(s["label"])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def psnr_at_bpp(points: list[dict], bpp: float) -> float | None:
    """PSNR at `bpp` by linear interpolation in log bpp between measured (bpp, psnr) points; None
    outside their range."""
    pts = sorted((p["bpp"], p["psnr"]) for p in points)
    for (b0, p0), (b1, p1) in zip(pts, pts[1:]):
        if b0 <= bpp <= b1 and b1 > b0:
            t = (math.log(bpp) - math.log(b0)) / (math.log(b1) - math.log(b0))
            return p0 + t * (p1 - p0)
    return None
