"""h_s_scale: the integer-only scale-index network (Ballé, Johnston, Minnen 2019, in spirit).

It maps the decoded hyper-latent ẑ (integers) to one CDF-table index per element of y. Because
this index decides how bytes are parsed, the network must give bit-identical results on every
platform, so it is evaluated with integer arithmetic only:

  layer l:  acc  = Σ (x − zx) · (w − 128)            ConvInteger, uint8 × uint8, int32 accumulate
            acc += b                                  int32 bias
            r    = floor(acc · M_c / 2^S)             int64 multiply, +offset, uint64 BitShift
            out  = clip(r, 0, 255) → uint8            (hidden; acts as ReLU)   or
            out  = clip(r, 0, K−1) → uint8            (last layer: the table index)
  upsampling: depth-to-space on the uint8 activations through Reshape/Transpose.

Weights are 7-bit ([-63, 63], stored as uint8 with zero point 128): products of a uint8
activation and a 7-bit weight never saturate an int16 pair sum, so CPUs without VNNI give the
same result. Training uses fake quantization with straight-through estimators; the very same
code run in float64 (``exact=True``) is an exact integer reference, which the exported ONNX graph
must equal element for element.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

W_MAX = 63  # 7-bit signed weights
W_ZP = 128  # weight zero point (uint8 storage)
SHIFT = 24  # requantization shift S
ACT_SCALE = 1.0 / 16.0  # real value of one step of a hidden uint8 activation
OFFSET_EXP = 52  # ONNX requant offset 2^52 keeps acc·M + offset non-negative


def _ste(x: torch.Tensor, fn) -> torch.Tensor:
    return x + (fn(x) - x).detach()


class IntConv(nn.Module):
    """A fake-quantized 3×3 conv with integer requantization."""

    def __init__(self, cin: int, cout: int, in_scale: float, out_scale: float, in_zp: int, out_max: int,
                 bias_gain: float = 1.0):
        super().__init__()
        # The real bias is bias · bias_gain: a bias that must travel tens of output units (the
        # index layer) would otherwise take Adam tens of thousands of steps at lr ~1e-4.
        self.bias_gain = bias_gain
        self.cin, self.cout = cin, cout
        self.in_scale, self.out_scale = in_scale, out_scale
        self.in_zp, self.out_max = in_zp, out_max
        self.weight = nn.Parameter(torch.empty(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))
        nn.init.kaiming_normal_(self.weight, nonlinearity="relu")

    def quantized(self):
        """Integer parameters (as float tensors holding integers): w_q, b_q, M, and the weight
        scale. Deterministic given the float parameters."""
        w = self.weight
        s_w = (w.detach().abs().amax(dim=(1, 2, 3)).clamp_min(1e-8) / W_MAX)  # (cout,)
        w_q = _ste(torch.clamp(w / s_w[:, None, None, None], -W_MAX, W_MAX), torch.round)
        b_q = _ste(torch.clamp(self.bias * self.bias_gain / (self.in_scale * s_w), -(2**26), 2**26), torch.round)
        m = (self.in_scale * s_w / self.out_scale).clamp(2.0**-20, 2.0)
        mult = torch.round(m * 2.0**SHIFT)
        return w_q, b_q, mult, s_w

    def forward(self, x: torch.Tensor, exact: bool = False) -> torch.Tensor:
        """x holds integer activation values *minus their zero point* (real = x·in_scale)."""
        w_q, b_q, mult, _ = self.quantized()
        dt = torch.float64 if exact else x.dtype
        acc = F.conv2d(x.to(dt), w_q.to(dt), b_q.to(dt), padding=1)
        r = acc * (mult.to(dt) / 2.0**SHIFT)[None, :, None, None]
        return _ste(r, torch.floor)  # clipping is done by the caller


class IntScaleNet(nn.Module):
    """ẑ (Nz channels, /64) → table index k ∈ [0, K) (M channels, /16)."""

    def __init__(self, nz: int, hidden: int, m: int, num_tables: int, init_index: float = 24.0):
        super().__init__()
        self.num_tables = num_tables
        self.l0 = IntConv(nz, hidden * 4, 1.0, ACT_SCALE, 128, 255)
        self.l1 = IntConv(hidden, hidden * 4, ACT_SCALE, ACT_SCALE, 0, 255)
        self.l2 = IntConv(hidden, m, ACT_SCALE, 1.0, 0, num_tables - 1, bias_gain=8.0)
        with torch.no_grad():
            self.l2.bias.fill_(init_index / self.l2.bias_gain)
        self.shuffle = nn.PixelShuffle(2)

    @staticmethod
    def input_ints(z_hat: torch.Tensor) -> torch.Tensor:
        """ẑ → uint8 with zero point 128, returned minus the zero point: clip(ẑ, −128, 127)."""
        return torch.clamp(z_hat, -128, 127)

    def forward(self, z_hat: torch.Tensor, exact: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (k, k_ste): the integer index (float tensor of integers) and a version that
        carries straight-through gradients for training."""
        x = self.input_ints(z_hat)
        x = self.shuffle(torch.clamp(self.l0(x, exact), 0, 255))
        x = self.shuffle(torch.clamp(self.l1(x, exact), 0, 255))
        r = self.l2(x, exact)
        k_ste = torch.clamp(r, 0, self.num_tables - 1)
        return k_ste.detach(), k_ste

    @torch.no_grad()
    def integer_params(self) -> list[dict]:
        out = []
        for layer in (self.l0, self.l1, self.l2):
            w_q, b_q, mult, _ = layer.quantized()
            out.append(
                dict(
                    w=w_q.to(torch.int64).cpu().numpy(),
                    b=b_q.to(torch.int64).cpu().numpy(),
                    mult=mult.to(torch.int64).cpu().numpy(),
                    in_zp=layer.in_zp,
                    out_max=layer.out_max,
                )
            )
        return out


def numpy_reference(params: list[dict], z_hat: np.ndarray) -> np.ndarray:
    """A third, independent implementation in numpy int64 (used by tests and docs)."""
    x = np.clip(z_hat.astype(np.int64), -128, 127)
    for i, p in enumerate(params):
        w, b, mult = p["w"], p["b"], p["mult"]
        n, c, h, wd = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        cols = np.stack([xp[:, :, dy : dy + h, dx : dx + wd] for dy in range(3) for dx in range(3)], axis=2)
        # cols: n, c, 9, h, w ; w: o, c, 3, 3
        acc = np.einsum("nckhw,ock->nohw", cols, w.reshape(w.shape[0], c, 9), optimize=True) + b[None, :, None, None]
        r = np.floor_divide(acc * mult[None, :, None, None], 2**SHIFT)
        r = np.clip(r, 0, p["out_max"])
        if i < len(params) - 1:
            co = r.shape[1] // 4
            r = r.reshape(n, co, 2, 2, h, wd).transpose(0, 1, 4, 2, 5, 3).reshape(n, co, 2 * h, 2 * wd)
        x = r
    return x.astype(np.uint8)


def build_onnx(params: list[dict], nz: int, opset: int = 17):
    """The integer graph, written node by node with onnx.helper (the PyTorch exporter cannot
    emit ConvInteger from fake quantization). Input ``z_hat``: int32 (1, Nz, h, w). Output
    ``index``: uint8 (1, M, 4h, 4w)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    const("c_zmin", np.array(-128, np.int32))
    const("c_zmax", np.array(127, np.int32))
    const("c_128", np.array(128, np.int32))
    const("c_off", np.array(2**OFFSET_EXP, np.int64))
    const("c_shift", np.array(SHIFT, np.uint64))
    const("c_unoff", np.array(2 ** (OFFSET_EXP - SHIFT), np.int64))
    const("c_pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))
    nodes += [
        helper.make_node("Clip", ["z_hat", "c_zmin", "c_zmax"], ["z_clip"]),
        helper.make_node("Add", ["z_clip", "c_128"], ["z_off"]),
        helper.make_node("Cast", ["z_off"], ["x0"], to=TensorProto.UINT8),
    ]
    x = "x0"
    for i, p in enumerate(params):
        w_u8 = (p["w"] + W_ZP).astype(np.uint8)
        const(f"w{i}", w_u8)
        const(f"wzp{i}", np.array(W_ZP, np.uint8))
        const(f"xzp{i}", np.array(p["in_zp"], np.uint8))
        const(f"b{i}", p["b"].astype(np.int32).reshape(1, -1, 1, 1))
        const(f"m{i}", p["mult"].astype(np.int64).reshape(1, -1, 1, 1))
        const(f"lo{i}", np.array(0, np.int64))
        const(f"hi{i}", np.array(p["out_max"], np.int64))
        nodes += [
            # Explicit padding with the input zero point (= real zero), then a 'valid' conv.
            helper.make_node("Pad", [x, "c_pads", f"xzp{i}"], [f"xp{i}"], mode="constant"),
            helper.make_node("ConvInteger", [f"xp{i}", f"w{i}", f"xzp{i}", f"wzp{i}"], [f"acc{i}"], kernel_shape=[3, 3]),
            helper.make_node("Add", [f"acc{i}", f"b{i}"], [f"accb{i}"]),
            helper.make_node("Cast", [f"accb{i}"], [f"acc64_{i}"], to=TensorProto.INT64),
            helper.make_node("Mul", [f"acc64_{i}", f"m{i}"], [f"prod{i}"]),
            helper.make_node("Add", [f"prod{i}", "c_off"], [f"prodo{i}"]),
            helper.make_node("Cast", [f"prodo{i}"], [f"produ{i}"], to=TensorProto.UINT64),
            helper.make_node("BitShift", [f"produ{i}", "c_shift"], [f"shu{i}"], direction="RIGHT"),
            helper.make_node("Cast", [f"shu{i}"], [f"sh{i}"], to=TensorProto.INT64),
            helper.make_node("Sub", [f"sh{i}", "c_unoff"], [f"r{i}"]),
            helper.make_node("Clip", [f"r{i}", f"lo{i}", f"hi{i}"], [f"rc{i}"]),
            helper.make_node("Cast", [f"rc{i}"], [f"a{i}"], to=TensorProto.UINT8),
        ]
        x = f"a{i}"
        if i < len(params) - 1:
            co = p["w"].shape[0] // 4
            # depth-to-space (PixelShuffle, CRD order) on uint8 via Reshape/Transpose
            nodes += [
                helper.make_node("Shape", [x], [f"shp{i}"]),
                helper.make_node("Slice", [f"shp{i}", "s_2", "s_4"], [f"hw{i}"]),
                helper.make_node("Concat", ["s_n1", f"co{i}", "s_22", f"hw{i}"], [f"t6_{i}"], axis=0),
                helper.make_node("Reshape", [x, f"t6_{i}"], [f"r6_{i}"]),
                helper.make_node("Transpose", [f"r6_{i}"], [f"tr{i}"], perm=[0, 1, 4, 2, 5, 3]),
                helper.make_node("Mul", [f"hw{i}", "s_22"], [f"hw2_{i}"]),
                helper.make_node("Concat", ["s_n1", f"co{i}", f"hw2_{i}"], [f"t4_{i}"], axis=0),
                helper.make_node("Reshape", [f"tr{i}", f"t4_{i}"], [f"d2s{i}"]),
            ]
            const(f"co{i}", np.array([co], np.int64))
            x = f"d2s{i}"
    const("s_2", np.array([2], np.int64))
    const("s_4", np.array([4], np.int64))
    const("s_n1", np.array([-1], np.int64))
    const("s_22", np.array([2, 2], np.int64))
    nodes.append(helper.make_node("Identity", [x], ["index"]))
    m = params[-1]["w"].shape[0]
    graph = helper.make_graph(
        nodes,
        "h_s_scale_int",
        [helper.make_tensor_value_info("z_hat", TensorProto.INT32, [1, nz, "h", "w"])],
        [helper.make_tensor_value_info("index", TensorProto.UINT8, [1, m, "h4", "w4"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="hicodec")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
