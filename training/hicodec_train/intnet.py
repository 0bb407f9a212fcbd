"""h_s_scale: the integer-only scale-index network (Ballé, Johnston, Minnen 2019, in spirit).

It maps the decoded hyper-latent ẑ (integers) to one CDF-table index per element of y. Because
this index decides how bytes are parsed, the network must give bit-identical results on every
platform, so it is evaluated with integer arithmetic only:

  layer l:  acc  = Σ (x − zx) · (w − 128)            ConvInteger, uint8 × uint8, int32 accumulate
            acc += b                                  int32 bias
            r    = floor(acc · M_c / 2^S)             int64 multiply, +offset, uint64 BitShift
            out  = clip(r, 0, 255) → uint8            (hidden; acts as ReLU)   or
            out  = clip(r, 0, K−1) → uint8            (last layer: the table index)
  upsampling: depth-to-space (DepthToSpace, CRD) on the uint8 activations.

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
        """x holds integer activation values *minus their zero point* (real = x·in_scale).
        Always fp32 or fp64, also under autocast: bf16 cannot hold these integers."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._forward(x.float(), exact)

    def _forward(self, x: torch.Tensor, exact: bool) -> torch.Tensor:
        w_q, b_q, mult, _ = self.quantized()
        dt = torch.float64 if exact else x.dtype
        acc = F.conv2d(x.to(dt), w_q.to(dt), b_q.to(dt), padding=1)
        r = acc * (mult.to(dt) / 2.0**SHIFT)[None, :, None, None]
        return _ste(r, torch.floor)  # clipping is done by the caller


def index_conv(cin: int, cout: int, num_tables: int, init_index: float = 24.0) -> IntConv:
    """The last layer of a scale-index network: uint8 features (ACT_SCALE) → index 0..K−1."""
    layer = IntConv(cin, cout, ACT_SCALE, 1.0, 0, num_tables - 1, bias_gain=8.0)
    with torch.no_grad():
        layer.bias.fill_(init_index / layer.bias_gain)
    return layer


class IntScaleNet(nn.Module):
    """ẑ (Nz channels, /64) → table index k ∈ [0, K) (M channels, /16).

    With ``with_index=False`` (models with a channel context, v4 on) it stops at the hidden
    uint8 features h at /16 (``hidden``); the index layers then live in ``ChannelContext``."""

    def __init__(self, nz: int, hidden: int, m: int, num_tables: int, init_index: float = 24.0, with_index: bool = True):
        super().__init__()
        self.num_tables = num_tables
        self.l0 = IntConv(nz, hidden * 4, 1.0, ACT_SCALE, 128, 255)
        self.l1 = IntConv(hidden, hidden * 4, ACT_SCALE, ACT_SCALE, 0, 255)
        if with_index:
            self.l2 = index_conv(hidden, m, num_tables, init_index)
        self.shuffle = nn.PixelShuffle(2)

    def hidden(self, z_hat: torch.Tensor, exact: bool = False) -> torch.Tensor:
        """ẑ → h: uint8 activations (as float integers, STE gradients) at /16."""
        x = self.input_ints(z_hat)
        x = self.shuffle(torch.clamp(self.l0(x, exact), 0, 255))
        return self.shuffle(torch.clamp(self.l1(x, exact), 0, 255))

    @staticmethod
    def input_ints(z_hat: torch.Tensor) -> torch.Tensor:
        """ẑ → uint8 with zero point 128, returned minus the zero point: clip(ẑ, −128, 127)."""
        return torch.clamp(z_hat, -128, 127)

    def forward(self, z_hat: torch.Tensor, exact: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (k, k_ste): the integer index (float tensor of integers) and a version that
        carries straight-through gradients for training."""
        r = self.l2(self.hidden(z_hat, exact), exact)
        k_ste = torch.clamp(r, 0, self.num_tables - 1)
        return k_ste.detach(), k_ste

    @torch.no_grad()
    def integer_params(self) -> list[dict]:
        return [layer_params(l) for l in (self.l0, self.l1, getattr(self, "l2", None)) if l is not None]


@torch.no_grad()
def layer_params(layer: IntConv) -> dict:
    """The integers of one IntConv as shipped: weights, bias, multiplier, zero point, clip."""
    w_q, b_q, mult, _ = layer.quantized()
    return dict(
        w=w_q.to(torch.int64).cpu().numpy(),
        b=b_q.to(torch.int64).cpu().numpy(),
        mult=mult.to(torch.int64).cpu().numpy(),
        in_zp=layer.in_zp,
        out_max=layer.out_max,
    )


def np_int_conv(x: np.ndarray, p: dict) -> np.ndarray:
    """One integer layer in numpy int64: x holds activations minus their zero point."""
    w, b, mult = p["w"], p["b"], p["mult"]
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([xp[:, :, dy : dy + h, dx : dx + wd] for dy in range(3) for dx in range(3)], axis=2)
    # cols: n, c, 9, h, w ; w: o, c, 3, 3
    acc = np.einsum("nckhw,ock->nohw", cols, w.reshape(w.shape[0], c, 9), optimize=True) + b[None, :, None, None]
    r = np.floor_divide(acc * mult[None, :, None, None], 2**SHIFT)
    return np.clip(r, 0, p["out_max"])


def np_depth_to_space(r: np.ndarray) -> np.ndarray:
    n, c, h, wd = r.shape
    co = c // 4
    return r.reshape(n, co, 2, 2, h, wd).transpose(0, 1, 4, 2, 5, 3).reshape(n, co, 2 * h, 2 * wd)


def numpy_reference(params: list[dict], z_hat: np.ndarray, shuffle_last: bool = False) -> np.ndarray:
    """A third, independent implementation in numpy int64 (used by tests and docs)."""
    x = np.clip(z_hat.astype(np.int64), -128, 127)
    for i, p in enumerate(params):
        x = np_int_conv(x, p)
        if i < len(params) - 1 or shuffle_last:
            x = np_depth_to_space(x)
    return x.astype(np.uint8)


def numpy_slice_reference(ctx: dict | None, out: dict, h: np.ndarray, q_prev: np.ndarray | None) -> np.ndarray:
    """The scale index of one channel slice in numpy int64: h (uint8 features of ẑ), and the
    symbols of the slices before it through |q| clipped to 255."""
    x = h.astype(np.int64)
    if ctx is not None:
        c = np_int_conv(np.clip(np.abs(q_prev.astype(np.int64)), 0, 255), ctx)
        x = np.concatenate([x, c], axis=1)
    return np_int_conv(x, out).astype(np.uint8)


class _IntGraph:
    """Writes integer-only ONNX graphs node by node (the PyTorch exporter cannot emit
    ConvInteger from fake quantization)."""

    def __init__(self):
        from onnx import TensorProto, helper, numpy_helper

        self.tp, self.helper, self.nh = TensorProto, helper, numpy_helper
        self.nodes, self.inits = [], []
        self.const("c_off", np.array(2**OFFSET_EXP, np.int64))
        self.const("c_shift", np.array(SHIFT, np.uint64))
        self.const("c_unoff", np.array(2 ** (OFFSET_EXP - SHIFT), np.int64))
        self.const("c_pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))

    def const(self, name: str, arr) -> str:
        self.inits.append(self.nh.from_array(np.asarray(arr), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **kw) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], **kw))
        return output

    def z_to_u8(self, z: str) -> str:
        """int32 ẑ → uint8 with zero point 128 (clip to −128..127)."""
        self.const("c_zmin", np.array(-128, np.int32))
        self.const("c_zmax", np.array(127, np.int32))
        self.const("c_128", np.array(128, np.int32))
        x = self.node("Clip", [z, "c_zmin", "c_zmax"], "z_clip")
        x = self.node("Add", [x, "c_128"], "z_off")
        return self.node("Cast", [x], "x0", to=self.tp.UINT8)

    def abs_to_u8(self, q: str) -> str:
        """int32 symbols → |q| clipped to 255, uint8 (zero point 0)."""
        self.const("c_q0", np.array(0, np.int32))
        self.const("c_q255", np.array(255, np.int32))
        a = self.node("Abs", [q], "q_abs")
        a = self.node("Clip", [a, "c_q0", "c_q255"], "q_clip")
        return self.node("Cast", [a], "q_u8", to=self.tp.UINT8)

    def conv(self, x: str, p: dict, i) -> str:
        """Pad with the input zero point (= real zero), ConvInteger, int32 bias, requantize by
        multiply + offset + unsigned shift, clip, back to uint8."""
        w_u8 = (p["w"] + W_ZP).astype(np.uint8)
        self.const(f"w{i}", w_u8)
        self.const(f"wzp{i}", np.array(W_ZP, np.uint8))
        self.const(f"xzp{i}", np.array(p["in_zp"], np.uint8))
        self.const(f"b{i}", p["b"].astype(np.int32).reshape(1, -1, 1, 1))
        self.const(f"m{i}", p["mult"].astype(np.int64).reshape(1, -1, 1, 1))
        self.const(f"lo{i}", np.array(0, np.int64))
        self.const(f"hi{i}", np.array(p["out_max"], np.int64))
        n = self.node
        t = n("Pad", [x, "c_pads", f"xzp{i}"], f"xp{i}", mode="constant")
        t = n("ConvInteger", [t, f"w{i}", f"xzp{i}", f"wzp{i}"], f"acc{i}", kernel_shape=[3, 3])
        t = n("Add", [t, f"b{i}"], f"accb{i}")
        t = n("Cast", [t], f"acc64_{i}", to=self.tp.INT64)
        t = n("Mul", [t, f"m{i}"], f"prod{i}")
        t = n("Add", [t, "c_off"], f"prodo{i}")
        t = n("Cast", [t], f"produ{i}", to=self.tp.UINT64)
        t = n("BitShift", [t, "c_shift"], f"shu{i}", direction="RIGHT")
        t = n("Cast", [t], f"sh{i}", to=self.tp.INT64)
        t = n("Sub", [t, "c_unoff"], f"r{i}")
        t = n("Clip", [t, f"lo{i}", f"hi{i}"], f"rc{i}")
        return n("Cast", [t], f"a{i}", to=self.tp.UINT8)

    def depth_to_space(self, x: str, co: int, i) -> str:
        """PixelShuffle (CRD order) on uint8: ONNX Runtime has DepthToSpace for uint8 on the CPU
        and in wasm (packages exported before used Reshape/Transpose; repack.py rewrites them)."""
        return self.node("DepthToSpace", [x], f"d2s{i}", blocksize=2, mode="CRD")

    def model(self, name: str, inputs: list, outputs: list, opset: int = 17):
        import onnx

        g = self.helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = self.helper.make_model(g, opset_imports=[self.helper.make_opsetid("", opset)], producer_name="hicodec")
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def build_onnx(params: list[dict], nz: int, opset: int = 17, shuffle_last: bool = False):
    """The integer hyper-scale graph. Input ``z_hat``: int32 (1, Nz, h, w). Output: ``index``
    uint8 (1, M, 4h, 4w) — or, with ``shuffle_last`` (models with a channel context), the hidden
    features ``h`` uint8 (1, hidden, 4h, 4w) after the last layer's depth-to-space."""
    g = _IntGraph()
    x = g.z_to_u8("z_hat")
    for i, p in enumerate(params):
        x = g.conv(x, p, i)
        if i < len(params) - 1 or shuffle_last:
            x = g.depth_to_space(x, p["w"].shape[0] // 4, i)
    out = "h" if shuffle_last else "index"
    g.node("Identity", [x], out)
    c = params[-1]["w"].shape[0] // (4 if shuffle_last else 1)
    tp, hp = g.tp, g.helper
    return g.model("h_s_scale_int", [hp.make_tensor_value_info("z_hat", tp.INT32, [1, nz, "h", "w"])],
                   [hp.make_tensor_value_info(out, tp.UINT8, [1, c, "h4", "w4"])], opset)


def build_slice_onnx(ctx: dict | None, out: dict, hidden: int, prev: int, opset: int = 17):
    """The integer scale-index graph of one channel slice. Inputs ``h``: uint8 (1, hidden, H, W)
    (hyper_scale's output) and, after the first slice, ``q_prev``: int32 (1, prev, H, W), the
    symbols of the slices before. Output ``index``: uint8 (1, C, H, W)."""
    g = _IntGraph()
    tp, hp = g.tp, g.helper
    inputs = [hp.make_tensor_value_info("h", tp.UINT8, [1, hidden, "H", "W"])]
    x = "h"
    if ctx is not None:
        inputs.append(hp.make_tensor_value_info("q_prev", tp.INT32, [1, prev, "H", "W"]))
        c = g.conv(g.abs_to_u8("q_prev"), ctx, "c")
        x = g.node("Concat", ["h", c], "hc", axis=1)
    x = g.conv(x, out, "o")
    g.node("Identity", [x], "index")
    return g.model("scale_slice_int", inputs, [hp.make_tensor_value_info("index", tp.UINT8, [1, out["w"].shape[0], "H", "W"])], opset)
