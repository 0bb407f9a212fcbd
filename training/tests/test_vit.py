"""The latent-token ViT: any token grid (position embedding resized), the class-token attention is
a distribution, training lowers the loss on separable data, and the exported ONNX classifier
matches PyTorch at three grid sizes with a manifest naming its codec model."""
import json

import numpy as np
import pytest
import torch

import train_vit
from hicodec_train import ort
from hicodec_train.vit import TokenViT, VitConfig, mix_tokens, rgb_patches, shift_tokens


def test_any_grid_and_attention_over_tokens():
    torch.manual_seed(0)
    m = TokenViT(VitConfig(dim=32, depth=2, heads=2)).eval()
    for h, w in ((16, 16), (8, 12), (1, 1), (32, 20)):
        logits, attn = m(torch.randn(2, 192, h, w))
        assert logits.shape == (2, 5) and attn.shape == (2, h * w)
        # the class token's row over the image tokens: non-negative, summing to 1 minus its self-attention
        assert (attn >= 0).all() and (attn.sum(1) > 0).all() and (attn.sum(1) <= 1 + 1e-5).all()
    assert rgb_patches(torch.rand(1, 3, 64, 32)).shape == (1, 768, 4, 2)


def test_merged_tokens_and_shift_augmentation():
    torch.manual_seed(0)
    m = TokenViT(VitConfig(dim=32, depth=1, heads=2, merge=2)).eval()
    assert m.pos.shape[-2:] == (8, 8)
    for h, w in ((16, 16), (12, 20), (5, 7)):
        logits, attn = m(torch.randn(1, 192, h, w))
        assert logits.shape == (1, 5) and attn.shape == (1, (h // 2) * (w // 2))
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    rng = np.random.default_rng(0)
    assert torch.equal(shift_tokens(x, rng, 0), x)
    y = shift_tokens(x, rng, 1)
    assert y.shape == x.shape
    # every output row is a row of the input moved by at most one token, edges replicated
    for i in range(2):
        ok = False
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ys = np.clip(np.arange(4) + dy, 0, 3)
                xs = np.clip(np.arange(5) + dx, 0, 4)
                ok |= torch.equal(y[i], x[i][:, ys][:, :, xs])
        assert ok


def test_mix_tokens_cutmix_and_mixup():
    """p = 0 leaves the batch alone; otherwise each output is a CutMix (every token from the sample
    or its partner, λ = the share from the sample) or a MixUp (λ·x + (1 − λ)·partner)."""
    x = torch.randn(6, 4, 8, 8)
    rng = np.random.default_rng(3)
    same, order, lam = mix_tokens(x, rng, 0.0)
    assert same is x and lam == 1.0 and (order == np.arange(6)).all()
    kinds = set()
    for _ in range(40):
        y, order, lam = mix_tokens(x, rng, 1.0)
        assert y.shape == x.shape and 0.0 <= lam <= 1.0 and sorted(order) == list(range(6))
        own = (y == x).all(1)  # tokens taken from the sample itself
        other = (y == x[order]).all(1)
        if bool((own | other).all()):  # CutMix: the share of own tokens is λ (partner == self counts as own)
            kinds.add("cut")
            for i in np.nonzero(order != np.arange(6))[0]:  # one box for the batch: 1 − λ of the tokens moved
                assert abs((1 - lam) - (~own[i]).float().mean().item()) < 1e-6
        else:
            kinds.add("mix")
            assert torch.allclose(y, lam * x + (1 - lam) * x[order], atol=1e-6)
    assert kinds == {"cut", "mix"}


def write_data(d, n=24):
    """A tiny, separable data set in vit_prep.mjs's layout: class i has latent channel i high."""
    rng = np.random.default_rng(0)
    meta = {"codec": "hic-test-codec", "qualities": [0, 25, 50, 75, 100], "classes": ["a", "b", "c", "d", "e"], "splits": {}}
    for split, quals in (("train", 3), ("val", 5)):
        labels = np.arange(n) % 5
        lat = rng.normal(0, 0.1, (quals, n, 192, 16, 16)).astype(np.float32)
        for i, l in enumerate(labels):
            lat[:, i, l] += 2.0
        lat.tofile(d / f"{split}-latent.f32")
        rng.integers(0, 255, (quals, n, 3, 256, 256), dtype=np.uint8).tofile(d / f"{split}-decoded.u8")
        rng.integers(0, 255, (n, 3, 256, 256), dtype=np.uint8).tofile(d / f"{split}-original.u8")
        labels.astype("<i8").tofile(d / f"{split}-labels.i64")
        meta["splits"][split] = {"images": n, "latent": [quals, n, 192, 16, 16], "decoded": [quals, n, 3, 256, 256], "original": [n, 3, 256, 256]}
    (d / "prep.json").write_text(json.dumps(meta))


def test_train_and_export(tmp_path):
    write_data(tmp_path)
    assert train_vit.main(["train", "--data", str(tmp_path), "--input", "latent", "--epochs", "6", "--batch", "8", "--dim", "32",
                           "--depth", "1", "--heads", "2", "--lr", "3e-3", "--warmup", "2", "--threads", "1"]) == 0
    res = json.loads((tmp_path / "results-latent.json").read_text())
    assert res["accuracy"]["50"] >= 80, res["accuracy"]
    out = tmp_path / "pkg"
    assert train_vit.main(["export", "--data", str(tmp_path), "--id", "hic-vit-test", "--out", str(out)]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["kind"] == "classifier" and m["codec_model"] == "hic-test-codec" and m["classes"] == ["a", "b", "c", "d", "e"]
    if ort.available():
        assert set(m["export"]["parity_max_abs"]) == {"16x16", "20x12", "4x4"}
        assert max(m["export"]["parity_max_abs"].values()) < 1e-4
