"""Entropy models and their integer tables.

- ``GaussianTables``: K discrete Gaussian CDF tables at log-spaced scales. The scale-index network
  picks one table per element of y; training uses the same K scales, so the rate it optimizes is
  the rate the tables give.
- ``FactorizedPrior``: Ballé et al. 2018's non-parametric per-channel density for z, with the
  quantile aux loss that finds each channel's support.
- ``quantize_pmf``: turns probabilities into integer frequencies summing to 2^PRECISION with
  every symbol at least 1, plus an escape symbol for out-of-range values.

Tables are computed here, once, in float64 at export, and shipped as integers: no JavaScript
float maths is ever on the parsing path.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PRECISION = 16  # CDF totals are 2^16
LIKELIHOOD_BOUND = 1e-9


class GaussianTables:
    def __init__(self, num: int = 64, s_min: float = 0.11, s_max: float = 256.0, tail: float = 1e-9):
        self.num, self.s_min, self.s_max, self.tail = num, s_min, s_max, tail
        self.log_step = math.log(s_max / s_min) / (num - 1)

    def scales(self) -> np.ndarray:
        return self.s_min * np.exp(self.log_step * np.arange(self.num, dtype=np.float64))

    def scale_of(self, k: torch.Tensor) -> torch.Tensor:
        return self.s_min * torch.exp(self.log_step * k)

    def likelihood(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Probability of integer-ish symbols q (noisy during training) under table scales k
        (fp32 also under autocast)."""
        with torch.autocast(device_type=q.device.type, enabled=False):
            return self._likelihood(q.float(), k.float())

    def _likelihood(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        s = self.scale_of(k)
        v = q.abs()
        upper = _std_cdf((0.5 - v) / s)
        lower = _std_cdf((-0.5 - v) / s)
        return (upper - lower).clamp_min(LIKELIHOOD_BOUND)

    def build(self) -> dict:
        """Integer tables. Table k codes symbols -R_k..R_k (R_k = ceil of the tail quantile) and
        an escape symbol (index 2·R_k+1) for anything outside."""
        from scipy.stats import norm

        tables = []
        for s in self.scales():
            r = int(math.ceil(-norm.ppf(self.tail / 2) * s))
            r = max(1, min(r, 4095))
            xs = np.arange(-r, r + 1, dtype=np.float64)
            pmf = norm.cdf((xs + 0.5) / s) - norm.cdf((xs - 0.5) / s)
            tail = max(0.0, 1.0 - pmf.sum())
            tables.append(dict(offset=-r, freqs=quantize_pmf(pmf, tail)))
        return dict(kind="gaussian", scales=self.scales().tolist(), tables=tables)


def _std_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x * (2**-0.5))


def quantize_pmf(pmf: np.ndarray, tail: float, precision: int = PRECISION) -> np.ndarray:
    """Integer frequencies for pmf + an escape symbol carrying the tail mass. Every symbol gets
    at least 1, the total is exactly 2^precision. Deterministic (float64, stable tie-breaks)."""
    p = np.concatenate([np.asarray(pmf, np.float64), [tail]])
    p = np.maximum(p, 0)
    p = p / p.sum()
    total = 1 << precision
    n = p.size
    if n > total // 2:
        raise ValueError("table too large for the precision")
    f = np.maximum(1, np.floor(p * (total - n)).astype(np.int64) + 1)
    diff = total - int(f.sum())
    # hand out / take back the difference where it costs the least, by probability rank
    order = np.argsort(-p, kind="stable")
    i = 0
    while diff != 0:
        j = order[i % n]
        if diff > 0:
            f[j] += 1
            diff -= 1
        elif f[j] > 1:
            f[j] -= 1
            diff += 1
        i += 1
    assert int(f.sum()) == total and f.min() >= 1
    return f.astype(np.int64)


class FactorizedPrior(nn.Module):
    """Per-channel learned density (Ballé et al. 2018, appendix 6.1), as in CompressAI's
    EntropyBottleneck, with a quantile parameter per channel trained by the aux loss."""

    def __init__(self, channels: int, filters=(3, 3, 3, 3), init_scale: float = 10.0, tail: float = 1e-9):
        super().__init__()
        self.channels = channels
        self.tail = tail
        f = (1,) + tuple(filters) + (1,)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / f[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, f[i + 1], f[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, f[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, f[i + 1], 1)))
        t = math.log(2 / tail - 1)
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1).unsqueeze(1))
        self.register_buffer("target", torch.tensor([-t, 0.0, t]), persistent=False)

    def _logits_cdf(self, x: torch.Tensor, stop_gradient: bool) -> torch.Tensor:
        # x: (C, 1, N)
        logits = x
        for i in range(len(self.matrices)):
            m = F.softplus(self.matrices[i])
            b = self.biases[i]
            if stop_gradient:
                m, b = m.detach(), b.detach()
            logits = torch.matmul(m, logits) + b
            if i < len(self.factors):
                fac = torch.tanh(self.factors[i])
                if stop_gradient:
                    fac = fac.detach()
                logits = logits + fac * torch.tanh(logits)
        return logits

    def likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, C, H, W) (noisy or rounded) → per-element probability of its unit bin (fp32)."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            return self._likelihood(z.float())

    def _likelihood(self, z: torch.Tensor) -> torch.Tensor:
        b, c, h, w = z.shape
        v = z.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self._logits_cdf(v - 0.5, False)
        upper = self._logits_cdf(v + 0.5, False)
        sign = -torch.sign(lower + upper).detach()
        lik = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        lik = lik.reshape(c, b, h, w).permute(1, 0, 2, 3)
        return lik.clamp_min(LIKELIHOOD_BOUND)

    def aux_loss(self) -> torch.Tensor:
        logits = self._logits_cdf(self.quantiles, True)
        return torch.abs(logits - self.target).sum()

    @torch.no_grad()
    def build(self, max_range: int = 1024) -> dict:
        """Integer table per channel over the integers [lo_c, hi_c] where the learned CDF leaves
        less than tail/2 outside on each side (found on the density itself, so the tables do not
        depend on how far the quantile aux loss has converged), plus an escape symbol."""
        xs = torch.arange(-max_range, max_range + 1, dtype=torch.float32)
        v = xs.reshape(1, 1, -1).repeat(self.channels, 1, 1)
        lower = self._logits_cdf(v - 0.5, True)[:, 0].double()
        upper = self._logits_cdf(v + 0.5, True)[:, 0].double()
        cdf_lo, cdf_hi = torch.sigmoid(lower), torch.sigmoid(upper)
        sign = -torch.sign(lower + upper)
        pmf_all = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).numpy()
        tables = []
        for c in range(self.channels):
            inside = ((cdf_hi[c] > self.tail / 2) & (cdf_lo[c] < 1 - self.tail / 2)).numpy()
            idx = np.nonzero(inside)[0]
            i0, i1 = (int(idx[0]), int(idx[-1])) if idx.size else (max_range, max_range)
            pmf = pmf_all[c, i0 : i1 + 1]
            tail = max(0.0, 1.0 - float(pmf.sum()))
            tables.append(dict(offset=i0 - max_range, freqs=quantize_pmf(pmf, tail)))
        return dict(kind="factorized", tables=tables)


def bits_with_tables(symbols: np.ndarray, table_ids: np.ndarray, tables: list[dict]) -> float:
    """Ideal code length (bits) of integer symbols under integer tables, with the escape
    symbol and its bypass payload (see rans.py) counted exactly."""
    from .rans import escape_payload_bits

    total = 0.0
    for t_id in np.unique(table_ids):
        t = tables[int(t_id)]
        f = t["freqs"]
        n = f.size - 1
        s = symbols[table_ids == t_id].astype(np.int64) - t["offset"]
        inside = (s >= 0) & (s < n)
        total += float(np.sum(PRECISION - np.log2(f[s[inside]])))
        out = ~inside
        if out.any():
            total += float(out.sum() * (PRECISION - math.log2(f[n])))
            total += float(sum(escape_payload_bits(int(v), n) for v in s[out]))
    return total
