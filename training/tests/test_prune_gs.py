"""Narrowing g_s's residual blocks in trained weights (training/tools/prune_gs.py, issue 27): the
narrowed model has the smaller widths and MAC count, the least-squares refit is closer to the full
block than keeping the chosen channels as they were, nothing before g_s changes (same symbols),
the Adam moments follow the kept channels, and train.py resumes from the written checkpoint."""
import json
import sys
from pathlib import Path

import torch

from hicodec_train.macs import model_macs_per_pixel
from hicodec_train.model import HiCodec, ModelConfig

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING / "tools"))
import prune_gs  # noqa: E402

SMALL = dict(arch="v5", M=64, Nz=32, N=32, hs_hidden=32, hm_hidden=32, ga_dims=[16, 32, 48], gs_dims=[48], gs_depths=[1],
             gs_heads=[2], gs_convs=[24, 16, 8], slices=[16, 16, 32], ctx_hidden=16, lrp=True, lrp_hidden=16,
             lambdas=[0.0018, 0.013, 0.0483])


def _trained(cfg: ModelConfig, seed: int = 0) -> HiCodec:
    torch.manual_seed(seed)
    m = HiCodec(cfg)
    with torch.no_grad():  # every path non-zero (the synthesis' last conv starts at zero)
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m.eval()


def _crops(n=4, size=64):
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, 3, size, size, generator=g)


@torch.no_grad()
def test_refit_beats_the_plain_cut_and_only_g_s_changes():
    cfg = ModelConfig(**SMALL)
    m = _trained(cfg)
    narrowed, keeps, errs = prune_gs.narrow_state(m.state_dict(), cfg, (16, 8, 8), _crops(), [0, 100])
    assert set(keeps) == {"res8", "res4"}  # res2 stays 8 wide: nothing to do
    for b in keeps:
        assert 0 <= errs[b]["refit"] < errs[b]["cut_only"]
    new_cfg = ModelConfig(**{**cfg.to_dict(), "gs_res_hidden": (16, 8, 8)})
    n = HiCodec(new_cfg).eval()
    n.load_state_dict(narrowed)
    assert n.g_s.res8.body[0].out_channels == 16 and n.g_s.res4.body[2].in_channels == 8
    assert model_macs_per_pixel(n)["g_s"] < model_macs_per_pixel(m)["g_s"]
    changed = {k for k in narrowed if not torch.equal(narrowed[k], m.state_dict()[k]) if narrowed[k].shape == m.state_dict()[k].shape}
    changed |= {k for k in narrowed if narrowed[k].shape != m.state_dict()[k].shape}
    assert changed and all(k.startswith("g_s.res8.body") or k.startswith("g_s.res4.body") for k in changed)
    x = torch.rand(1, 3, 64, 64)
    g = m.gain_for_quality(50)[None]
    a, b = m(x, g, noise=False), n(x, g, noise=False)
    assert torch.equal(a["q"], b["q"]) and torch.equal(a["k"], b["k"])
    assert not torch.equal(a["x_hat"], b["x_hat"])
    # the narrowed picture stays near the full one (random weights: loosely)
    assert float((a["x_hat"] - b["x_hat"]).abs().mean()) < float(a["x_hat"].abs().mean())


def test_adam_moments_follow_the_kept_channels():
    cfg = ModelConfig(**SMALL)
    m = _trained(cfg)
    names = [n for n, _ in m.named_parameters() if not n.endswith("quantiles") and n != "log_gain"]
    params = dict(m.named_parameters())
    opt = {"state": {i: {"step": torch.tensor(3.0), "exp_avg": torch.randn_like(params[n]), "exp_avg_sq": torch.rand_like(params[n])}
                     for i, n in enumerate(names)},
           "param_groups": [{"params": list(range(len(names))), "lr": 1e-4}]}
    keep = torch.tensor([1, 4, 7, 9, 10, 12, 20, 23])
    new = prune_gs.narrow_optimizer(opt, cfg, {"res8": keep}, [])
    i1, i2 = names.index("g_s.res8.body.0.weight"), names.index("g_s.res8.body.2.weight")
    assert torch.equal(new["state"][i1]["exp_avg"], opt["state"][i1]["exp_avg"][keep])
    assert torch.equal(new["state"][i2]["exp_avg_sq"], opt["state"][i2]["exp_avg_sq"][:, keep])
    other = names.index("g_s.res4.body.0.weight")
    assert new["state"][other]["exp_avg"] is not None and torch.equal(new["state"][other]["exp_avg"], opt["state"][other]["exp_avg"])
    try:
        prune_gs.narrow_optimizer(opt, cfg, {"res8": keep}, ["h_a."])
    except SystemExit as e:
        assert "--freeze" in str(e)
    else:
        raise AssertionError("a --freeze that does not match the optimizer must be refused")


def test_a_narrowed_checkpoint_resumes_training(tmp_path):
    import train
    from conftest import write_wave_pngs

    images = tmp_path / "imgs"
    images.mkdir()
    write_wave_pngs(images, 4, 96, seed=0)
    cfg_file = tmp_path / "small.json"
    cfg_file.write_text(json.dumps(SMALL))
    common = ["--data", str(images), "--config", str(cfg_file), "--crop", "64", "--batch", "2", "--threads", "1",
              "--log-every", "1", "--ema", "0.9", "--freeze", "h_a."]
    assert train.main(["--out", str(tmp_path / "a"), "--steps", "2", *common]) == 0
    assert prune_gs.main([str(tmp_path / "a" / "last.pt"), "--hidden", "12,8,4", "--out", str(tmp_path / "b" / "start.pt"),
                          "--train", str(images), "--crops", "2", "--crop", "64", "--threads", "1"]) == 0
    assert train.main(["--out", str(tmp_path / "b"), "--steps", "4", "--resume", str(tmp_path / "b" / "start.pt"), *common]) == 0
    done = torch.load(tmp_path / "b" / "last.pt", map_location="cpu")
    assert done["step"] == 4 and tuple(done["config"]["gs_res_hidden"]) == (12, 8, 4)
    assert done["model"]["g_s.res8.body.0.weight"].shape[0] == 12 and done["ema"]["g_s.res2.body.2.weight"].shape[1] == 4
    assert [(tuple(r["hidden"]), r["step"]) for r in done["record"]["gs_narrowed"]] == [((12, 8, 4), 2)]


def test_the_ema_and_the_last_weights_keep_the_same_channels(tmp_path):
    """The EMA is a running average of the last weights: both must keep the same hidden channels
    (chosen on the EMA), whatever each one's own ranking would be."""
    cfg = ModelConfig(**SMALL)
    last, ema = _trained(cfg, seed=0).state_dict(), _trained(cfg, seed=5).state_dict()
    ck = tmp_path / "ck.pt"
    torch.save({"config": cfg.to_dict(), "model": last, "ema": ema, "step": 7}, ck)
    images = tmp_path / "imgs"
    images.mkdir()
    from conftest import write_wave_pngs

    write_wave_pngs(images, 3, 96, seed=2)
    out = tmp_path / "narrow.pt"
    assert prune_gs.main([str(ck), "--hidden", "12,16,8", "--out", str(out), "--train", str(images), "--crops", "3", "--crop", "64",
                          "--threads", "1"]) == 0
    new = torch.load(out, map_location="cpu")
    # which channels each would keep by its own ranking differ here (independent weights) ...
    own = {}
    for name, state in (("model", last), ("ema", ema)):
        m = HiCodec(cfg).eval()
        m.load_state_dict(state)
        xs = prune_gs.block_inputs(m, prune_gs.calibration_crops(images, 3, 64), prune_gs.calibration_qualities(cfg))
        own[name] = prune_gs.narrow_block(m.g_s.res8, xs["res8"], 12)[0]
    assert not torch.equal(own["model"], own["ema"])
    # ... but both keep the EMA's, rows of conv1 taken from the same indices
    keep = own["ema"]
    for name, state in (("model", last), ("ema", ema)):
        assert torch.equal(new[name]["g_s.res8.body.0.weight"], state["g_s.res8.body.0.weight"][keep])
        assert torch.equal(new[name]["g_s.res8.body.0.bias"], state["g_s.res8.body.0.bias"][keep])
