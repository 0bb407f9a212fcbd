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
from .intnet import IntScaleNet
from .layers import GDN, PixelShuffleUp, SwinStage, conv

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
    lambdas: tuple = DEFAULT_LAMBDAS
    # quality of each trained λ point; gains in between are interpolated geometrically
    qualities: tuple = field(default=None)

    def __post_init__(self):
        if self.qualities is None:
            n = len(self.lambdas)
            self.qualities = tuple(round(100 * i / (n - 1)) for i in range(n))
        self.gs_dims, self.gs_depths, self.gs_heads = tuple(self.gs_dims), tuple(self.gs_depths), tuple(self.gs_heads)
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


class HiCodec(nn.Module):
    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ModelConfig()
        self.g_a = Analysis(cfg.N, cfg.M)
        with torch.no_grad():
            self.g_a.stages[-1][0].weight.mul_(cfg.ga_out_init_scale)
        self.h_a = HyperAnalysis(cfg.M, cfg.N, cfg.Nz)
        self.h_s_scale = IntScaleNet(cfg.Nz, cfg.hs_hidden, cfg.M, cfg.num_tables)
        self.h_s_mean = HyperMean(cfg.Nz, cfg.hm_hidden, cfg.M)
        self.g_s = Synthesis(cfg)
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
        g = gain[:, :, None, None]
        y = self.g_a(x)
        y_g = y * g
        z = self.h_a(y_g)
        z_hat = round_ste(z)
        z_for_rate = z + torch.empty_like(z).uniform_(-0.5, 0.5) if noise else z_hat
        lik_z = self.entropy_z.likelihood(z_for_rate)
        k, k_ste = self.h_s_scale(z_hat)
        mu = self.h_s_mean(z_hat)
        r = y_g - mu
        q = round_ste(r)
        r_for_rate = r + torch.empty_like(r).uniform_(-0.5, 0.5) if noise else q
        lik_y = self.tables.likelihood(r_for_rate, k_ste)
        y_hat = ((q if (ste or not noise) else r_for_rate) + mu) / g
        x_hat = self.g_s(y_hat)
        return dict(x_hat=x_hat, lik_y=lik_y, lik_z=lik_z, q=q.detach(), k=k, z_hat=z_hat.detach())

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_z.aux_loss()


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
    mse = F.mse_loss(out["x_hat"], x, reduction="none").reshape(b, -1).mean(1)
    loss = (lam * 255.0**2 * mse + bpp).mean()
    psnr = (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean()
    return dict(loss=loss, bpp=bpp.mean(), mse=mse.mean(), psnr=psnr, bpp_y=(bits_y / npx).mean(), bpp_z=(bits_z / npx).mean())


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


