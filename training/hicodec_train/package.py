"""Model package writing and reading: ONNX export of the float sub-networks (TorchScript exporter,
opset 17, dynamic H/W, fp16-stored weights), the integer scale network, integer CDF tables,
gain vectors, and the manifest that pins every file by sha256.

Binary formats (all little-endian):

- ``*.tables`` (CDF tables)::

    magic  'HCT1'            4 bytes
    count  uint32            number of tables
    per table:  offset int32 (value of symbol 0),  n uint32 (entries incl. the escape),
                freqs  uint16 × n  (sum = 65536; the last entry is the escape symbol)

- ``gains.f32``: float32 × (len(lambdas) · M), row-major (one gain vector per trained λ point).
- ``factorized_prior.f32``: the factorized prior's parameters (float32, state-dict order; names
  and shapes in the manifest), so that training can continue from a package.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import torch

from . import intnet

FORMAT_VERSION = 1
OPSET = 17
TABLE_MAGIC = b"HCT1"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_tables(path: Path, tables: list[dict]) -> None:
    parts = [TABLE_MAGIC, struct.pack("<I", len(tables))]
    for t in tables:
        f = np.asarray(t["freqs"], np.int64)
        if f.sum() != 1 << 16 or f.min() < 1 or f.max() > 0xFFFF:
            raise ValueError("invalid table")
        parts.append(struct.pack("<iI", int(t["offset"]), f.size))
        parts.append(f.astype("<u2").tobytes())
    path.write_bytes(b"".join(parts))


def read_tables(path: Path) -> list[dict]:
    b = path.read_bytes()
    if b[:4] != TABLE_MAGIC:
        raise ValueError("bad table magic")
    (count,) = struct.unpack_from("<I", b, 4)
    pos, out = 8, []
    for _ in range(count):
        off, n = struct.unpack_from("<iI", b, pos)
        pos += 8
        f = np.frombuffer(b, "<u2", n, pos).astype(np.int64)
        pos += 2 * n
        out.append(dict(offset=off, freqs=f))
    if pos != len(b):
        raise ValueError("trailing bytes in table file")
    return out


class _Wrap(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *a):
        return self.fn(*a)


def _rewrite_initializers(model_path: Path, store) -> None:
    """Replaces initializers of an ONNX file: `store(init)` returns None to keep one, or (the
    initializers that replace it, the nodes that rebuild it from them), which go first in the graph."""
    import onnx

    m = onnx.load(str(model_path))
    g = m.graph
    new_inits, nodes = [], []
    for init in g.initializer:
        r = store(init)
        if r is None:
            new_inits.append(init)
        else:
            new_inits.extend(r[0])
            nodes.extend(r[1])
    del g.initializer[:]
    g.initializer.extend(new_inits)
    old = list(g.node)
    del g.node[:]
    g.node.extend(nodes + old)
    onnx.checker.check_model(m)
    onnx.save(m, str(model_path))


def _store_fp16(model_path: Path, min_elements: int = 256) -> None:
    """Store large float32 initializers as float16 with a Cast back to float32 in the graph.
    ORT folds the casts when the session is created; the package halves in size."""
    from onnx import TensorProto, helper, numpy_helper

    def store(init):
        # an int8 weight's per-channel scale stays float32 (round_weights_int8 computes with it)
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements or init.name.endswith("__scale"):
            return None
        arr = numpy_helper.to_array(init).astype(np.float16)
        return [numpy_helper.from_array(arr, init.name + "__fp16")], [helper.make_node("Cast", [init.name + "__fp16"], [init.name], to=TensorProto.FLOAT)]

    _rewrite_initializers(model_path, store)


def subpixel_as_conv_transpose(model_path: Path) -> int:
    """Rewrites each 1×1 convolution followed by a 2× pixel shuffle (Conv → DepthToSpace, CRD, its
    only user) as one ConvTranspose of kernel 2, stride 2: out[c, 2h+i, 2w+j] = Σ W[4c+2i+j]·x[h, w]
    + b[4c+2i+j] either way (the kernels do not overlap). The bias, which varies with (i, j), rides
    on an extra input channel of ones. The weights stay the same initializers under the same names
    (load_package_model reads them); the nodes that rearrange them have only constant inputs, so
    ONNX Runtime folds them when it creates the session. Why: ORT's DepthToSpace moves data at
    ~10 ns a value and the NCHWc layout needs a reorder on each side of it; g_s of hic-base-v6 on
    768×512 took 70.6 ms with the shuffles, 62.0 as transposed convolutions (outputs within 1.2e-7).
    Returns the number of pairs rewritten."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(model_path))
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    prod = {o: n for n in g.node for o in n.output}
    users: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            users[i] = users.get(i, 0) + 1
    outputs = {o.name for o in g.output}

    def dims_of(name: str) -> list[int]:
        while name not in inits:  # through the fp16 → float32 Cast
            name = prod[name].input[0]
        return list(inits[name].dims)

    def attr(n, key, default=None):
        return next((helper.get_attribute_value(a) for a in n.attribute if a.name == key), default)

    replace: dict[int, list] = {}
    drop: set[int] = set()
    for n in g.node:
        if n.op_type != "DepthToSpace" or attr(n, "blocksize") != 2 or attr(n, "mode", b"DCR") != b"CRD":
            continue
        c = prod.get(n.input[0])
        if c is None or c.op_type != "Conv" or users.get(c.output[0]) != 1 or c.output[0] in outputs:
            continue
        if list(attr(c, "kernel_shape", [])) != [1, 1] or attr(c, "group", 1) != 1 or any(v != 1 for v in attr(c, "strides", [1, 1])) \
                or any(attr(c, "pads", [0, 0, 0, 0])) or any(v != 1 for v in attr(c, "dilations", [1, 1])):
            continue
        c4, cin = dims_of(c.input[1])[:2]
        ch = c4 // 4
        p = f"{c.output[0]}__ct_"
        g.initializer.extend([
            numpy_helper.from_array(np.array([ch, 2, 2, cin], np.int64), p + "wshape"),
            numpy_helper.from_array(np.array([1, ch, 2, 2], np.int64), p + "bshape"),
            numpy_helper.from_array(np.array([0], np.int64), p + "zero_i"),
            numpy_helper.from_array(np.array([1], np.int64), p + "one_i"),
            numpy_helper.from_array(np.array(0, np.float32), p + "zero"),
            numpy_helper.from_array(np.array(1, np.float32), p + "one"),
        ])
        nodes = [
            helper.make_node("Reshape", [c.input[1], p + "wshape"], [p + "w4"]),
            helper.make_node("Transpose", [p + "w4"], [p + "wt"], perm=[3, 0, 1, 2]),
        ]
        if len(c.input) > 2 and c.input[2]:
            nodes += [
                helper.make_node("Reshape", [c.input[2], p + "bshape"], [p + "b4"]),
                helper.make_node("Concat", [p + "wt", p + "b4"], [p + "w"], axis=0),
                helper.make_node("Slice", [c.input[0], p + "zero_i", p + "one_i", p + "one_i"], [p + "x0"]),
                helper.make_node("Mul", [p + "x0", p + "zero"], [p + "x00"]),
                helper.make_node("Add", [p + "x00", p + "one"], [p + "ones"]),
                helper.make_node("Concat", [c.input[0], p + "ones"], [p + "x"], axis=1),
                helper.make_node("ConvTranspose", [p + "x", p + "w"], [n.output[0]], kernel_shape=[2, 2], strides=[2, 2]),
            ]
        else:
            nodes.append(helper.make_node("ConvTranspose", [c.input[0], p + "wt"], [n.output[0]], kernel_shape=[2, 2], strides=[2, 2]))
        replace[id(c)] = nodes
        drop.add(id(n))
    if not replace:
        return 0
    out = []
    for n in g.node:
        if id(n) not in drop:
            out.extend(replace.get(id(n), [n]))
    del g.node[:]
    g.node.extend(out)
    onnx.checker.check_model(m)
    onnx.save(m, str(model_path))
    return len(replace)


def _prune(g) -> None:
    """Removes nodes whose outputs nothing uses (not graph outputs), then unused initializers."""
    outs = {o.name for o in g.output}
    while True:
        used = {i for n in g.node for i in n.input} | outs
        keep = [n for n in g.node if any(o in used for o in n.output)]
        if len(keep) == len(g.node):
            break
        del g.node[:]
        g.node.extend(keep)
    used = {i for n in g.node for i in n.input}
    inits = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)


def integer_depth_to_space(model_path: Path) -> int:
    """Rewrites the depth-to-space of the integer graphs (intnet.py before this pass existed:
    Reshape → Transpose [0,1,4,2,5,3] → Reshape on uint8) as one DepthToSpace (CRD), which ONNX
    Runtime has for uint8 (CPU and wasm); the same bytes move, in ~1/4 of hyper_scale's time less
    (its Transposes were 1.1 of 4.6 ms on 768×512). Returns the number rewritten."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(model_path))
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer if list(i.dims) == [2]}  # the [b, b] block constants
    prod = {o: n for n in g.node for o in n.output}
    users: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    replace: dict[int, object] = {}
    for t in g.node:
        if t.op_type != "Transpose" or list(next(a.ints for a in t.attribute if a.name == "perm")) != [0, 1, 4, 2, 5, 3]:
            continue
        r6 = prod.get(t.input[0])
        after = users.get(t.output[0], [])
        if r6 is None or r6.op_type != "Reshape" or len(after) != 1 or after[0].op_type != "Reshape":
            continue
        cat = prod.get(r6.input[1])
        blocks = [inits[i] for i in (cat.input if cat is not None and cat.op_type == "Concat" else []) if i in inits
                  and inits[i][0] == inits[i][1]]
        if len(blocks) != 1:
            continue
        replace[id(after[0])] = helper.make_node("DepthToSpace", [r6.input[0]], [after[0].output[0]], blocksize=int(blocks[0][0]), mode="CRD")
    if not replace:
        return 0
    nodes = [replace.get(id(n), n) for n in g.node]
    del g.node[:]
    g.node.extend(nodes)
    _prune(g)
    onnx.checker.check_model(m)
    onnx.save(m, str(model_path))
    return len(replace)


# Encoder-side networks (g_a, h_a) may store their convolution weights as int8, one scale per output
# channel (symmetric, max |w| → 127): the decoder never runs them, so a coarser weight moves only
# which latent the encoder picks, never what a decoder makes of a stream. Halves their bytes again.
INT8_ROLES = ("analysis", "hyper_analysis")
INT8_MIN_ELEMENTS = 4096
# Stay fp16 in an int8 package: the convolutions that read the pixels (3 input channels: g_a's first
# 5×5 and its linear shortcut, 512×3×16×16, one 16×16 patch projection per latent channel). One int8
# scale per output channel is too coarse there: on the 2026-12-04 candidate (the campaign after the
# GPU stretches) at quality 100 the shortcut's int8 grid alone cost +3.9% bytes and −0.24 dB on kodim23
# and +26% / −0.75 dB on a smooth 2048-px photo, the first 5×5 +2.4% / −0.21 dB there, every other
# encoder weight < 0.1% (docs/MODEL.md, "More GPU time, and int8 weights on the pixels"). fp16 costs them 0.39 MiB more.
def int8_stored(p: torch.Tensor) -> bool:
    """Whether an encoder-side parameter is stored (and rounded) as int8: a convolution weight of
    ≥ INT8_MIN_ELEMENTS that does not read the pixels (its input channels are not the 3 of RGB)."""
    return p.dim() == 4 and p.numel() >= INT8_MIN_ELEMENTS and p.shape[1] != 3


def _int8_grid(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, scale): w ≈ q·scale with q int8 in [−127, 127] and one scale per output channel."""
    flat = w.reshape(w.shape[0], -1)
    scale = flat.abs().amax(1).clamp_min(1e-12) / 127.0
    q = torch.round(flat / scale[:, None]).clamp(-127, 127)
    return q.reshape(w.shape), scale.reshape(-1, *([1] * (w.dim() - 1)))


def round_weights_int8(module: torch.nn.Module) -> None:
    """Rounds a module's convolution weights to the int8 grid _store_int8 writes (after the fp16
    rounding: the scale is stored as float32, the product computed in float32 by both)."""
    with torch.no_grad():
        for p in module.parameters():
            if int8_stored(p):
                q, scale = _int8_grid(p.float())
                p.copy_(q * scale)


def _store_int8(model_path: Path, names: set[str]) -> None:
    """Stores the 4-D float32 initializers of ≥ INT8_MIN_ELEMENTS among `names` (the module's
    parameters: round_weights_int8 rounds exactly those; fixed buffers such as a DCT basis stay
    fp16) as `name__int8` (int8) and `name__scale` (float32, one per output channel) with Cast and
    Mul back to float32 in the graph (folded by ORT when the session is created). Run before
    _store_fp16, which takes the rest."""
    from onnx import TensorProto, helper, numpy_helper

    def store(init):
        if init.name not in names or init.data_type != TensorProto.FLOAT or len(init.dims) != 4 or int(np.prod(init.dims)) < INT8_MIN_ELEMENTS:
            return None
        q, scale = _int8_grid(torch.from_numpy(numpy_helper.to_array(init).copy()))
        n = init.name
        return ([numpy_helper.from_array(q.numpy().astype(np.int8), n + "__int8"), numpy_helper.from_array(scale.numpy().astype(np.float32), n + "__scale")],
                [helper.make_node("Cast", [n + "__int8"], [n + "__int8f"], to=TensorProto.FLOAT), helper.make_node("Mul", [n + "__int8f", n + "__scale"], [n])])

    _rewrite_initializers(model_path, store)


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """The float32 weights of an ONNX file under their PyTorch names, however they are stored:
    `name__fp16` (_store_fp16), `name__int8` × `name__scale` (_store_int8), or as they are."""
    import onnx
    from onnx import numpy_helper

    arrays = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    out = {}
    for iname, arr in arrays.items():
        if iname.endswith("__scale"):
            continue
        if iname.endswith("__int8"):
            name = iname.removesuffix("__int8")
            out[name] = arr.astype(np.float32) * arrays[name + "__scale"].astype(np.float32)
        else:
            out[iname.removesuffix("__fp16")] = arr.astype(np.float32)
    return out


def stored_fp16(name: str, numel: int) -> bool:
    """Whether a parameter is stored as fp16: all but the integer scale nets (their integer
    weights are derived at full precision), the factorized prior, the gains and small tensors."""
    full = name.startswith(("h_s_scale.", "entropy_z.", "ctx.index.", "ctx.scale_ctx.")) or name == "log_gain"
    return not full and numel >= 256


def round_weights_fp16(model: torch.nn.Module) -> None:
    """Round every float parameter that will be stored as fp16 so PyTorch and ONNX share weights."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if stored_fp16(name, p.numel()):
                p.copy_(p.half().float())


# Explain outputs. They are extra outputs of the analysis and synthesis graphs rather than
# separate files: the tensors are computed on the way to y and x̂ anyway, a copy of the weights
# would not fit the 16 MB package budget, and the codec fetches only the first output of each
# graph (y, x̂), so encode and decode do not pay for them.
FEATURE_STRIDES = (2, 4, 8)  # g_a stages after GDN; the /16 stage is y itself
ATTENTION_STAGES = ("stage16", "stage8")


def feature_output_names() -> list[str]:
    return [f"feat_{s}" for s in FEATURE_STRIDES]


def attention_stages(cfg) -> tuple[str, ...]:
    """The g_s stages whose attention the explain export returns: /16 and /8 (v4), /16 (v5: the
    only attention stage)."""
    return ATTENTION_STAGES if getattr(cfg, "arch", "v4") == "v4" else ATTENTION_STAGES[:1]


def attention_outputs(cfg) -> list[dict]:
    """One entry per Swin block at /16 and /8: output name, stride, block, shift, heads, window."""
    out = []
    for stage, stride, depth, heads in zip(attention_stages(cfg), (16, 8), cfg.gs_depths, cfg.gs_heads):
        for b in range(depth):
            out.append({"name": f"attn{stride}_{b}", "stride": stride, "block": b, "heads": heads, "window": cfg.window,
                        "shift": cfg.window // 2 if b % 2 == 1 else 0})
    return out


class AnalysisWithFeatures(torch.nn.Module):
    """g_a returning (y, features at /2, /4, /8). Parameter names stay fn.* as in _Wrap."""

    def __init__(self, g_a):
        super().__init__()
        self.fn = g_a

    def forward(self, x):
        y, feats = self.fn(x, return_features=True)
        return (y, *feats[: len(FEATURE_STRIDES)])


class SynthesisWithAttention(torch.nn.Module):
    """g_s returning (x̂, softmax attention of every block at /16 and /8), each (nW, heads, N, N)
    with windows in raster order over the (shifted, padded) token grid."""

    def __init__(self, g_s):
        super().__init__()
        self.fn = g_s

    def blocks(self):
        return [blk for st in ATTENTION_STAGES if hasattr(self.fn, st) for blk in getattr(self.fn, st).blocks]

    def forward(self, y_hat):
        for blk in self.blocks():
            blk.attn.keep_attention = True
        try:
            x_hat = self.fn(y_hat)
            return (x_hat, *[blk.attn.last_attention for blk in self.blocks()])
        finally:
            for blk in self.blocks():
                blk.attn.keep_attention = False
                blk.attn.last_attention = None


class SliceMean(torch.nn.Module):
    """Slice i's mean: μ_i = μ_h[slice i] + mean_i([μ_h[slice i], ŷ_g,<i]). Parameters stay fn.*."""

    def __init__(self, ctx, i: int):
        super().__init__()
        self.fn = ctx.mean[i - 1]
        self.s, self.c = ctx.starts[i], ctx.slices[i]

    def forward(self, mu_h, yhat_prev):
        mu = mu_h[:, self.s : self.s + self.c]
        return mu + self.fn(torch.cat([mu, yhat_prev], 1))


class Refine(torch.nn.Module):
    """Latent residual prediction after the last slice: ŷ_g + ½·tanh(lrp([μ_h, ŷ_g])), over the
    first `refine_channels` channels (the manifest's context.refine_channels: inputs and output
    have that many; the lean slices after them are not refined)."""

    def __init__(self, ctx):
        super().__init__()
        self.fn = ctx.lrp

    def forward(self, mu_h, yhat_g):
        return yhat_g + 0.5 * torch.tanh(self.fn(torch.cat([mu_h, yhat_g], 1)))


def context_files(cfg) -> dict:
    """File names of the channel-context graphs: per slice an integer scale graph, per slice
    after the first a float mean graph (lean slices: none, μ = μ_h), and the LRP graph."""
    n = len(cfg.slices)
    meaned = n - cfg.lean_slices
    return {"scale": [f"scale_s{i}.onnx" for i in range(n)], "mean": [f"mean_s{i}.onnx" if 0 < i < meaned else None for i in range(n)],
            "refine": "refine.onnx" if cfg.lrp else None}


def _export(mod, args, path: Path, ins, outs, dyn, int8: bool = False) -> None:
    import warnings

    # No constant folding: every parameter stays an initializer under its own name, so the
    # package alone restores the PyTorch model (load_package_model); ORT folds at load time.
    kw = dict(opset_version=OPSET, input_names=ins, output_names=outs, dynamic_axes=dyn, do_constant_folding=False)
    if int(torch.__version__.split(".")[0]) >= 2:
        kw["dynamo"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(mod.eval(), args, str(path), **kw)
    if int8:
        _store_int8(path, {n for n, p in mod.named_parameters() if int8_stored(p)})
    _store_fp16(path)
    subpixel_as_conv_transpose(path)


def export_onnx(model, out: Path, trace_hw=(64, 64), int8_encoder: bool = False) -> dict:
    """Writes the networks. Returns {role: filename} (and, for channel-context models,
    "context": {"scale": [...], "mean": [...], "refine": ...}). int8_encoder: INT8_ROLES store
    their convolution weights as int8 (the model must have been through round_weights_int8)."""
    cfg = model.cfg
    h, w = trace_hw
    x = torch.rand(1, 3, h, w)
    y = torch.randn(1, cfg.M, h // 16, w // 16)
    z = torch.randn(1, cfg.Nz, h // 64, w // 64).round()
    feat_names = feature_output_names()
    feat_dyn = {n: {2: f"h{s}", 3: f"w{s}"} for n, s in zip(feat_names, FEATURE_STRIDES)}
    attn = attention_outputs(cfg)
    attn_dyn = {a["name"]: {0: f"nw{a['stride']}"} for a in attn}
    specs = {
        "analysis": (AnalysisWithFeatures(model.g_a), (x,), ["x"], ["y", *feat_names],
                     {"x": {2: "H", 3: "W"}, "y": {2: "h", 3: "w"}, **feat_dyn}),
        "hyper_analysis": (_Wrap(model.h_a), (y,), ["y_g"], ["z"], {"y_g": {2: "h", 3: "w"}, "z": {2: "hz", 3: "wz"}}),
        "hyper_mean": (_Wrap(model.h_s_mean), (z,), ["z_hat"], ["mu_g"], {"z_hat": {2: "hz", 3: "wz"}, "mu_g": {2: "h", 3: "w"}}),
        "synthesis": (SynthesisWithAttention(model.g_s), (y,), ["y_hat"], ["x_hat", *[a["name"] for a in attn]],
                      {"y_hat": {2: "h", 3: "w"}, "x_hat": {2: "H", 3: "W"}, **attn_dyn}),
    }
    files = {}
    for role, (mod, args, ins, outs, dyn) in specs.items():
        path = out / f"{role}.onnx"
        _export(mod, args, path, ins, outs, dyn, int8=int8_encoder and role in INT8_ROLES)
        files[role] = path.name
    import onnx

    ctx = model.ctx
    int_model = intnet.build_onnx(model.h_s_scale.integer_params(), cfg.Nz, OPSET, shuffle_last=ctx is not None)
    onnx.save(int_model, str(out / "hyper_scale.onnx"))
    files["hyper_scale"] = "hyper_scale.onnx"
    if ctx is None:
        return files
    names = context_files(cfg)
    hw = {2: "h", 3: "w"}
    for i in range(len(cfg.slices)):
        c_par = intnet.layer_params(ctx.scale_ctx[i - 1]) if i else None
        g = intnet.build_slice_onnx(c_par, intnet.layer_params(ctx.index[i]), cfg.hs_hidden, ctx.starts[i], OPSET)
        onnx.save(g, str(out / names["scale"][i]))
        if ctx.has_mean(i):
            _export(SliceMean(ctx, i), (y, y[:, : ctx.starts[i]]), out / names["mean"][i], ["mu_h", "yhat_prev"], ["mu"],
                    {"mu_h": hw, "yhat_prev": hw, "mu": hw})
    if ctx.lrp is not None:
        yr = y[:, : ctx.refine_channels]
        _export(Refine(ctx), (yr, yr), out / names["refine"], ["mu_h", "yhat_g"], ["yhat_g_out"],
                {"mu_h": hw, "yhat_g": hw, "yhat_g_out": hw})
    files["context"] = names
    return files


def verify_package(root: Path) -> dict:
    """Loads manifest.json and checks every file's sha256 and size. Returns the manifest."""
    manifest = json.loads((root / "manifest.json").read_text())
    for name, meta in manifest["files"].items():
        p = root / name
        if not p.is_file():
            raise FileNotFoundError(f"{name} listed in the manifest is missing")
        if p.stat().st_size != meta["bytes"] or sha256(p) != meta["sha256"]:
            raise ValueError(f"{name}: sha256 mismatch")
    return manifest


MODULE_OF_ROLE = {"analysis": "g_a", "hyper_analysis": "h_a", "hyper_mean": "h_s_mean", "synthesis": "g_s"}


def write_prior(path: Path, prior: torch.nn.Module) -> list:
    index, parts = [], []
    for name, t in prior.state_dict().items():
        arr = t.detach().cpu().numpy().astype("<f4")
        index.append({"name": name, "shape": list(arr.shape)})
        parts.append(arr.tobytes())
    path.write_bytes(b"".join(parts))
    return index


def load_package_model(root: Path):
    """Rebuilds the PyTorch model from a package (weights as shipped: fp16-rounded floats, the
    integer scale net re-derived so that it quantizes to exactly the shipped integers)."""
    import onnx
    from onnx import numpy_helper

    from .model import HiCodec, ModelConfig

    manifest = verify_package(root)
    model = HiCodec(ModelConfig(**manifest["training"]["config"]))
    state = model.state_dict()
    found = set()
    sources = [(manifest["networks"][role]["file"], mod) for role, mod in MODULE_OF_ROLE.items()]
    ctx = manifest.get("context")
    if ctx:
        sources += [(f, f"ctx.mean.{i - 1}") for i, f in enumerate(ctx["mean"]) if f]
        if ctx.get("refine"):
            sources.append((ctx["refine"], "ctx.lrp"))
    for file, mod in sources:
        for name, arr in onnx_weights(root / file).items():
            if name.startswith("fn."):
                key = f"{mod}.{name[3:]}"
                if key in state:
                    state[key] = torch.from_numpy(arr.copy())
                    found.add(key)
    wanted = {k for k in state if k.split(".")[0] in MODULE_OF_ROLE.values()}
    wanted |= {k for k in state if k.startswith("ctx.mean.") or k.startswith("ctx.lrp.")}
    wanted -= {k for k, _ in model.named_buffers()}
    missing = sorted(wanted - found)
    if missing:
        # torch's exporter merges initializers with equal values (e.g. untrained GDN gammas)
        raise ValueError(f"package lacks weights for {missing[:3]}… ({len(missing)} tensors)")

    def int_layer(inits: dict, tag, layer, prefix: str) -> None:
        w_q = inits[f"w{tag}"].astype(np.float64) - intnet.W_ZP
        b_q = inits[f"b{tag}"].reshape(-1).astype(np.float64)
        mult = inits[f"m{tag}"].reshape(-1).astype(np.float64)
        s_w = mult / 2.0**intnet.SHIFT * layer.out_scale / layer.in_scale
        state[f"{prefix}.weight"] = torch.from_numpy(w_q * s_w[:, None, None, None]).float()
        state[f"{prefix}.bias"] = torch.from_numpy(b_q * layer.in_scale * s_w / layer.bias_gain).float()

    def inits_of(file: str) -> dict:
        return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(root / file)).graph.initializer}

    net = model.h_s_scale
    hs = inits_of("hyper_scale.onnx")
    for i, name in enumerate(("l0", "l1", "l2")):
        if hasattr(net, name):
            int_layer(hs, i, getattr(net, name), f"h_s_scale.{name}")
    if ctx:
        for i, f in enumerate(ctx["scale"]):
            si = inits_of(f)
            int_layer(si, "o", model.ctx.index[i], f"ctx.index.{i}")
            if i:
                int_layer(si, "c", model.ctx.scale_ctx[i - 1], f"ctx.scale_ctx.{i - 1}")
    raw = np.fromfile(root / manifest["extras"]["factorized_prior"]["file"], "<f4")
    pos = 0
    for ent in manifest["extras"]["factorized_prior"]["tensors"]:
        n = int(np.prod(ent["shape"])) if ent["shape"] else 1
        state[f"entropy_z.{ent['name']}"] = torch.from_numpy(raw[pos : pos + n].reshape(ent["shape"]).copy())
        pos += n
    g = manifest["quality"]["gains_shape"]
    gains = np.fromfile(root / manifest["quality"]["gains_file"], "<f4").reshape(g)
    state["log_gain"] = torch.from_numpy(np.log(gains))
    model.load_state_dict(state)
    return model.eval(), manifest
