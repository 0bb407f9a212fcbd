"""HiCodec: CNN analysis transform, hyperprior with an integer scale-index network, Transformer
synthesis transform, and per-channel gains for one-model-many-rates.

Data flow (names as in ARCHITECTURE.md):

    y   = g_a(x)                         CNN, 4 stride-2 stages, M channels at /16
    y_g = y · gain(quality)              learned per-channel gain, interpolated between λ points
    z   = h_a(y_g);  ẑ = round(z)        hyper-latent at /64, factorized prior
    k   = h_s_scale(ẑ)                   INTEGER network → CDF table index per element of y
    μ_g = h_s_mean(ẑ)                    float network → means
    q   = round(y_g − μ_g)               the transmitted symbols (table k)
    ŷ   = (q + μ_g) / gain               ( = q/gain + μ with μ = μ_g/gain )
    x̂   = g_s(ŷ)                         windowed-attention Transformer, /16 → /8 → /4, pixel shuffle

Two families of transforms share everything else (`arch` in the configuration):
- "v4": g_a = 4 × conv5×5 with GDN (42 kMAC/px); g_s = Swin stages at /16, /8 and /4 (29 kMAC/px).
- "v5" (transforms.py): built for the compute we have (2 CPU cores) — g_a of conv3×3 stages with
  one residual block (≤ 25 kMAC/px) and g_s with windowed attention over the 16×16-patch tokens at
  /16 followed by residual 3×3 conv blocks with pixel shuffle (≤ 12 kMAC/px); both with a linear
  16×16-patch shortcut that starts as an orthonormal DCT (a transform coder at step 0).

The gain is applied *before* the hyper-analysis (as in Cui et al. 2021), so the scale index is a
function of ẑ alone: nothing float and nothing quality-dependent is on the parsing path.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from .entropy import FactorizedPrior, GaussianTables
from .intnet import ACT_SCALE, IntConv, IntScaleNet, index_conv
from .layers import GDN, PixelShuffleUp, SwinStage, conv
from .transforms import AnalysisV5, SynthesisV5

PAD_MULTIPLE = 64
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)


@dataclass
class ModelConfig:
    N: int = 128  # g_a / h_a width
    M: int = 192  # latent channels
    Nz: int = 128  # hyper-latent channels
    hs_hidden: int = 128  # integer scale net width
    hm_hidden: int = 128  # float mean net width
    gs_dims: tuple = (192, 128, 64)  # Transformer widths at /16, /8, /4
    gs_depths: tuple = (2, 2, 2)
    gs_heads: tuple = (6, 4, 2)
    gs_c2: int = 32  # conv width at /2 (no attention at /2 or /1)
    window: int = 8
    mlp_ratio: float = 2.0
    # init multiplier of g_a's last conv: with PyTorch's default init y ≈ 0.03, every symbol
    # rounds to 0 and nothing reaches the decoder for hundreds of steps
    ga_out_init_scale: float = 1.0
    num_tables: int = 64
    # Channel context (v4 on): channel counts of the slices of y, coded in order; each slice's
    # table index comes from an integer net on the hyper features and |q| of the slices before,
    # its mean from a float net on μ and ŷ of the slices before. () = hyperprior only (v1–v3).
    slices: tuple = ()
    ctx_hidden: int = 64
    lrp: bool = False  # latent residual prediction (float, after the last slice)
    lrp_hidden: int = 64
    # the last N slices are lean: no mean net (μ = μ_h) and outside the LRP; their scale keeps the
    # channel context (v6: what the decoder pays for the 192 added channels)
    lean_slices: int = 0
    lambdas: tuple = DEFAULT_LAMBDAS
    # transforms: "v4" (GDN CNN + Swin at /16, /8, /4) or "v5" (transforms.py)
    arch: str = "v4"
    ga_dims: tuple = (64, 128, 160)  # v5 g_a widths at /2, /4, /8
    gs_convs: tuple = (96, 48, 24)  # v5 g_s conv widths at /8, /4, /2
    gs_res_hidden: tuple = None  # v5 g_s: hidden widths of the residual blocks at /8, /4, /2 (None: as gs_convs)
    shortcut: bool = True  # v5: linear 16×16-patch shortcut in g_a and g_s (DCT at init)
    # quality of each trained λ point; gains in between are interpolated geometrically
    qualities: tuple = field(default=None)

    def __post_init__(self):
        if self.qualities is None:
            n = len(self.lambdas)
            self.qualities = tuple(round(100 * i / (n - 1)) for i in range(n))
        self.gs_dims, self.gs_depths, self.gs_heads = tuple(self.gs_dims), tuple(self.gs_depths), tuple(self.gs_heads)
        self.ga_dims, self.gs_convs = tuple(self.ga_dims), tuple(self.gs_convs)
        self.gs_res_hidden = tuple(self.gs_res_hidden) if self.gs_res_hidden else None
        if self.arch not in ("v4", "v5"):
            raise ValueError(f"unknown arch {self.arch!r} (v4 or v5)")
        self.slices = tuple(self.slices)
        if self.slices and sum(self.slices) != self.M:
            raise ValueError(f"slices {self.slices} must add up to M={self.M}")
        if self.lean_slices and not 0 < self.lean_slices < len(self.slices):
            raise ValueError(f"lean_slices {self.lean_slices}: at least the first slice must stay out of them")
        self.lambdas, self.qualities = tuple(self.lambdas), tuple(self.qualities)

    def to_dict(self) -> dict:
        return asdict(self)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


class Analysis(nn.Module):
    """g_a: 4 × (conv5×5 stride 2), GDN between."""

    def __init__(self, n: int, m: int):
        super().__init__()
        self.stages = nn.ModuleList(
            [
                nn.Sequential(conv(3, n, 5, 2), GDN(n)),
                nn.Sequential(conv(n, n, 5, 2), GDN(n)),
                nn.Sequential(conv(n, n, 5, 2), GDN(n)),
                nn.Sequential(conv(n, m, 5, 2)),
            ]
        )

    def forward(self, x: torch.Tensor, return_features: bool = False):
        x = x - 0.5  # centred input
        feats = []
        for s in self.stages:
            x = s(x)
            feats.append(x)
        return (x, feats) if return_features else x


class HyperAnalysis(nn.Module):
    def __init__(self, m: int, n: int, nz: int):
        super().__init__()
        self.net = nn.Sequential(
            conv(m, n, 3), nn.LeakyReLU(inplace=True), conv(n, n, 5, 2), nn.LeakyReLU(inplace=True), conv(n, nz, 5, 2)
        )

    def forward(self, y_g: torch.Tensor) -> torch.Tensor:
        return self.net(y_g)


class HyperMean(nn.Module):
    """h_s_mean: float, ẑ (/64) → μ_g (/16)."""

    def __init__(self, nz: int, hidden: int, m: int):
        super().__init__()
        self.net = nn.Sequential(
            PixelShuffleUp(nz, hidden), nn.LeakyReLU(inplace=True),
            PixelShuffleUp(hidden, hidden), nn.LeakyReLU(inplace=True),
            conv(hidden, m, 3),
        )

    def forward(self, z_hat: torch.Tensor) -> torch.Tensor:
        return self.net(z_hat)


class Synthesis(nn.Module):
    """g_s: Transformer synthesis. Swin stages at /16, /8 and /4 with 2× pixel-shuffle
    upsampling between them; convolutions only at /2 and full resolution."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, dep, hd, ws = cfg.gs_dims, cfg.gs_depths, cfg.gs_heads, cfg.window
        self.inp = conv(cfg.M, d[0], 3)
        self.stage16 = SwinStage(d[0], dep[0], hd[0], ws, cfg.mlp_ratio)
        self.up8 = PixelShuffleUp(d[0], d[1])
        self.stage8 = SwinStage(d[1], dep[1], hd[1], ws, cfg.mlp_ratio)
        self.up4 = PixelShuffleUp(d[1], d[2])
        self.stage4 = SwinStage(d[2], dep[2], hd[2], ws, cfg.mlp_ratio)
        self.up2 = PixelShuffleUp(d[2], cfg.gs_c2)
        self.refine = nn.Sequential(nn.GELU(), conv(cfg.gs_c2, cfg.gs_c2, 3), nn.GELU())
        self.out = PixelShuffleUp(cfg.gs_c2, 3)

    def forward(self, y_hat: torch.Tensor) -> torch.Tensor:
        x = self.stage16(self.inp(y_hat))
        x = self.stage8(self.up8(x))
        x = self.stage4(self.up4(x))
        x = self.up2(x)
        x = x + self.refine(x)
        return self.out(x) + 0.5  # centred output


class ChannelContext(nn.Module):
    """Channel-wise autoregressive entropy model (Minnen & Singh 2020, uneven slices as in ELIC),
    split at the determinism boundary:

    - scale (INTEGER): k_i = index_i([h, ctx_i(min(|q_<i|, 255))]), h = the uint8 hyper features
      of ẑ; ctx_i is a 3×3 integer conv + clip (ReLU). Only transmitted integers go in.
    - mean (float): μ_i = μ_h,i + mean_i([μ_h,i, ŷ_g,<i]) — float drift moves ŷ, never the parse.
    - LRP (float): ŷ_g ← ŷ_g + ½·tanh(lrp([μ_h, ŷ_g])) after the last slice.
    - lean slices (the last `lean_slices`): μ_i = μ_h,i, and the LRP refines only the channels
      before them (`refine_channels`).

    Every new path starts at zero (zero weights on the context inputs of index_i, zero last
    layers of mean_i and lrp), so a model converted from a hyperprior-only one starts equal to it."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.slices = cfg.slices
        hid, hs = cfg.ctx_hidden, cfg.hs_hidden
        starts = [sum(cfg.slices[:i]) for i in range(len(cfg.slices))]
        self.starts = starts
        self.n_meaned = len(cfg.slices) - cfg.lean_slices  # slices 1…n_meaned−1 have a mean net
        self.refine_channels = r = sum(cfg.slices[: self.n_meaned])
        self.scale_ctx = nn.ModuleList([IntConv(starts[i], hid, 1.0, ACT_SCALE, 0, 255) for i in range(1, len(cfg.slices))])
        self.index = nn.ModuleList(
            [index_conv(hs + (hid if i else 0), c, cfg.num_tables) for i, c in enumerate(cfg.slices)]
        )
        self.mean = nn.ModuleList(
            [nn.Sequential(conv(c + starts[i], hid, 3), nn.LeakyReLU(inplace=True), conv(hid, c, 3))
             for i, c in enumerate(cfg.slices) if self.has_mean(i)]
        )
        lh = cfg.lrp_hidden
        self.lrp = nn.Sequential(conv(2 * r, lh, 3), nn.LeakyReLU(inplace=True), conv(lh, r, 3)) if cfg.lrp else None
        with torch.no_grad():
            for i, layer in enumerate(self.index):
                if i:
                    layer.weight[:, hs:].zero_()
            for net in list(self.mean) + ([self.lrp] if self.lrp is not None else []):
                net[-1].weight.zero_()
                net[-1].bias.zero_()

    def has_mean(self, i: int) -> bool:
        """Whether slice i's μ has a mean net on the slices before it (else μ = μ_h)."""
        return 0 < i < self.n_meaned

    def scale_index(self, i: int, h: torch.Tensor, q_prev: torch.Tensor | None, exact: bool = False) -> torch.Tensor:
        """Table index of slice i (float integers with STE gradients)."""
        x = h
        if i:
            c = torch.clamp(self.scale_ctx[i - 1](torch.clamp(q_prev.abs(), 0, 255), exact), 0, 255)
            x = torch.cat([h.to(c.dtype), c], 1)
        return torch.clamp(self.index[i](x, exact), 0, self.index[i].out_max)

    def mean_of(self, i: int, mu_h: torch.Tensor, yhat_prev: torch.Tensor | None) -> torch.Tensor:
        s, c = self.starts[i], self.slices[i]
        mu = mu_h[:, s : s + c]
        if self.has_mean(i):
            mu = mu + self.mean[i - 1](torch.cat([mu, yhat_prev], 1))
        return mu

    def refine(self, mu_h: torch.Tensor, yhat_g: torch.Tensor) -> torch.Tensor:
        if self.lrp is None:
            return yhat_g
        r = self.refine_channels
        out = yhat_g[:, :r] + 0.5 * torch.tanh(self.lrp(torch.cat([mu_h[:, :r], yhat_g[:, :r]], 1)))
        return out if r == yhat_g.shape[1] else torch.cat([out, yhat_g[:, r:]], 1)


class HiCodec(nn.Module):
    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ModelConfig()
        self.g_a = Analysis(cfg.N, cfg.M) if cfg.arch == "v4" else AnalysisV5(cfg)
        with torch.no_grad():
            self.g_a.stages[-1][0].weight.mul_(cfg.ga_out_init_scale)
        self.h_a = HyperAnalysis(cfg.M, cfg.N, cfg.Nz)
        self.h_s_scale = IntScaleNet(cfg.Nz, cfg.hs_hidden, cfg.M, cfg.num_tables, with_index=not cfg.slices)
        self.h_s_mean = HyperMean(cfg.Nz, cfg.hm_hidden, cfg.M)
        self.ctx = ChannelContext(cfg) if cfg.slices else None
        self.g_s = Synthesis(cfg) if cfg.arch == "v4" else SynthesisV5(cfg)
        self.entropy_z = FactorizedPrior(cfg.Nz)
        self.tables = GaussianTables(cfg.num_tables)
        lam = torch.tensor(cfg.lambdas, dtype=torch.float32)
        init = 0.5 * torch.log(lam / lam[len(lam) // 2])  # gain ∝ √λ is the high-rate optimum
        self.log_gain = nn.Parameter(init[:, None].repeat(1, cfg.M))

    # --- quality / gain -------------------------------------------------------------------
    def log_gain_for_quality(self, quality: torch.Tensor) -> torch.Tensor:
        """quality (B,) in [0, 100] → log gain (B, M), piecewise-linear in the log domain
        between the trained points (geometric interpolation of the gain vectors)."""
        qs = torch.tensor(self.cfg.qualities, dtype=torch.float32, device=quality.device)
        q = quality.float().clamp(float(qs[0]), float(qs[-1]))
        i = (torch.searchsorted(qs, q, right=True) - 1).clamp(0, len(qs) - 2)
        t = ((q - qs[i]) / (qs[i + 1] - qs[i]))[:, None]
        return (1 - t) * self.log_gain[i] + t * self.log_gain[i + 1]

    def gain_for_quality(self, quality: float) -> torch.Tensor:
        q = torch.tensor([float(quality)], device=self.log_gain.device)
        return torch.exp(self.log_gain_for_quality(q))[0]

    # --- forward ----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, gain: torch.Tensor, noise: bool | None = None, ste: bool = True) -> dict:
        """x: (B, 3, H, W) in [0, 1], H and W multiples of 64; gain: (B, M).
        noise=True: training relaxation (uniform noise for the rates, straight-through rounding
        for what the decoder sees, or noise there too with ste=False); noise=False: the real
        quantized path."""
        noise = self.training if noise is None else noise
        g = gain[:, :, None, None].float()
        y = self.g_a(x)
        # Under autocast (the GPU path) only g_a and g_s run in bf16: the latent, its rounding and
        # the whole entropy model need fp32 (bf16 cannot even hold the symbols exactly).
        with torch.autocast(device_type=x.device.type, enabled=False):
            y_g = y.float() * g
            z = self.h_a(y_g)
            z_hat = round_ste(z)
            z_for_rate = z + torch.empty_like(z).uniform_(-0.5, 0.5) if noise else z_hat
            lik_z = self.entropy_z.likelihood(z_for_rate)
            e = self.entropy_y(y_g, z_hat, noise, ste)
            y_hat = e["yhat_g"] / g
        x_hat = self.g_s(y_hat)
        return dict(x_hat=x_hat, lik_y=e["lik"], lik_z=lik_z, q=e["q"].detach(), k=e["k"].detach(), z_hat=z_hat.detach())

    def entropy_y(self, y_g: torch.Tensor, z_hat: torch.Tensor, noise: bool = False, ste: bool = True,
                  exact: bool = False) -> dict:
        """The y half of the entropy model, slice by slice as the decoder runs it.
        Returns q (STE), k (table indices, STE), lik (per element) and ŷ_g (gained domain).
        noise=False is the real quantized path (exact=True: integer nets in float64)."""
        mu_h = self.h_s_mean(z_hat)
        if self.ctx is None:
            slices, starts = (y_g.shape[1],), (0,)
            h = None
        else:
            slices, starts = self.ctx.slices, self.ctx.starts
            h = self.h_s_scale.hidden(z_hat, exact)
        qs, ks, liks, yhs = [], [], [], []
        for i, (s, c) in enumerate(zip(starts, slices)):
            if self.ctx is None:
                k_ste = self.h_s_scale(z_hat, exact)[1]
                mu = mu_h
            else:
                k_ste = self.ctx.scale_index(i, h, torch.cat(qs, 1) if i else None, exact)
                mu = self.ctx.mean_of(i, mu_h, torch.cat(yhs, 1) if i else None)
            r = y_g[:, s : s + c] - mu
            q = round_ste(r)
            r_for_rate = r + torch.empty_like(r).uniform_(-0.5, 0.5) if noise else q
            liks.append(self.tables.likelihood(r_for_rate, k_ste))
            yhs.append((q if (ste or not noise) else r_for_rate) + mu)
            qs.append(q)
            ks.append(k_ste)
        yhat_g = torch.cat(yhs, 1)
        if self.ctx is not None:
            yhat_g = self.ctx.refine(mu_h, yhat_g)
        return dict(q=torch.cat(qs, 1), k=torch.cat(ks, 1), lik=torch.cat(liks, 1), yhat_g=yhat_g, mu_h=mu_h)

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_z.aux_loss()


def remap_log_gain(log_gain: torch.Tensor, old_lambdas, new_lambdas) -> torch.Tensor:
    """Gain vectors for a new λ set from trained ones: piecewise-linear in log λ between the old
    points, and beyond them the high-rate optimum gain ∝ √λ (slope ½ in log-log) from the nearest
    end point. Used when a run starts from a model trained on another λ set."""
    old = torch.log(torch.tensor(old_lambdas, dtype=torch.float64))
    out = []
    for lam in new_lambdas:
        t = math.log(lam)
        if t <= old[0]:
            out.append(log_gain[0].double() + 0.5 * (t - old[0]))
        elif t >= old[-1]:
            out.append(log_gain[-1].double() + 0.5 * (t - old[-1]))
        else:
            i = int(torch.searchsorted(old, torch.tensor(t, dtype=torch.float64), right=True)) - 1
            a = float((t - old[i]) / (old[i + 1] - old[i]))
            out.append((1 - a) * log_gain[i].double() + a * log_gain[i + 1].double())
    return torch.stack(out).to(log_gain.dtype)


# Tensors whose dimension `dim` runs over the channels of y (for reordering them).
Y_CHANNEL_DIMS = {
    "g_a.stages.3.0.weight": 0, "g_a.stages.3.0.bias": 0,
    "h_a.net.0.weight": 1,
    "h_s_scale.l2.weight": 0, "h_s_scale.l2.bias": 0,
    "h_s_mean.net.4.weight": 0, "h_s_mean.net.4.bias": 0,
    "g_s.inp.weight": 1,
    "log_gain": 1,
}


def extend_lambdas(model: "HiCodec", extra: list[float]) -> list[bool]:
    """Adds gain vectors for λ values outside the trained set (gain ∝ √λ beyond the ends: a finer
    or coarser quantiser on the same latent), and spreads the qualities 0–100 linearly in log λ
    over all points. Returns which points were trained. Used at export to reach rates the
    training did not cover; the quality → gain rule in the package is unchanged."""
    old = list(model.cfg.lambdas)
    lams = sorted(set(old) | set(float(x) for x in extra))
    lg = remap_log_gain(model.log_gain.detach(), old, lams)
    lo, hi = math.log(lams[0]), math.log(lams[-1])
    quals = [round(100 * (math.log(l) - lo) / (hi - lo)) for l in lams]
    if len(set(quals)) != len(quals):
        raise ValueError(f"λ points too close for integer qualities: {quals}")
    model.cfg.lambdas, model.cfg.qualities = tuple(lams), tuple(quals)
    model.log_gain = nn.Parameter(lg)
    return [l in old for l in lams]


def permute_y_channels(state: dict, order) -> dict:
    """The same hyperprior-only model with the channels of y reordered (new channel j = old
    channel order[j]): an exactly equivalent network."""
    idx = torch.as_tensor(order, dtype=torch.long)
    out = dict(state)
    for k, d in Y_CHANNEL_DIMS.items():
        out[k] = state[k].index_select(d, idx)
    return out


@torch.no_grad()
def channel_order_by_rate(model: "HiCodec", x: torch.Tensor) -> list[int]:
    """Channels of y by decreasing rate (bits at the middle λ point) on the crops x: the
    first slices of a channel context then hold the channels that carry the most information,
    as ELIC's uneven grouping assumes."""
    model.eval()
    li = len(model.cfg.lambdas) // 2
    g = torch.exp(model.log_gain[li])[None, :, None, None]
    y_g = model.g_a(x) * g
    z_hat = torch.round(model.h_a(y_g))
    e = model.entropy_y(y_g, z_hat)
    bits = -torch.log2(e["lik"]).sum((0, 2, 3))
    return torch.argsort(bits, descending=True).tolist()


def slices_from_unsliced(state: dict, cfg: ModelConfig) -> dict:
    """Moves a hyperprior-only model's index layer (h_s_scale.l2) into the slices' index layers
    (hyper-feature part; the context part stays zero), so the sliced model starts equal to it."""
    out = {k: v for k, v in state.items() if not k.startswith("h_s_scale.l2.")}
    w, b = state["h_s_scale.l2.weight"], state["h_s_scale.l2.bias"]
    s = 0
    for i, c in enumerate(cfg.slices):
        wi = torch.zeros(c, cfg.hs_hidden + (cfg.ctx_hidden if i else 0), 3, 3)
        wi[:, : cfg.hs_hidden] = w[s : s + c]
        out[f"ctx.index.{i}.weight"] = wi
        out[f"ctx.index.{i}.bias"] = b[s : s + c].clone()
        s += c
    return out


@torch.no_grad()
def extend_latent(state: dict, old: ModelConfig, new: ModelConfig) -> dict:
    """A v5 model with more latent channels (M → M'): the new channels of y are the next 16×16 DCT
    basis functions of the linear patch shortcuts (channel order follows frequency, so the first M
    functions are the old ones), coded in new context slices after the old ones. Every non-linear
    path into or out of a new channel starts at zero (g_a's last conv, μ_h, LRP outputs; the inputs
    of h_a, g_s and LRP), their gains copy the last old channel's, and the new slices' nets keep
    their fresh initialisation. At step 0 the model is the old one plus M'−M transmitted DCT
    coefficients: the ceiling of the linear path rises at once (Kodak: 33.6 dB at 192 channels,
    37.6 at 320, 39.8 at 384) and training teaches the rest."""
    from .transforms import SHORTCUT_GAIN, dct_basis

    m0, m1 = old.M, new.M
    if old.arch != "v5" or new.arch != "v5" or not new.shortcut or m1 <= m0 or tuple(new.slices[: len(old.slices)]) != tuple(old.slices):
        raise ValueError(f"cannot extend {m0} latent channels to {m1}: v5 with shortcuts, more channels, and the old "
                         f"slices {old.slices} first in {new.slices}")
    # a lean parent (its last slices outside the LRP) extends with the new slices lean too: the LRP
    # keeps the channels it refines, and its weights stay as they are
    refined = lambda c: sum(c.slices[: len(c.slices) - c.lean_slices])  # noqa: E731
    lean = bool(old.lean_slices or new.lean_slices)
    if lean and (refined(old) != refined(new) or new.lean_slices != old.lean_slices + len(new.slices) - len(old.slices)):
        raise ValueError(f"a lean extension keeps the LRP's {refined(old)} channels and makes every new slice lean "
                         f"(lean_slices {old.lean_slices} → {old.lean_slices + len(new.slices) - len(old.slices)})")
    extra = dct_basis(m1)[m0:]  # (m1 − m0, 3, 16, 16)

    def pad(t: torch.Tensor, dim: int, fill: torch.Tensor | None = None) -> torch.Tensor:
        shape = list(t.shape)
        shape[dim] = m1 - m0
        add = torch.zeros(shape, dtype=t.dtype) if fill is None else fill.to(t.dtype).reshape(shape)
        return torch.cat([t, add], dim)

    out = dict(state)
    for k in ("g_a.stages.3.0.weight", "g_a.stages.3.0.bias", "h_s_mean.net.4.weight", "h_s_mean.net.4.bias",
              *(() if lean else ("ctx.lrp.2.weight", "ctx.lrp.2.bias"))):
        if k in state:
            out[k] = pad(state[k], 0)
    for k in ("h_a.net.0.weight", "g_s.inp.weight"):
        out[k] = pad(state[k], 1)
    out["g_a.shortcut.weight"] = pad(state["g_a.shortcut.weight"], 0, SHORTCUT_GAIN * extra)
    out["g_s.shortcut.0.weight"] = pad(state["g_s.shortcut.0.weight"], 1, extra.reshape(m1 - m0, -1).t()[:, :, None, None] / SHORTCUT_GAIN)
    lg = state["log_gain"]
    out["log_gain"] = torch.cat([lg, lg[:, -1:].repeat(1, m1 - m0)], 1)
    if "ctx.lrp.0.weight" in state and not lean:
        w = state["ctx.lrp.0.weight"]  # input [μ_h (M), ŷ_g (M)]
        lrp0 = torch.zeros(w.shape[0], 2 * m1, *w.shape[2:], dtype=w.dtype)
        lrp0[:, :m0], lrp0[:, m1 : m1 + m0] = w[:, :m0], w[:, m0:]
        out["ctx.lrp.0.weight"] = lrp0
    return out


@torch.no_grad()
def init_new_slice_index(model: "HiCodec", x: torch.Tensor, m0: int) -> list[int]:
    """After extend_latent: the index layer of the new slice (channels m0…M) starts as a constant
    per channel, the table whose scale matches that channel's spread on the crops x at the lowest
    λ point (narrow: at low rates the new channels cost next to nothing, as in the parent, and
    the index net learns wider tables for the high λ from the hyper features) (its weights scaled down to 1/20: not zero, the integer layer's weight scale needs them). With the generic initial index (σ ≈ 2) every new symbol costs
    ~2.8 bits and the model starts ~2 bpp above its parent. Returns the indices."""
    ctx = model.ctx
    if ctx is None or ctx.starts[-1] != m0:
        raise ValueError(f"the last slice must start at channel {m0}")
    model.eval()
    g = torch.exp(model.log_gain[0])[None, m0:, None, None]
    y = model.g_a(x)[:, m0:] * g  # μ of the new channels is 0 at this point (μ_h rows zero)
    sigma = y.pow(2).mean((0, 2, 3)).sqrt().double().clamp_min(1e-6)
    scales = torch.as_tensor(model.tables.scales(), dtype=torch.float64)
    k = torch.argmin((torch.log(scales)[None, :] - torch.log(sigma)[:, None]).abs(), 1)
    layer = ctx.index[-1]
    layer.weight.mul_(0.05)
    layer.bias.copy_((k.to(layer.bias.dtype) + 0.5) / layer.bias_gain)  # the layer floors: k for noise within ±½
    return k.tolist()


@torch.no_grad()
def lean_from_meaned(state: dict, old: ModelConfig, new: ModelConfig) -> dict:
    """Weights of a model whose last slices become lean (new.lean_slices > old.lean_slices): their
    mean nets go (μ = μ_h) and the LRP keeps its rows and columns of the channels before them.
    On the v6 campaign at step 5082, without any training: +0.4–0.6% BD-rate."""
    if (tuple(old.slices), old.M) != (tuple(new.slices), new.M) or new.lean_slices <= old.lean_slices:
        raise ValueError(f"lean slices {old.lean_slices} → {new.lean_slices} need the same slices and more lean ones")
    first, was = len(new.slices) - new.lean_slices, len(old.slices) - old.lean_slices
    out = {k: v for k, v in state.items() if not any(k.startswith(f"ctx.mean.{i - 1}.") for i in range(first, was))}
    if "ctx.lrp.0.weight" in state:
        r0, r = sum(old.slices[:was]), sum(new.slices[:first])
        w = state["ctx.lrp.0.weight"]  # input [μ_h (r0), ŷ_g (r0)]
        out["ctx.lrp.0.weight"] = torch.cat([w[:, :r], w[:, r0 : r0 + r]], 1)
        out["ctx.lrp.2.weight"] = state["ctx.lrp.2.weight"][:r].clone()
        out["ctx.lrp.2.bias"] = state["ctx.lrp.2.bias"][:r].clone()
    return out


def adapt_checkpoint(ck: dict, new: ModelConfig) -> dict:
    """A full training checkpoint for a configuration change that keeps every parameter's identity
    (so far: more lean slices): weights, EMA and the Adam moments go through the same change by
    name (lean_from_meaned drops and slices them alike), so that training resumes with its
    optimizer state instead of starting a new one. The optimizer's groups follow train.py: the
    main parameters in model order (not the quantiles, not log_gain), then log_gain when it has
    its own group."""
    old = ModelConfig(**ck["config"])
    change = lambda d: lean_from_meaned(d, old, new)  # noqa: E731
    model = change(ck["model"])
    opt = ck["optimizer"]
    gain_group = len(opt["param_groups"]) > 1
    old_names = [n for n, _ in HiCodec(old).named_parameters() if not n.endswith("quantiles") and n != "log_gain"]
    old_names += ["log_gain"] if gain_group else []
    if sum(len(g["params"]) for g in opt["param_groups"]) != len(old_names):
        raise ValueError("the checkpoint's optimizer does not have the parameters this model has")
    new_names = [n for n in old_names if n in model]  # the change drops parameters, never reorders them
    by_name = {n: opt["state"].get(i) for i, n in enumerate(old_names)}
    moments = {k: change({n: st[k] for n, st in by_name.items() if st is not None}) for k in ("exp_avg", "exp_avg_sq")}
    state = {j: {**by_name[n], "exp_avg": moments["exp_avg"][n], "exp_avg_sq": moments["exp_avg_sq"][n]}
             for j, n in enumerate(new_names) if by_name[n] is not None}
    n_main = len(new_names) - gain_group
    groups = [dict(opt["param_groups"][0], params=list(range(n_main)))]
    if gain_group:
        groups.append(dict(opt["param_groups"][1], params=[n_main]))
    return dict(ck, config=new.to_dict(), model=model, ema=change(ck["ema"]) if ck.get("ema") else ck.get("ema"),
                optimizer=dict(state=state, param_groups=groups))


def adapt_lambdas(ck: dict, lambdas) -> dict:
    """A full training checkpoint for a new set of λ points (e.g. points added below the trained
    range, so that quality 0 is trained instead of extrapolated): log_gain of the weights and of
    the EMA through remap_log_gain (the points that stay keep their rows; a new one starts where
    the neighbouring points put it, gain ∝ √λ beyond the ends), log_gain's Adam moments kept for
    the points that stay and zero for new ones, and the λ balance's running losses likewise (0:
    not seen yet). Every other tensor and state is unchanged."""
    old_cfg = ModelConfig(**ck["config"])
    old, new = list(old_cfg.lambdas), sorted(float(v) for v in lambdas)
    cfg = ModelConfig(**{**old_cfg.to_dict(), "lambdas": tuple(new), "qualities": None})
    keep = lambda t: torch.stack([t[old.index(v)] if v in old else torch.zeros_like(t[0]) for v in new])  # noqa: E731
    gain = lambda d: {**d, "log_gain": remap_log_gain(d["log_gain"], old, new)} if d else d  # noqa: E731
    out = dict(ck, config=cfg.to_dict(), model=gain(ck["model"]), ema=gain(ck.get("ema")))
    opt = ck.get("optimizer")
    if opt and len(opt["param_groups"]) > 1:  # log_gain has its own group, the last (train.py)
        i = opt["param_groups"][-1]["params"][0]
        st = opt["state"].get(i)
        if st is not None:
            state = dict(opt["state"])
            state[i] = {**st, "exp_avg": keep(st["exp_avg"]), "exp_avg_sq": keep(st["exp_avg_sq"])}
            out["optimizer"] = dict(opt, state=state)
    if ck.get("loss_scale") is not None:
        out["loss_scale"] = keep(ck["loss_scale"])
    return out


def line_minutes(ck: dict) -> dict:
    """What a checkpoint's line trained, in the campaign's units: CPU-minutes on a CPU (process CPU
    time / threads), GPU-minutes on a GPU (the steps' wall time: `record.device`, train.py), and crops."""
    gpu = (ck.get("record") or {}).get("device") == "cuda"
    minutes = (ck.get("elapsed", 0.0) if gpu else ck.get("cpu_elapsed", ck.get("elapsed", 0.0))) / 60
    return dict(cpu_minutes=0.0 if gpu else minutes, gpu_minutes=minutes if gpu else 0.0, crops=ck.get("crops_seen") or 0)


def campaign_totals(before: dict, line: dict) -> dict:
    """The campaign's totals at a point of a line: the totals before the line (a record's
    `campaign_offset`, tools/campaign_state.py) plus what the line itself trained (`line_minutes`).
    GPU-minutes are counted apart (a GPU-minute trains ~10² CPU-minutes' crops) and only once there are any."""
    t = dict(cpu_minutes=round(before["cpu_minutes"] + line.get("cpu_minutes", 0.0), 1), crops=int(before["crops"] + (line.get("crops") or 0)))
    gpu = before.get("gpu_minutes", 0.0) + line.get("gpu_minutes", 0.0)
    if gpu:
        t["gpu_minutes"] = round(gpu, 1)
    return t


def load_checkpoint(path) -> dict:
    """A checkpoint of this project's own making, on the CPU. torch ≥ 2.6 (the GPU machine's) loads
    only plain tensors by default; training checkpoints also hold the RNG states (numpy's among them)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def portable_checkpoint(ck: dict, **record) -> dict:
    """A full training checkpoint → the portable one (`train.py --release`, the weights
    `campaign.py eval` keeps): the EMA weights (else the last) as `model`, on the CPU, without
    optimizer or RNG state; `train.py --init` and `export.py` read it. `record` adds to its record."""
    ema = ck.get("ema")
    keep = {k: ck[k] for k in ("config", "step", "elapsed", "cpu_elapsed", "crops_seen", "history", "val_history") if k in ck}
    return dict(model={n: t.cpu() for n, t in (ema or ck["model"]).items()},
                record={**ck.get("record", {}), "weights": "EMA" if ema else "last", **record}, **keep)


def load_adapted(model: "HiCodec", state: dict, old_cfg: ModelConfig, order=None) -> list[str]:
    """Loads weights trained with another configuration wherever shapes allow: log_gain is
    remapped to the new λ set; a hyperprior-only model becomes a channel-context one (channels
    reordered by `order` if given, index layer moved into the slices); slices become lean
    (lean_from_meaned); tensors the old model lacks keep their neutral initialisation. Returns
    the names of the tensors not taken from `state`."""
    state = dict(state)
    if model.cfg.M > old_cfg.M:
        state = extend_latent(state, old_cfg, model.cfg)
    meaned = lambda c: len(c.slices) - c.lean_slices  # noqa: E731 (slices that keep a mean net)
    if model.cfg.lean_slices > old_cfg.lean_slices and meaned(model.cfg) < meaned(old_cfg):
        state = lean_from_meaned(state, old_cfg, model.cfg)
    if model.cfg.slices and not old_cfg.slices:
        if order is not None:
            state = permute_y_channels(state, order)
        state = slices_from_unsliced(state, model.cfg)
    if tuple(old_cfg.lambdas) != tuple(model.cfg.lambdas):
        state["log_gain"] = remap_log_gain(state["log_gain"], old_cfg.lambdas, model.cfg.lambdas)
    own = model.state_dict()
    for k, v in list(state.items()):
        if k not in own or own[k].shape != v.shape:
            raise ValueError(f"cannot start from these weights: {k} has shape {tuple(v.shape)}, the model wants "
                             f"{tuple(own[k].shape) if k in own else 'nothing'}")
    missing = sorted(set(own) - set(state))
    model.load_state_dict(state, strict=False)
    return missing


def pad_to(x: torch.Tensor, multiple: int = PAD_MULTIPLE) -> torch.Tensor:
    """Edge-replicate padding to a multiple of `multiple` (right and bottom)."""
    h, w = x.shape[-2:]
    ph, pw = (multiple - h % multiple) % multiple, (multiple - w % multiple) % multiple
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def rd_loss(out: dict, x: torch.Tensor, lam: torch.Tensor) -> dict:
    """λ·255²·MSE + bpp, per sample, averaged. lam: (B,)."""
    b, _, h, w = x.shape
    npx = h * w
    bits_y = -torch.log2(out["lik_y"]).reshape(b, -1).sum(1)
    bits_z = -torch.log2(out["lik_z"]).reshape(b, -1).sum(1)
    bpp = (bits_y + bits_z) / npx
    mse = F.mse_loss(out["x_hat"].float(), x.float(), reduction="none").reshape(b, -1).mean(1)
    loss = (lam * 255.0**2 * mse + bpp).mean()
    psnr = (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean()
    return dict(loss=loss, bpp=bpp.mean(), mse=mse.mean(), psnr=psnr, bpp_y=(bits_y / npx).mean(), bpp_z=(bits_z / npx).mean())


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


