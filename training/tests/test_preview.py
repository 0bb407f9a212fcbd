"""Shrink-on-load preview heads (hicodec_train/preview.py): the linear part starts as the exact
block average of g_s's patch shortcut, the partial latent is what a decoder reading the first slices
has, and only whole slices can be read."""
import json
from pathlib import Path

import pytest
import torch

from hicodec_train.model import HiCodec, ModelConfig
from hicodec_train.preview import PreviewHead, box_downscale, partial_latent, slice_boundaries

V5 = json.loads((Path(__file__).resolve().parents[1] / "recipes" / "base-v5.json").read_text())


@pytest.mark.parametrize("scale,up", [(2, 0), (4, 0), (8, 0), (2, 2), (4, 2), (8, 1)])
def test_head_starts_as_the_block_averaged_linear_path(scale, up):
    torch.manual_seed(scale)
    m = HiCodec(ModelConfig(**V5)).eval()
    y = torch.randn(1, m.cfg.M, 3, 5) * 4
    head = PreviewHead(m.cfg.M, scale, hidden=16, shortcut=m.g_s.shortcut[0].weight, up=up)
    with torch.no_grad():
        want = box_downscale(m.g_s.shortcut(y) + 0.5, scale)
        got = head(y)
    assert got.shape == (1, 3, 3 * 16 // scale, 5 * 16 // scale)
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("scale,up", [(8, 1), (4, 2), (2, 2)])
def test_up_head_sees_no_further_than_its_halo(scale, up):
    """Tiles decode at the reduced size with `halo` latent positions around each: a head's output
    over one token must not change when ŷ changes further away than that."""
    torch.manual_seed(up)
    head = PreviewHead(8, scale, hidden=16, up=up).eval()
    for mod in head.body:
        if isinstance(mod, torch.nn.Conv2d):
            torch.nn.init.normal_(mod.weight, std=0.2)
    n, c, r = 11, 5, 16 // scale
    y = torch.randn(1, 8, n, n)
    far = y.clone()
    far[:, :, :, c + head.halo + 1:] += 5
    far[:, :, :c - head.halo, :] -= 5
    near = y.clone()
    near[:, :, c, c + head.halo] += 5
    with torch.no_grad():
        px = lambda t: head(t)[..., c * r:(c + 1) * r, c * r:(c + 1) * r]  # noqa: E731
        assert torch.equal(px(y), px(far))
        assert not torch.equal(px(y), px(near))  # the halo is not larger than it needs to be
    assert head.halo == 3


def test_partial_latent_is_the_first_slices_of_the_full_one():
    torch.manual_seed(1)
    m = HiCodec(ModelConfig(**V5)).eval()
    x = torch.rand(2, 3, 128, 128)
    q = torch.tensor([20.0, 90.0])
    ends = slice_boundaries(m)
    assert ends == [16, 32, 64, 128, 192]
    full = partial_latent(m, x, q, ends[-1])
    for k in ends[:-1]:
        assert torch.equal(partial_latent(m, x, q, k), full[:, :k])
    # the unrefined ŷ: the decoder's ŷ_g before the LRP step, divided by the gain
    g = torch.exp(m.log_gain_for_quality(q))[:, :, None, None]
    with torch.no_grad():
        y_g = m.g_a(x) * g
        e = m.entropy_y(y_g, torch.round(m.h_a(y_g)), noise=False)
    lrp = m.ctx.refine(e["mu_h"], full * g)
    assert torch.allclose(lrp / g, e["yhat_g"] / g, atol=1e-4)


def test_warm_start_loads_the_shipped_head_exactly():
    """train_previews --warm-start: a candidate the package ships starts as that head (its ONNX
    output, to float precision); one it does not ship is left alone."""
    import numpy as np

    import train_previews
    from hicodec_train import ort

    repo = Path(__file__).resolve().parents[2]
    pkg = repo / "models" / (repo / "models" / "DEFAULT").read_text().strip()
    manifest = json.loads((pkg / "manifest.json").read_text())
    spec = manifest["previews"]["heads"][0]
    head = PreviewHead(spec["channels"], spec["scale"], spec["hidden"], up=spec.get("up", 0)).eval()
    assert train_previews.warm_start(head, pkg, manifest, spec["hidden"])
    last = [mod for mod in head.body if isinstance(mod, torch.nn.Conv2d)][-1]
    assert float(last.weight.abs().sum()) > 0  # not the zero-initialised body
    other = PreviewHead(16, spec["scale"], spec["hidden"], up=spec.get("up", 0))
    assert not train_previews.warm_start(other, pkg, manifest, spec["hidden"])
    if ort.available():
        y = torch.randn(1, spec["channels"], 6, 5)
        with torch.no_grad():
            ref = head(y).numpy()
        got = ort.run(pkg / spec["file"], {"y_hat": y.numpy()})["x"]
        assert np.abs(got - ref).max() < 1e-4


def test_a_run_of_one_scale_keeps_the_other_heads():
    """train_previews --heads 4:192 on a package with heads at 1/8, 1/4 and 1/2: the new 1/4 head
    replaces the shipped one, 1/8 and 1/2 stay listed, and their training record is kept."""
    import train_previews

    shipped = {"heads": [{"scale": 8, "file": "preview_s8.onnx"}, {"scale": 4, "file": "preview_s4.onnx", "old": True},
                         {"scale": 2, "file": "preview_s2.onnx"}],
               "training": {"command": "first"}, "earlier": [{"command": "zeroth"}]}
    heads, extra = train_previews.merge_heads(shipped, [{"scale": 4, "file": "preview_s4.onnx"}])
    assert [h["scale"] for h in heads] == [8, 4, 2]
    assert "old" not in heads[1]
    assert extra == {"kept": [8, 2], "earlier": [{"command": "first"}, {"command": "zeroth"}]}
    # every scale trained again: nothing kept, no history carried
    heads, extra = train_previews.merge_heads(shipped, [{"scale": s} for s in (2, 8, 4)])
    assert [h["scale"] for h in heads] == [8, 4, 2] and extra == {}
    assert train_previews.merge_heads(None, [{"scale": 8}]) == ([{"scale": 8}], {})
