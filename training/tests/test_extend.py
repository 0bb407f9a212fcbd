"""Extending a v5 model's latent (model.extend_latent, the v6 warm start): the parent's channels and
outputs are kept exactly, the new channels are the next DCT coefficients, the linear ceiling
rises, and the new slice's tables start narrow and constant."""
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hicodec_train.model import HiCodec, ModelConfig, extend_latent, init_new_slice_index, load_adapted
from hicodec_train.transforms import SHORTCUT_GAIN, dct_basis

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
V5 = json.loads((RECIPES / "base-v5.json").read_text())
V6 = json.loads((RECIPES / "base-v6.json").read_text())


def _pair(perturb: bool):
    torch.manual_seed(0)
    old = HiCodec(ModelConfig(**V5)).eval()
    if perturb:  # a "trained" parent: every path non-zero
        with torch.no_grad():
            for p in old.parameters():
                p.add_(0.02 * torch.randn_like(p))
    new = HiCodec(ModelConfig(**V6)).eval()
    fresh = load_adapted(new, old.state_dict(), old.cfg)
    return old, new, fresh


def _picture(h=128, w=192):
    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    smooth = torch.stack([0.2 + 0.6 * xx, 0.5 + 0.3 * torch.sin(6 * yy), 0.8 - 0.5 * xx * yy])
    return (smooth + 0.15 * torch.rand(3, h, w, generator=g)).clamp(0, 1)[None]


@torch.no_grad()
def test_the_parent_is_kept_exactly():
    old, new, fresh = _pair(perturb=True)
    assert sorted(fresh) == sorted(k for k in new.state_dict() if k.startswith(("ctx.index.5.", "ctx.mean.4.", "ctx.scale_ctx.4.")))
    x = _picture()
    m0 = old.cfg.M
    y_old, y_new = old.g_a(x), new.g_a(x)
    assert torch.equal(y_new[:, :m0], y_old)
    # the new channels are the next DCT coefficients of the centred picture, scaled as the old ones
    w = SHORTCUT_GAIN * dct_basis(new.cfg.M)[m0:]
    assert torch.allclose(y_new[:, m0:], F.conv2d(x - 0.5, w, stride=16), atol=1e-5)
    # with the new channels zero, g_s, h_a, μ_h and the gains are the parent's
    y0 = torch.cat([y_old, torch.zeros_like(y_new[:, m0:])], 1)
    assert torch.allclose(new.g_s(y0), old.g_s(y_old), atol=1e-4, rtol=1e-5)
    assert torch.allclose(new.h_a(y0), old.h_a(y_old), atol=1e-4, rtol=1e-5)
    z = torch.round(old.h_a(y_old))
    mu_new = new.h_s_mean(z)
    assert torch.allclose(mu_new[:, :m0], old.h_s_mean(z), atol=1e-4, rtol=1e-5) and not mu_new[:, m0:].any()
    assert torch.equal(new.log_gain[:, :m0], old.log_gain)
    assert torch.equal(new.log_gain[:, m0:], old.log_gain[:, -1:].expand(-1, new.cfg.M - m0))
    # the entropy model codes the parent's channels as before (LRP: same refinement of them)
    e_old, e_new = old.entropy_y(y_old, z), new.entropy_y(y0, z)
    assert torch.equal(e_new["q"][:, :m0], e_old["q"]) and torch.equal(e_new["k"][:, :m0], e_old["k"])
    assert torch.allclose(e_new["yhat_g"][:, :m0], e_old["yhat_g"], atol=1e-4, rtol=1e-5)


@torch.no_grad()
def test_the_linear_ceiling_rises():
    """From an untrained parent (a pure DCT coder at step 0) the extended model is the DCT coder
    with twice the coefficients: more of a textured picture comes back."""
    old, new, _ = _pair(perturb=False)
    x = _picture()

    def db(m):
        return float(-10 * torch.log10(F.mse_loss(m.g_s(m.g_a(x)).clamp(0, 1), x)))

    assert db(new) > db(old) + 1.0, (db(old), db(new))


@torch.no_grad()
def test_new_slice_starts_with_narrow_constant_tables():
    _, new, _ = _pair(perturb=True)
    x = torch.cat([_picture(128, 128), _picture(128, 128).flip(-1)])
    k = init_new_slice_index(new, x, V5["M"])
    assert len(k) == V6["M"] - V5["M"] and max(k) < 32
    g = torch.exp(new.log_gain[0])[None, :, None, None]
    y_g = new.g_a(x) * g
    e = new.entropy_y(y_g, torch.round(new.h_a(y_g)))
    got = e["k"][:, V5["M"]:]
    assert torch.equal(got, torch.tensor(k, dtype=got.dtype)[None, :, None, None].expand_as(got))  # the ½ margin absorbs the small weights


def test_only_a_v5_prefix_extends():
    cfg5, cfg6 = ModelConfig(**V5), ModelConfig(**V6)
    state = HiCodec(cfg5).state_dict()
    with pytest.raises(ValueError, match="cannot extend"):
        extend_latent(state, cfg5, ModelConfig(**{**V6, "slices": [192, 16, 16, 32, 64, 64]}))
    with pytest.raises(ValueError, match="cannot extend"):
        extend_latent(state, cfg6, cfg5)


@torch.no_grad()
def test_a_lean_parent_extends_with_a_lean_new_slice():
    """v6 as shipped (its last slice lean) → one more slice of DCT coefficients, lean as well: the
    LRP keeps its channels and weights, and the parent's channels are coded and refined as before."""
    torch.manual_seed(0)
    v6 = dict(V6, lean_slices=1)
    old = HiCodec(ModelConfig(**v6)).eval()
    for p in old.parameters():
        p.add_(0.02 * torch.randn_like(p))
    cfg = ModelConfig(**dict(v6, M=v6["M"] + 64, slices=v6["slices"] + [64], lean_slices=2))
    new = HiCodec(cfg).eval()
    fresh = load_adapted(new, old.state_dict(), old.cfg)
    assert sorted(fresh) == sorted(k for k in new.state_dict() if k.startswith(("ctx.index.6.", "ctx.scale_ctx.5.")))
    assert torch.equal(new.ctx.lrp[0].weight, old.ctx.lrp[0].weight) and new.ctx.refine_channels == old.ctx.refine_channels
    x = _picture()
    m0 = old.cfg.M
    y_old = old.g_a(x)
    y0 = torch.cat([y_old, torch.zeros(1, 64, *y_old.shape[2:])], 1)
    z = torch.round(old.h_a(y_old))
    e_old, e_new = old.entropy_y(y_old, z), new.entropy_y(y0, z)
    assert torch.equal(e_new["q"][:, :m0], e_old["q"]) and torch.equal(e_new["k"][:, :m0], e_old["k"])
    assert torch.allclose(e_new["yhat_g"][:, :m0], e_old["yhat_g"], atol=1e-4, rtol=1e-5)
    # a new slice that is not lean would need an LRP over channels it never saw: refused
    with pytest.raises(ValueError, match="lean extension"):
        extend_latent(old.state_dict(), old.cfg, ModelConfig(**dict(v6, M=v6["M"] + 64, slices=v6["slices"] + [64], lean_slices=1)))


def test_the_512_channel_candidate_is_a_lean_extension_of_v6():
    """recipes/base-v7-512.json (the next A/B: 512 channels, linear bound 44.3 dB on Kodak against
    39.9 at 384) extends the shipped v6 configuration with one more lean slice."""
    v7 = json.loads((RECIPES / "base-v7-512.json").read_text())
    old, new = ModelConfig(**dict(V6, lean_slices=1)), ModelConfig(**v7)
    assert (new.M, new.slices[: len(old.slices)], new.lean_slices) == (512, old.slices, 2)
    torch.manual_seed(0)
    state = extend_latent(HiCodec(old).state_dict(), old, new)
    model = HiCodec(new)
    own = model.state_dict()
    # log_gain has a row per λ point: v7 trains two below v6's (load_adapted remaps it, below)
    assert all(own[k].shape == v.shape for k, v in state.items() if k in own and k != "log_gain")
    assert "log_gain" not in load_adapted(model, HiCodec(old).state_dict(), old)
