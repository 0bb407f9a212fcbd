"""The v5 transforms: within their MAC budgets, a linear patch shortcut that starts as an
orthonormal DCT, and the export (ONNX = PyTorch, attention at /16 only, package restores)."""
import json
from pathlib import Path

import pytest
import torch

import export
from hicodec_train import ort
from hicodec_train.macs import model_macs_per_pixel
from hicodec_train.model import HiCodec, ModelConfig
from hicodec_train.package import load_package_model
from hicodec_train.transforms import dct_basis

V5 = json.loads((Path(__file__).resolve().parents[1] / "recipes" / "base-v5.json").read_text())


def test_macs_within_budget():
    macs = model_macs_per_pixel(HiCodec(ModelConfig(**V5)))
    assert macs["g_s"] <= 12000, macs
    assert macs["g_a"] <= 25000, macs
    # the context counted slice by slice (then the LRP) adds up to the whole; later slices see more
    # earlier channels, so they cost more (what hic info's cost of a reduced decode reads)
    sl = macs["context_slices"]
    assert len(sl) == len(V5["slices"]) + 1 and abs(sum(sl) - macs["context"]) < 1, macs
    assert sl[: len(V5["slices"])] == sorted(sl[: len(V5["slices"])])


def test_dct_basis_is_orthonormal_and_starts_with_the_dc_terms():
    b = dct_basis(192).reshape(192, -1).double()
    assert torch.allclose(b @ b.t(), torch.eye(192, dtype=torch.float64), atol=1e-5)
    dc = torch.full((3, 16, 16), 1 / 16.0)  # flat patch: only the first basis function (luma DC) responds
    coef = b @ dc.reshape(-1).double()
    assert abs(coef[0]) > 0.5 and coef[1:].abs().max() < 1e-6


def test_model_starts_as_a_transform_coder():
    """At step 0 the non-linear synthesis is zero and g_s(round(g_a(x))) is the rounded DCT coder:
    a smooth picture comes back at high PSNR; a model without shortcut starts at mid-grey."""
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 128), torch.linspace(0, 1, 192), indexing="ij")
    x = torch.stack([0.2 + 0.6 * xx, 0.5 + 0.3 * torch.sin(6 * yy), 0.8 - 0.5 * xx * yy])[None]
    m = HiCodec(ModelConfig(**V5)).eval()
    with torch.no_grad():
        xh = m.g_s(torch.round(m.g_a(x)))
    psnr = float(10 * torch.log10(1 / ((xh.clamp(0, 1) - x) ** 2).mean()))
    assert psnr > 35, psnr
    m0 = HiCodec(ModelConfig(**{**V5, "shortcut": False})).eval()
    with torch.no_grad():
        assert torch.allclose(m0.g_s(m0.g_a(x)), torch.full_like(x, 0.5))


@pytest.mark.skipif(not ort.available(), reason="run `npm ci` first: onnxruntime-node is the reference runtime")
def test_export_parity_attention_and_restore(tmp_path):
    torch.manual_seed(1)
    model = HiCodec(ModelConfig(**V5))
    with torch.no_grad():  # distinct untrained tensors (the exporter merges equal initializers)
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01 * (float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 1.0))
    ckpt = tmp_path / "m.pt"
    torch.save(dict(model=model.state_dict(), config=model.cfg.to_dict(), step=3, elapsed=6.0,
                    record=dict(data=["synthetic"], images=0)), ckpt)
    out = tmp_path / "pkg"
    assert export.main([str(ckpt), "--id", "hic-test-v5", "--out", str(out)]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert [(a["stride"], a["block"], a["shift"]) for a in m["explain"]["attention"]] == [(16, 0, 0), (16, 1, 4)]
    assert [f["channels"] for f in m["explain"]["features"]] == V5["ga_dims"]
    assert m["macs_per_pixel"]["g_s"] <= 12000 and m["macs_per_pixel"]["g_a"] <= 25000
    for size, r in m["export"]["parity"].items():
        for role in ("analysis", "hyper_analysis", "hyper_mean", "synthesis", "synthesis.attn16_1"):
            assert r[role] <= 1e-4, (size, role, r[role])
        assert r["hyper_scale_mismatches"] == 0
    restored, _ = load_package_model(out)
    x = torch.rand(1, 3, 64, 128)
    g = model.gain_for_quality(50.0)[None]
    with torch.no_grad():
        a = restored(x, g, noise=False)["x_hat"]
        ref = export.load_checkpoint(ckpt)[0]
        from hicodec_train.package import round_weights_fp16
        round_weights_fp16(ref)
        b = ref(x, g, noise=False)["x_hat"]
    assert float((a - b).abs().max()) < 1e-3
