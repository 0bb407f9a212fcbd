"""The model codes any image size: pad to /64 (edge replicate), run, crop back."""
import pytest
import torch

from hicodec_train.model import HiCodec, pad_to


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return HiCodec().eval()


@pytest.mark.parametrize("h,w", [(1, 1), (17, 33), (513, 769)])
def test_odd_sizes_round_trip_shapes(model, h, w):
    x = torch.rand(1, 3, h, w)
    xp = pad_to(x)
    hp, wp = xp.shape[-2:]
    assert hp % 64 == 0 and wp % 64 == 0 and hp - h < 64 and wp - w < 64
    # replicated edge, not zeros
    assert torch.equal(xp[..., h - 1, :w], xp[..., hp - 1, :w])
    gain = model.gain_for_quality(50)[None]
    with torch.no_grad():
        out = model(xp, gain, noise=False)
    assert out["x_hat"].shape == (1, 3, hp, wp)
    assert out["q"].shape == (1, model.cfg.M, hp // 16, wp // 16)
    assert out["k"].shape == out["q"].shape
    assert out["z_hat"].shape == (1, model.cfg.Nz, hp // 64, wp // 64)
    assert out["x_hat"][..., :h, :w].shape == (1, 3, h, w)
    k = out["k"]
    assert torch.equal(k, k.round()) and k.min() >= 0 and k.max() < model.cfg.num_tables


def test_quality_interpolation_hits_trained_points_and_is_monotone_between(model):
    cfg = model.cfg
    for i, q in enumerate(cfg.qualities):
        assert torch.allclose(model.gain_for_quality(q), model.log_gain[i].exp())
    # geometric interpolation: log gain halfway between two anchors is the mean of the logs
    q0, q1 = cfg.qualities[1], cfg.qualities[2]
    mid = torch.log(model.gain_for_quality((q0 + q1) / 2))
    assert torch.allclose(mid, (model.log_gain[1] + model.log_gain[2]) / 2, atol=1e-6)
    # out-of-range qualities clamp to the ends
    assert torch.allclose(model.gain_for_quality(-5), model.gain_for_quality(0))
    assert torch.allclose(model.gain_for_quality(150), model.gain_for_quality(100))
