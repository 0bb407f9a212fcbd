"""The shipped default model package: pinned files, budgets, exact integer network, real coded
bytes that match the estimate, and reconstruction quality on a natural image."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hicodec_train import ort, rans
from hicodec_train.data import load_image
from hicodec_train.entropy import bits_with_tables
from hicodec_train.intnet import W_ZP, numpy_reference
from hicodec_train.metrics import psnr
from hicodec_train.model import pad_to
from hicodec_train.package import load_package_model, read_tables, verify_package

REPO = Path(__file__).resolve().parents[2]
KODIM23 = REPO.parent / "shared" / "data" / "kodak" / "kodim23.png"


@pytest.fixture(scope="module")
def package():
    name = (REPO / "models" / "DEFAULT").read_text().strip()
    root = REPO / "models" / name
    model, manifest = load_package_model(root)  # verifies every sha256
    return root, model, manifest


def test_manifest_budget_and_record(package):
    root, _, m = package
    assert verify_package(root)["id"] == m["id"] == root.name
    assert m["package_bytes"] == sum(f.stat().st_size for f in root.iterdir() if f.name != "manifest.json")
    assert m["package_bytes"] <= 16 * 1024 * 1024
    assert m["macs_per_pixel"]["g_s"] <= 80_000 and m["macs_per_pixel"]["g_a"] <= 60_000
    t = m["training"]
    assert t["commit"] and t["command"]
    # the training it had: the checkpoint's own line, or for weights restored from the campaign's
    # state (whose line starts at step 0 there) the campaign's totals (export.py, campaign_record)
    c = t.get("campaign") or {}
    assert (t["steps"] > 0 and t["wall_time_minutes"] > 0) or (c.get("crops", 0) > 0 and c.get("cpu_minutes", 0) + c.get("gpu_minutes", 0) > 0)
    assert all("kodak" not in d.lower() for d in t["data"])
    assert len(m["quality"]["lambdas"]) >= 4


@pytest.mark.skipif(not ort.available(), reason="run `npm ci` first: onnxruntime-node is the reference runtime")
def test_shipped_integer_network_is_exact_in_onnx_runtime(package):
    import onnx
    from onnx import numpy_helper

    root, model, m = package
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(root / "hyper_scale.onnx")).graph.initializer}
    layers = sum(1 for n in inits if n.startswith("w") and n[1:].isdigit())
    params = [dict(w=inits[f"w{i}"].astype(np.int64) - W_ZP, b=inits[f"b{i}"].reshape(-1).astype(np.int64),
                   mult=inits[f"m{i}"].reshape(-1).astype(np.int64), out_max=int(inits[f"hi{i}"])) for i in range(layers)]
    rng = np.random.default_rng(5)
    z = np.round(rng.normal(0, 3, (1, m["latent"]["hyper_channels"], 3, 4))).astype(np.int32)
    # with a channel context the integer hyper-decoder stops at its uint8 features h (MODEL.md)
    out = "h" if m.get("context") else "index"
    got = ort.run(root / "hyper_scale.onnx", {"z_hat": z})[out]
    assert np.array_equal(got, numpy_reference(params, z, shuffle_last=bool(m.get("context"))))
    with torch.no_grad():
        ref = model.h_s_scale.hidden(torch.from_numpy(z).float(), exact=True) if m.get("context") else model.h_s_scale(torch.from_numpy(z).float(), exact=True)[0]
    assert np.array_equal(got, ref.numpy().astype(np.uint8))


def natural_test_image() -> torch.Tensor:
    if KODIM23.exists():
        return load_image(KODIM23)
    yy, xx = np.mgrid[0:256, 0:384] / 256.0  # smooth fallback scene when Kodak is absent
    img = np.stack([0.5 + 0.3 * np.sin(3 * xx + 2 * yy), 0.4 + 0.2 * np.cos(5 * yy), 0.5 + 0.25 * np.sin(4 * xx * yy)], 0)
    return torch.from_numpy(img[None]).float()


def test_real_bytes_round_trip_and_match_the_estimate(package):
    root, model, _ = package
    y_tables = read_tables(root / "gaussian.tables")
    z_tables = read_tables(root / "factorized.tables")
    x = natural_test_image()[..., :192, :256]
    with torch.no_grad():
        gain = model.gain_for_quality(60)[None, :, None, None]
        y_g = model.g_a(pad_to(x)) * gain
        z_hat = torch.round(model.h_a(y_g))
        e = model.entropy_y(y_g, z_hat, exact=True)  # table indices and symbols, with the context if any
        k, q = e["k"], e["q"]
    zs = z_hat.numpy().astype(np.int64).ravel()
    zc = np.broadcast_to(np.arange(z_hat.shape[1])[:, None, None], z_hat.shape[1:]).ravel()
    ys, yk = q.numpy().astype(np.int64).ravel(), k.numpy().astype(np.int64).ravel()
    for sym, ids, tables in ((zs, zc, z_tables), (ys, yk, y_tables)):
        data = rans.encode(sym, ids, tables)
        assert np.array_equal(rans.decode(data, ids, tables), sym)
        est = bits_with_tables(sym, ids, tables) / 8
        assert est <= len(data) <= est * 1.01 + 8


def test_quality_controls_rate_and_distortion(package):
    _, model, _ = package
    x = natural_test_image()
    h, w = x.shape[-2:]
    ref = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    results = []
    for quality in (0, 50, 100):
        with torch.no_grad():
            gain = model.gain_for_quality(quality)[None]
            out = model(pad_to(x), gain, noise=False)
        rec = (out["x_hat"][..., :h, :w].clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
        bits = -torch.log2(out["lik_y"]).sum() - torch.log2(out["lik_z"]).sum()
        results.append((float(bits) / (h * w), psnr(ref, rec)))
    (b0, p0), (b50, p50), (b100, p100) = results
    assert b0 < b50 < b100 and p0 < p50 < p100
    # hic-base-v4 on kodim23 measured 26.19 / 31.82 / 33.88 dB at 0.071 / 0.175 / 0.429 bpp (quality 0
    # is the extrapolated λ 0.00025 point; hic-base-v3: 30.51 / 32.63 / 33.63 dB at 0.127 / 0.242 / 0.441)
    assert p0 > 25.5 and p50 > 31.3 and p100 > 33.4, results
    assert b0 < 0.09 and b100 > 0.38, results
