"""Lean slices (ModelConfig.lean_slices, package format 3): the last slices have no mean net (μ = μ_h)
and stay outside the LRP. Converting a model drops exactly those paths, a resumed checkpoint keeps
its Adam moments, and the package says what the decoder must do (no mean graph, refine_channels)."""
import json
import math

import pytest
import torch

import export
from hicodec_train import ort
from hicodec_train.model import HiCodec, ModelConfig, adapt_checkpoint, adapt_lambdas, load_adapted
from hicodec_train.package import load_package_model, round_weights_fp16

SMALL = dict(arch="v5", M=64, Nz=32, N=32, hs_hidden=32, hm_hidden=32, ga_dims=[16, 32, 48], gs_dims=[48], gs_depths=[1],
             gs_heads=[2], gs_convs=[24, 16, 8], slices=[16, 16, 32], ctx_hidden=16, lrp=True, lrp_hidden=16)


def _trained(cfg: ModelConfig) -> HiCodec:
    torch.manual_seed(0)
    m = HiCodec(cfg)
    with torch.no_grad():  # a "trained" model: every path non-zero, every tensor distinct
        for p in m.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return m.eval()


def _picture(h=128, w=128):
    g = torch.Generator().manual_seed(1)
    return torch.rand(1, 3, h, w, generator=g)


@torch.no_grad()
def test_conversion_drops_exactly_the_mean_net_and_the_lrp_paths_of_the_lean_slice():
    full = _trained(ModelConfig(**SMALL))
    lean = HiCodec(ModelConfig(**SMALL, lean_slices=1)).eval()
    assert load_adapted(lean, full.state_dict(), full.cfg) == []
    assert lean.ctx.refine_channels == 32 and len(lean.ctx.mean) == 1 and len(full.ctx.mean) == 2
    # the same model with those paths zeroed
    cut = _trained(ModelConfig(**SMALL))
    cut.ctx.mean[1][-1].weight.zero_()
    cut.ctx.mean[1][-1].bias.zero_()
    cut.ctx.lrp[0].weight[:, 32:64] = 0
    cut.ctx.lrp[0].weight[:, 96:] = 0
    cut.ctx.lrp[-1].weight[32:] = 0
    cut.ctx.lrp[-1].bias[32:] = 0
    x, g = _picture(), lean.gain_for_quality(60)[None]
    a, b = lean(x, g, noise=False), cut(x, g, noise=False)
    assert torch.equal(a["q"], b["q"]) and torch.equal(a["k"], b["k"])
    assert torch.allclose(a["x_hat"], b["x_hat"], atol=1e-6)
    # and it differs from the full model (the paths did something)
    assert not torch.allclose(full(x, g, noise=False)["x_hat"], a["x_hat"], atol=1e-4)
    # μ of the lean slice is μ_h's
    y_g = lean.g_a(x) * g[:, :, None, None]
    z = torch.round(lean.h_a(y_g))
    e = lean.entropy_y(y_g, z)
    assert torch.equal(e["yhat_g"][:, 32:], e["q"][:, 32:] + e["mu_h"][:, 32:])


def test_a_resumed_checkpoint_keeps_its_adam_moments():
    cfg = ModelConfig(**SMALL)
    m = _trained(cfg).train()
    main = [p for n, p in m.named_parameters() if not n.endswith("quantiles") and n != "log_gain"]
    opt = torch.optim.Adam([dict(params=main), dict(params=[m.log_gain])], lr=1e-4)
    out = m(_picture(64, 64), m.gain_for_quality(50)[None])
    (out["x_hat"].square().mean() - torch.log(out["lik_y"]).mean()).backward()
    opt.step()
    ck = dict(config=cfg.to_dict(), model=m.state_dict(), ema={k: v.clone() for k, v in m.state_dict().items()},
              optimizer=opt.state_dict(), step=1)
    new = ModelConfig(**SMALL, lean_slices=1)
    ck2 = adapt_checkpoint(ck, new)
    lean = HiCodec(new)
    lean.load_state_dict(ck2["model"])
    lean.load_state_dict(ck2["ema"])
    names = [n for n, p in lean.named_parameters() if not n.endswith("quantiles") and n != "log_gain"]
    main2 = [p for n, p in lean.named_parameters() if n in names]
    opt2 = torch.optim.Adam([dict(params=main2), dict(params=[lean.log_gain])], lr=1e-4)
    opt2.load_state_dict(ck2["optimizer"])
    old = dict(zip([n for n, p in m.named_parameters() if p in set(main)], main))
    for n, p in zip(names, main2):
        st, st0 = opt2.state[p], opt.state[old[n]]
        if not st0:  # no gradient reached it in one step
            assert not st, n
        elif n == "ctx.lrp.0.weight":
            assert torch.equal(st["exp_avg"], torch.cat([st0["exp_avg"][:, :32], st0["exp_avg"][:, 64:96]], 1))
        elif n.startswith("ctx.lrp.2."):
            assert torch.equal(st["exp_avg_sq"], st0["exp_avg_sq"][:32])
        else:
            assert torch.equal(st["exp_avg"], st0["exp_avg"]) and torch.equal(st["exp_avg_sq"], st0["exp_avg_sq"]), n
    assert torch.equal(opt2.state[lean.log_gain]["exp_avg"], opt.state[m.log_gain]["exp_avg"])
    with pytest.raises(ValueError):
        adapt_checkpoint(ck2, new)  # no more lean slices than it has


@pytest.mark.skipif(not ort.available(), reason="run `npm ci` first: onnxruntime-node is the reference runtime")
def test_a_lean_package_is_format_3_and_restores(tmp_path):
    model = _trained(ModelConfig(**SMALL, lean_slices=1))
    ck = tmp_path / "m.pt"
    torch.save(dict(model=model.state_dict(), config=model.cfg.to_dict(), step=1, elapsed=1.0, record=dict(data=["synthetic"], images=0)), ck)
    out = tmp_path / "pkg"
    assert export.main([str(ck), "--id", "hic-lean-test", "--out", str(out)]) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["format_version"] == 3
    c = man["context"]
    assert c["mean"] == [None, "mean_s1.onnx", None] and c["refine_channels"] == 32 and not (out / "mean_s2.onnx").exists()
    par = [r for r in man["export"]["parity"].values() if isinstance(r, dict) and "hyper_scale_mismatches" in r]
    assert par and all(r["hyper_scale_mismatches"] == 0 and r["context_refine"] < 1e-3 for r in par)
    back, _ = load_package_model(out)
    assert back.cfg.lean_slices == 1
    ref = _trained(ModelConfig(**SMALL, lean_slices=1))
    round_weights_fp16(ref)
    x, g = _picture(), back.gain_for_quality(50)[None]
    with torch.no_grad():
        assert torch.equal(back(x, g, noise=False)["q"], ref(x, g, noise=False)["q"])


def test_new_lambda_points_keep_the_trained_rows_and_their_adam_moments():
    cfg = ModelConfig(**SMALL, lambdas=[0.0018, 0.013, 0.0483])
    m = _trained(cfg).train()
    main = [p for n, p in m.named_parameters() if not n.endswith("quantiles") and n != "log_gain"]
    opt = torch.optim.Adam([dict(params=main), dict(params=[m.log_gain])], lr=1e-4)
    # a gradient on every log_gain row, so that every old point has moments to keep
    out = m(_picture(64, 64), torch.exp(m.log_gain).mean(0)[None])
    (out["x_hat"].square().mean() - torch.log(out["lik_y"]).mean() + m.log_gain.square().sum()).backward()
    opt.step()
    ck = dict(config=cfg.to_dict(), model=m.state_dict(), ema={k: v.clone() for k, v in m.state_dict().items()},
              optimizer=opt.state_dict(), step=1, loss_scale=torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    ck2 = adapt_lambdas(ck, [0.00045, 0.0009, 0.0018, 0.013, 0.0483])
    new = ModelConfig(**ck2["config"])
    assert new.lambdas == (0.00045, 0.0009, 0.0018, 0.013, 0.0483) and new.qualities == (0, 25, 50, 75, 100)
    m2 = HiCodec(new)
    m2.load_state_dict(ck2["model"])
    m2.load_state_dict(ck2["ema"])
    lg, lg0 = m2.log_gain.detach(), m.log_gain.detach()
    assert torch.equal(lg[2:], lg0)  # the trained points are unchanged
    assert torch.allclose(lg[0], lg0[0] + 0.5 * math.log(0.00045 / 0.0018))  # new: gain ∝ √λ below the range
    main2 = [p for n, p in m2.named_parameters() if not n.endswith("quantiles") and n != "log_gain"]
    opt2 = torch.optim.Adam([dict(params=main2), dict(params=[m2.log_gain])], lr=1e-4)
    opt2.load_state_dict(ck2["optimizer"])
    st, st0 = opt2.state[m2.log_gain], opt.state[m.log_gain]
    assert torch.equal(st["exp_avg"][2:], st0["exp_avg"]) and torch.equal(st["exp_avg_sq"][2:], st0["exp_avg_sq"])
    assert not st["exp_avg"][:2].any() and not st["exp_avg_sq"][:2].any()
    assert ck2["loss_scale"].tolist() == [0.0, 0.0, 1.0, 2.0, 3.0]
    for p, p0 in zip(main2, main):  # everything else as it was
        if opt.state[p0]:
            assert torch.equal(opt2.state[p]["exp_avg"], opt.state[p0]["exp_avg"])
