"""The integer scale network: PyTorch fake quantization (float64), a numpy int64 reference and
ONNX Runtime (onnxruntime-node) must give the same table index for every element."""
import numpy as np
import pytest
import torch

from hicodec_train import ort
from hicodec_train.intnet import W_MAX, IntScaleNet, build_onnx, numpy_reference

needs_ort = pytest.mark.skipif(not ort.available(), reason="run `npm ci` first: onnxruntime-node is the reference runtime")


def trained_like_net(seed=0, nz=24, hidden=16, m=32):
    torch.manual_seed(seed)
    net = IntScaleNet(nz, hidden, m, 64)
    with torch.no_grad():  # spread the weights and biases so every clamp and every index is exercised
        for layer in (net.l0, net.l1, net.l2):
            layer.weight.mul_(torch.empty_like(layer.weight).uniform_(0.2, 3.0))
            layer.bias.uniform_(-2, 2)
        net.l2.bias.add_(3.0)
    return net


def test_weights_are_seven_bit():
    net = trained_like_net()
    for p in net.integer_params():
        assert np.abs(p["w"]).max() <= W_MAX
        assert ((p["w"] + 128) >= 0).all() and ((p["w"] + 128) <= 255).all()


def test_numpy_reference_equals_pytorch_exact():
    net = trained_like_net(1)
    z = torch.randint(-40, 41, (2, 24, 3, 5)).float()
    k, _ = net(z, exact=True)
    ref = numpy_reference(net.integer_params(), z.numpy())
    assert np.array_equal(ref, k.numpy().astype(np.uint8))
    assert len(np.unique(ref)) > 10  # many different tables, not a constant


def test_training_forward_matches_exact_on_small_values():
    net = trained_like_net(2)
    z = torch.randint(-3, 4, (1, 24, 2, 2)).float()
    k32, _ = net(z, exact=False)
    k64, _ = net(z, exact=True)
    assert (k32 != k64).float().mean() < 0.01


@needs_ort
@pytest.mark.parametrize("hz,wz", [(1, 1), (3, 5), (8, 2)])
def test_onnx_runtime_equals_pytorch_exactly(tmp_path, hz, wz):
    import onnx

    net = trained_like_net(3)
    z = torch.randint(-200, 201, (1, 24, hz, wz)).float()  # beyond ±128: the clip is exercised too
    k, _ = net(z, exact=True)
    model = build_onnx(net.integer_params(), 24)
    ops = {n.op_type for n in model.graph.node}
    assert ops <= {"Clip", "Add", "Cast", "Pad", "ConvInteger", "Mul", "BitShift", "Sub", "DepthToSpace", "Identity"}
    assert all(i.data_type != onnx.TensorProto.FLOAT for i in model.graph.initializer)
    path = tmp_path / "int.onnx"
    onnx.save(model, str(path))
    for threads in (1, 2):
        out = ort.run(path, {"z_hat": z.numpy().astype(np.int32)}, threads=threads)["index"]
        assert out.dtype == np.uint8 and out.shape == (1, 32, 4 * hz, 4 * wz)
        assert np.array_equal(out, k.numpy().astype(np.uint8))


@pytest.mark.skipif(not ort.available(), reason="needs onnxruntime-node (npm ci)")
def test_legacy_reshape_transpose_depth_to_space_is_rewritten_bit_exactly(tmp_path):
    """Packages exported before DepthToSpace on uint8 did the shuffle as Reshape → Transpose →
    Reshape; repack's integer_depth_to_space makes it one DepthToSpace with the same bytes out."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from hicodec_train.package import integer_depth_to_space

    net = trained_like_net(3)
    model = build_onnx(net.integer_params(), 24)
    g = model.graph
    consts = [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in
              [("s_2", [2]), ("s_4", [4]), ("s_n1", [-1]), ("s_22", [2, 2])]]
    nodes = []
    for n in g.node:  # the legacy form, as intnet wrote it before
        if n.op_type != "DepthToSpace":
            nodes.append(n)
            continue
        x, y, i = n.input[0], n.output[0], n.output[0][3:]
        co = net.integer_params()[int(i)]["w"].shape[0] // 4
        consts.append(numpy_helper.from_array(np.array([co], np.int64), f"co{i}"))
        nodes += [helper.make_node("Shape", [x], [f"shp{i}"]), helper.make_node("Slice", [f"shp{i}", "s_2", "s_4"], [f"hw{i}"]),
                  helper.make_node("Concat", ["s_n1", f"co{i}", "s_22", f"hw{i}"], [f"t6_{i}"], axis=0),
                  helper.make_node("Reshape", [x, f"t6_{i}"], [f"r6_{i}"]),
                  helper.make_node("Transpose", [f"r6_{i}"], [f"tr{i}"], perm=[0, 1, 4, 2, 5, 3]),
                  helper.make_node("Mul", [f"hw{i}", "s_22"], [f"hw2_{i}"]),
                  helper.make_node("Concat", ["s_n1", f"co{i}", f"hw2_{i}"], [f"t4_{i}"], axis=0),
                  helper.make_node("Reshape", [f"tr{i}", f"t4_{i}"], [y])]
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(consts)
    legacy = tmp_path / "legacy.onnx"
    onnx.save(model, str(legacy))
    new = tmp_path / "new.onnx"
    onnx.save(model, str(new))
    assert integer_depth_to_space(new) == sum(1 for n in nodes if n.op_type == "Transpose")
    ops = {n.op_type for n in onnx.load(str(new)).graph.node}
    assert "Transpose" not in ops and "Reshape" not in ops and "DepthToSpace" in ops
    z = torch.randint(-200, 201, (1, 24, 3, 5)).int().numpy()
    a = ort.run(legacy, {"z_hat": z})["index"]
    b = ort.run(new, {"z_hat": z})["index"]
    assert a.dtype == np.uint8 and np.array_equal(a, b)
