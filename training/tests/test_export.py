"""Export: ONNX matches PyTorch at three sizes (one needs window padding), the integer scale net
matches exactly, the manifest pins every file, and the package restores the PyTorch model."""
import json

import numpy as np
import pytest
import torch

import export
from hicodec_train import ort
from hicodec_train.model import HiCodec
from hicodec_train.package import load_package_model, round_weights_fp16, round_weights_int8, verify_package

needs_ort = pytest.mark.skipif(not ort.available(), reason="run `npm ci` first: onnxruntime-node is the reference runtime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = HiCodec()
    with torch.no_grad():  # untrained tensors can be equal (GDN gammas): make every one distinct
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01 * (float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 1.0))
    d = tmp_path_factory.mktemp("export")
    ckpt = d / "m.pt"
    torch.save(dict(model=model.state_dict(), config=model.cfg.to_dict(), step=7, elapsed=60.0,
                    record=dict(data=["synthetic"], images=0)), ckpt)
    out = d / "pkg"
    args = [str(ckpt), "--id", "hic-test", "--out", str(out)]
    if not ort.available():
        args.append("--no-parity")
    assert export.main(args) == 0
    return model, out


@needs_ort
def test_onnx_matches_pytorch_at_three_sizes(exported):
    _, out = exported
    parity = json.loads((out / "manifest.json").read_text())["export"]["parity"]
    assert set(parity) == {"64x64", "192x128", "448x320"}
    for size, r in parity.items():
        for role in ("analysis", "hyper_analysis", "hyper_mean", "synthesis"):
            assert r[role] <= 1e-4, (size, role, r[role])
        assert r["hyper_scale_mismatches"] == 0 and r["hyper_scale_elements"] > 0


@needs_ort
def test_explain_outputs_match_pytorch_and_attention_rows_sum_to_one(exported):
    """Stage features of g_a and the attention of every /16 and /8 block are extra graph outputs
    (after the primary one); ONNX equals PyTorch and each attention row is a distribution."""
    model, out = exported
    m = json.loads((out / "manifest.json").read_text())
    feats, attn = m["explain"]["features"], m["explain"]["attention"]
    assert [f["stride"] for f in feats] == [2, 4, 8]
    assert [(a["stride"], a["block"], a["shift"], a["heads"]) for a in attn] == [(16, 0, 0, 6), (16, 1, 4, 6), (8, 0, 0, 4), (8, 1, 4, 4)]
    assert list(m["networks"]["analysis"]["outputs"])[0] == "y" and list(m["networks"]["synthesis"]["outputs"])[0] == "x_hat"
    for size, r in m["export"]["parity"].items():
        for name in [f"analysis.{f['name']}" for f in feats] + [f"synthesis.{a['name']}" for a in attn]:
            assert r[name] <= 1e-4, (size, name, r[name])
    # 320×448 image → /16 grid 20×28, padded to 24×32 → 12 windows; /8 grid 40×56 → 35 windows
    y_hat = torch.randn(1, model.cfg.M, 20, 28)
    got = ort.run(out / "synthesis.onnx", {"y_hat": y_hat.numpy()})
    assert list(got)[0] == "x_hat"
    assert got["attn16_0"].shape == (12, 6, 64, 64) and got["attn8_1"].shape == (35, 4, 64, 64)
    for a in attn:
        w = got[a["name"]]
        assert np.abs(w.sum(-1) - 1).max() < 1e-5 and w.min() >= 0


def test_manifest_hashes_verify_and_catch_tampering(exported, tmp_path):
    _, out = exported
    m = verify_package(out)
    assert m["id"] == "hic-test" and m["onnx"]["opset"] == 17
    assert m["package_bytes"] <= 16 * 1024 * 1024
    assert set(m["files"]) >= {"analysis.onnx", "hyper_analysis.onnx", "hyper_scale.onnx", "hyper_mean.onnx",
                               "synthesis.onnx", "gaussian.tables", "factorized.tables", "gains.f32"}
    macs = m["macs_per_pixel"]
    assert macs["g_s"] <= 80_000 and macs["g_a"] <= 60_000
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    b = bytearray((bad / "synthesis.onnx").read_bytes())
    b[len(b) // 2] ^= 1
    (bad / "synthesis.onnx").write_bytes(bytes(b))
    with pytest.raises(ValueError, match="sha256"):
        verify_package(bad)


def test_exported_graphs_are_integer_free_of_float_where_required(exported):
    import onnx

    _, out = exported
    g = onnx.load(str(out / "hyper_scale.onnx")).graph
    assert g.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT32
    assert g.output[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert not any(n.op_type in ("Conv", "MatMul", "Div", "Sqrt", "Exp") for n in g.node)
    syn = onnx.load(str(out / "synthesis.onnx")).graph
    ops = {n.op_type for n in syn.node}
    assert {"MatMul", "Softmax", "LayerNormalization", "DepthToSpace"} <= ops  # attention + pixel shuffle
    assert "If" not in ops and "Loop" not in ops


def test_package_restores_the_pytorch_model(exported):
    model, out = exported
    ref = HiCodec(model.cfg)
    ref.load_state_dict(model.state_dict())
    round_weights_fp16(ref)
    back, _ = load_package_model(out)
    a, b = ref.state_dict(), back.state_dict()
    for k in a:
        if k.startswith("h_s_scale."):
            continue
        assert torch.allclose(a[k], b[k], rtol=1e-6, atol=1e-7), k
    for pa, pb in zip(ref.h_s_scale.integer_params(), back.h_s_scale.integer_params()):
        for key in ("w", "b", "mult"):
            assert np.array_equal(pa[key], pb[key])


@needs_ort
def test_int8_encoder_weights_shrink_the_encoder_and_restore(exported, tmp_path):
    """--int8-encoder: g_a and h_a store their convolution weights as int8 (a scale per output
    channel); ONNX still matches PyTorch with the same rounded weights, the decoder's graphs keep
    fp16, and the package restores exactly those weights."""
    model, fp16 = exported
    out = tmp_path / "pkg8"
    assert export.main([str(fp16.parent / "m.pt"), "--id", "hic-test", "--out", str(out), "--int8-encoder"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    for role in ("analysis", "hyper_analysis"):
        assert (out / f"{role}.onnx").stat().st_size < 0.65 * (fp16 / f"{role}.onnx").stat().st_size, role
    for role in ("synthesis", "hyper_mean"):
        assert abs((out / f"{role}.onnx").stat().st_size - (fp16 / f"{role}.onnx").stat().st_size) < 64, role
    for size, r in m["export"]["parity"].items():
        for role in ("analysis", "hyper_analysis", "synthesis"):
            assert r[role] <= 1e-4, (size, role, r[role])
    assert "int8" in m["onnx"]["weights"]
    import onnx
    inits = {i.name for i in onnx.load(str(out / "analysis.onnx")).graph.initializer}
    assert any(n.endswith("__int8") for n in inits)
    assert not any(n.endswith("__scale__fp16") for n in inits)  # scales stay float32
    ref = HiCodec(model.cfg)
    ref.load_state_dict(model.state_dict())
    round_weights_fp16(ref)
    round_weights_int8(ref.g_a)
    round_weights_int8(ref.h_a)
    back, _ = load_package_model(out)
    a, b = ref.state_dict(), back.state_dict()
    for k in a:
        if k.startswith(("g_a.", "h_a.")):
            assert torch.allclose(a[k], b[k], rtol=1e-6, atol=1e-7), k
    # the int8 grid is coarse but not wrong: within half a step of the fp16 weights
    w = model.state_dict()
    conv = [k for k in a if k.startswith("g_a.") and a[k].dim() == 4 and a[k].numel() >= 4096 and a[k].shape[1] != 3]
    assert conv
    # the convolutions that read the pixels (the linear shortcut among them) stay fp16: int8 there
    # cost a candidate +26% bytes on a smooth photo (hicodec_train/package.py, int8_stored)
    pixels = [k for k in a if k.startswith("g_a.") and a[k].dim() == 4 and a[k].numel() >= 4096 and a[k].shape[1] == 3]
    assert pixels
    for k in pixels:
        assert torch.equal(b[k], w[k].half().float()), k
        assert not any(n.endswith("__int8") and k.split(".", 1)[1] in n for n in inits), k
    for k in conv:
        step = w[k].abs().reshape(w[k].shape[0], -1).amax(1) / 127
        assert ((a[k] - w[k]).abs().reshape(w[k].shape[0], -1).amax(1) <= step * 0.5 + 1e-3).all(), k


def test_fp16_storage_keeps_int8_scales_float32(tmp_path):
    """A per-channel int8 scale of ≥ 256 channels is not stored as fp16 (v6's 384-channel g_a
    output broke parity that way: 1.2e-2)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from hicodec_train.package import _store_fp16

    big = np.linspace(0.1, 1, 384, dtype=np.float32)
    g = helper.make_graph([helper.make_node("Mul", ["x", "w__scale"], ["y0"]), helper.make_node("Mul", ["y0", "v"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [384])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [384])],
                          [numpy_helper.from_array(big, "w__scale"), numpy_helper.from_array(big, "v")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    _store_fp16(path)
    inits = {i.name: i.data_type for i in onnx.load(str(path)).graph.initializer}
    assert inits == {"w__scale": TensorProto.FLOAT, "v__fp16": TensorProto.FLOAT16}


def test_subpixel_pairs_become_transposed_convolutions(exported, tmp_path):
    """A 1×1 conv + 2× pixel shuffle becomes one ConvTranspose (the bias on a channel of ones),
    a 3×3 conv + shuffle stays, the initializers keep their names, and ONNX Runtime computes
    the same as PyTorch; the exported g_s has no 2× shuffle left after a 1×1 conv."""
    import onnx
    from hicodec_train.package import _export, onnx_weights, subpixel_as_conv_transpose

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(5, 12, 1)               # + bias: the channel of ones
            self.b = torch.nn.Conv2d(3, 8, 1, bias=False)    # no bias
            self.c = torch.nn.Conv2d(2, 8, 3, padding=1)     # 3×3: not a pair
            self.ps = torch.nn.PixelShuffle(2)

        def forward(self, x):
            y = self.ps(self.a(x))                     # [1, 3, 2H, 2W]
            y = self.ps(self.b(y))                     # [1, 2, 4H, 4W]
            return self.ps(self.c(y))                  # [1, 2, 8H, 8W]

    torch.manual_seed(1)
    net = Net().eval()
    x = torch.randn(1, 5, 6, 10)
    path = tmp_path / "n.onnx"
    _export(net, (x,), path, ["x"], ["y"], {"x": {2: "h", 3: "w"}, "y": {2: "H", 3: "W"}})
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("ConvTranspose") == 2 and ops.count("DepthToSpace") == 1
    assert subpixel_as_conv_transpose(path) == 0  # nothing left to rewrite
    assert {"a.weight", "a.bias", "b.weight", "c.weight", "c.bias"} <= set(onnx_weights(path))
    if ort.available():
        for shape in [(1, 5, 6, 10), (1, 5, 3, 7)]:
            xi = torch.randn(*shape)
            got = ort.run(path, {"x": xi.numpy()})["y"]
            np.testing.assert_allclose(got, net(xi).detach().numpy(), atol=2e-5)
    _, out = exported
    gs = onnx.load(str(out / "synthesis.onnx")).graph.node
    prod = {o: n for n in gs for o in n.output}
    assert not [n for n in gs if n.op_type == "DepthToSpace" and prod[n.input[0]].op_type == "Conv"
                and [a.ints for a in prod[n.input[0]].attribute if a.name == "kernel_shape"] == [[1, 1]]
                and [a.i for a in n.attribute if a.name == "blocksize"] == [2]]


def test_campaign_weights_carry_the_campaign_totals(exported, tmp_path):
    """A checkpoint restored from the campaign's state trained from step 0: its manifest records the
    campaign's totals (the offset plus what the line trained) and where it was restored from."""
    model, _ = exported
    ckpt = tmp_path / "c.pt"
    torch.save(dict(model=model.state_dict(), config=model.cfg.to_dict(), step=40, elapsed=90.0, crops_seen=2560,
                    record=dict(data=["synthetic"], images=0, device="cuda",
                                campaign_offset=dict(cpu_minutes=1143.5, crops=1012848, gpu_minutes=17.5),
                                restored_from=dict(state="s.npz.xz", step=6078))), ckpt)
    out = tmp_path / "pkg"
    assert export.main([str(ckpt), "--id", "hic-test", "--out", str(out), "--no-parity"]) == 0
    c = json.loads((out / "manifest.json").read_text())["training"]["campaign"]
    assert c["cpu_minutes"] == 1143.5 and c["crops"] == 1012848 + 2560 and c["gpu_minutes"] == 19.0
    assert c["restored_from"] == {"state": "s.npz.xz", "step": 6078}
