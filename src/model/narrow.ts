// Narrowed copies of a package's ONNX graphs, for a decode that reads only the first k latent
// channels (a reduced-size decode, codec/scale.ts). hyper_mean computes μ_h of all M channels, and
// its last convolution (hidden → M, 3×3 at /16) is most of its work, but a preview needs μ_h of the
// channels it reads only: the same graph with that convolution's weights cut to their first k rows
// gives those k channels to the last bit (each output channel is its own dot product), in a third
// of the time on a 1024-px tile. The mean networks of the slices read take μ_h as a whole and slice
// their own channels out of it, so their input is declared k channels wide instead of M.
//
// The edit works on the protobuf wire format (protobufjs' Reader and Writer): every field it does
// not change is copied byte for byte (what it changes: the cut initializers, the declared shape
// of the output or input — a Dimension becomes a plain dim_value — and an optional value_info
// entry of the output, dropped). A graph that is not of the expected shape, or bytes it cannot
// read, are not edited (undefined): the caller runs the whole graph, as before. The engine makes
// the copies when a reduced decode first needs them (codec/engine.ts, narrowTo), in each engine.
import protobuf from 'protobufjs/minimal.js';

import { concat } from '../core/metadata.js';

const { Reader, Writer } = protobuf;

/** One field of a protobuf message: its number, wire type and bytes (tag included), and the span
 *  of its payload for a length-delimited field. */
interface Field {
  readonly no: number;
  readonly wire: number;
  readonly raw: Uint8Array;
  readonly body: Uint8Array;
}

function fields(buf: Uint8Array): Field[] {
  const r = Reader.create(buf);
  const out: Field[] = [];
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    const wire = tag & 7;
    let body = buf.subarray(r.pos, r.pos);
    if (wire === 2) {
      const len = r.uint32();
      body = buf.subarray(r.pos, r.pos + len);
      r.skip(len);
    } else {
      r.skipType(wire);
    }
    out.push({ no: tag >>> 3, wire, raw: buf.subarray(start, r.pos), body });
  }
  return out;
}

const utf8 = new TextDecoder();
const text = (f: Field): string => utf8.decode(f.body);
const strings = (fs: readonly Field[], no: number): string[] => fs.filter((f) => f.no === no && f.wire === 2).map(text);
const nameOf = (fs: readonly Field[], no: number): string | undefined => strings(fs, no)[0];

/** A length-delimited field (tag, length, payload). */
const message = (no: number, payload: Uint8Array): Uint8Array => Writer.create().uint32((no << 3) | 2).bytes(payload).finish();

/** The message with each field replaced by what `edit` returns for it: bytes (the whole field),
 *  null (dropped) or undefined (kept as it is). */
function rewrite(buf: Uint8Array, edit: (f: Field) => Uint8Array | null | undefined): Uint8Array {
  return concat(fields(buf).flatMap((f) => {
    const e = edit(f);
    return e === null ? [] : [e ?? f.raw];
  }));
}

/** int64 values of a repeated field, packed or not (TensorProto.dims). */
function int64s(fs: readonly Field[], no: number): number[] {
  const out: number[] = [];
  const num = (v: unknown): number => (typeof v === 'number' ? v : Number(String(v)));
  for (const f of fs) {
    if (f.no !== no) continue;
    if (f.wire === 0) {
      const r = Reader.create(f.raw);
      r.uint32(); // the tag
      out.push(num(r.int64()));
    } else if (f.wire === 2) {
      const r = Reader.create(f.body);
      while (r.pos < r.len) out.push(num(r.int64()));
    }
  }
  return out;
}

// ONNX field numbers (onnx.proto)
const MODEL_GRAPH = 7;
const GRAPH = { node: 1, initializer: 5, input: 11, output: 12, valueInfo: 13, sparseInitializer: 15 } as const;
const NODE = { input: 1, output: 2, opType: 4, attribute: 5, domain: 7 } as const;
const ATTR = { name: 1, i: 3, t: 5 } as const;
const TENSOR = { dims: 1, dataType: 2, int32Data: 5, int64Data: 7, rawData: 9, name: 8, externalData: 13, dataLocation: 14 } as const;
/** Bytes per element of the TensorProto data types a weight can have: float, float16, double, bfloat16. */
const ELEMENT_BYTES: Record<number, number> = { 1: 4, 10: 2, 11: 8, 16: 2 };

interface Node {
  readonly inputs: string[];
  readonly outputs: string[];
  readonly op: string;
  readonly domain: string;
  readonly attrs: Field[][];
}

function node(f: Field): Node {
  const fs = fields(f.body);
  return {
    inputs: strings(fs, NODE.input), outputs: strings(fs, NODE.output), op: nameOf(fs, NODE.opType) ?? '',
    domain: nameOf(fs, NODE.domain) ?? '', attrs: fs.filter((a) => a.no === NODE.attribute).map((a) => fields(a.body)),
  };
}

/** The graph of a model: its fields and the model's other fields around it. */
function graphOf(model: Uint8Array): { top: Field[]; graph: Field[] } | undefined {
  try {
    const top = fields(model);
    const g = top.filter((f) => f.no === MODEL_GRAPH && f.wire === 2);
    return g.length === 1 ? { top, graph: fields(g[0]!.body) } : undefined;
  } catch {
    return undefined; // not a protobuf message: not ours to edit
  }
}

const withGraph = (top: readonly Field[], graph: Uint8Array): Uint8Array =>
  concat(top.map((f) => (f.no === MODEL_GRAPH ? message(MODEL_GRAPH, graph) : f.raw)));

/** A ValueInfoProto with dimension `axis` of its tensor type set to `value`; undefined if it has
 *  no such dimension. */
function withDim(info: Uint8Array, axis: number, value: number): Uint8Array | undefined {
  let done = false;
  const out = rewrite(info, (vf) => vf.no !== 2 ? undefined : message(2, rewrite(vf.body, (tf) => tf.no !== 1 ? undefined
    : message(1, rewrite(tf.body, (sf) => {
      if (sf.no !== 2) return undefined;
      let i = 0;
      return message(2, rewrite(sf.body, (df) => {
        if (df.no !== 1 || i++ !== axis) return undefined;
        done = true;
        return message(1, Writer.create().uint32(1 << 3).int64(value).finish()); // dim_value
      }));
    })))));
  return done ? out : undefined;
}

/** An initializer with its first dimension cut to `k` (raw data only). */
function cutInitializer(f: Field, k: number): Uint8Array | undefined {
  const fs = fields(f.body);
  const dims = int64s(fs, TENSOR.dims);
  const type = fs.find((t) => t.no === TENSOR.dataType);
  const size = type?.wire === 0 ? ELEMENT_BYTES[int64s([type], TENSOR.dataType)[0]!] : undefined;
  const raw = fs.find((t) => t.no === TENSOR.rawData);
  if (!size || !raw || dims.length === 0 || !(k < dims[0]!) || fs.some((t) => t.no === TENSOR.externalData || t.no === TENSOR.dataLocation)) return undefined;
  const per = dims.slice(1).reduce((a, b) => a * b, 1) * size;
  if (raw.body.length !== dims[0]! * per) return undefined;
  const packed = Writer.create();
  for (const d of [k, ...dims.slice(1)]) packed.int64(d);
  let dimsDone = false;
  return message(GRAPH.initializer, rewrite(f.body, (t) => {
    if (t.no === TENSOR.dims) {
      if (dimsDone) return null;
      dimsDone = true;
      return message(TENSOR.dims, packed.finish());
    }
    return t.no === TENSOR.rawData ? message(TENSOR.rawData, raw.body.subarray(0, k * per)) : undefined;
  }));
}

/** The model with its only output cut to its first `k` channels (axis 1), when that output is
 *  written by a Conv of one group whose weight and bias are initializers (directly or through a
 *  Cast, e.g. fp16 weights) used by nothing else; undefined otherwise. */
export function narrowOutput(model: Uint8Array, k: number): Uint8Array | undefined {
  return guarded(() => cutOutput(model, k));
}

/** f's result, or undefined when the bytes are not what it reads (a malformed message). */
function guarded<T>(f: () => T | undefined): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** The Conv that writes a model's only output, when it is one the edit can cut: one group, its
 *  output read by no node, its weight and bias initializers (directly or through a Cast) read by
 *  nothing else. The initializers to cut come weight first. */
function outputConv(model: Uint8Array) {
  const g = graphOf(model);
  if (!g) return undefined;
  const outputs = g.graph.filter((f) => f.no === GRAPH.output);
  if (outputs.length !== 1 || g.graph.some((f) => f.no === GRAPH.sparseInitializer)) return undefined;
  const out = nameOf(fields(outputs[0]!.body), 1);
  const nodes = g.graph.filter((f) => f.no === GRAPH.node).map(node);
  const conv = nodes.find((n) => n.outputs.includes(out ?? ''));
  if (!out || !conv || conv.op !== 'Conv' || conv.domain !== '' || conv.outputs.length !== 1 || conv.inputs.length < 2) return undefined;
  const group = conv.attrs.find((a) => nameOf(a, ATTR.name) === 'group');
  if (group && int64s(group, ATTR.i)[0] !== 1) return undefined;
  const uses = (name: string) => nodes.filter((n) => n.inputs.includes(name)).length;
  if (uses(out) !== 0) return undefined;
  const inits = new Map(g.graph.filter((f) => f.no === GRAPH.initializer).map((f) => [nameOf(fields(f.body), TENSOR.name) ?? '', f] as const));
  // the initializers to cut: the weight and bias, or what a Cast makes them from
  const cut: string[] = [];
  for (const name of conv.inputs.slice(1, 3).filter((n) => n !== '')) {
    if (uses(name) !== 1) return undefined;
    const cast = inits.has(name) ? undefined : nodes.find((n) => n.outputs.includes(name));
    const src = cast ? cast.inputs[0] : name;
    if (cast && (cast.op !== 'Cast' || cast.domain !== '' || src === undefined || uses(src) !== 1)) return undefined;
    if (src === undefined || !inits.has(src) || cut.includes(src)) return undefined;
    cut.push(src);
  }
  return { g, out, info: outputs[0]!.body, inits, cut };
}

function cutOutput(model: Uint8Array, k: number): Uint8Array | undefined {
  const c = k >= 1 ? outputConv(model) : undefined;
  if (!c) return undefined;
  const edited = new Map<string, Uint8Array>();
  for (const name of c.cut) {
    const e = cutInitializer(c.inits.get(name)!, k);
    if (!e) return undefined;
    edited.set(name, e);
  }
  const info = withDim(c.info, 1, k);
  if (!info) return undefined;
  const graph = rewrite(concat(c.g.graph.map((f) => f.raw)), (f) => {
    if (f.no === GRAPH.initializer) return edited.get(nameOf(fields(f.body), TENSOR.name) ?? '');
    if (f.no === GRAPH.output) return message(GRAPH.output, info);
    if (f.no === GRAPH.valueInfo && nameOf(fields(f.body), 1) === c.out) return null; // optional shape hint: dropped
    return undefined;
  });
  return withGraph(c.g.top, graph);
}

/** The model with input `name` declared `k` wide on axis 1, when every node that reads it is a
 *  Slice along axis 1 with constant bounds inside 0…k (a network that takes its own channels out of
 *  a wider input, as the mean nets do); undefined otherwise. */
export function narrowInput(model: Uint8Array, name: string, k: number): Uint8Array | undefined {
  return guarded(() => declareInput(model, name, k));
}

function declareInput(model: Uint8Array, name: string, k: number): Uint8Array | undefined {
  const g = graphOf(model);
  if (!g || !(k >= 1)) return undefined;
  const nodes = g.graph.filter((f) => f.no === GRAPH.node).map(node);
  const readers = nodes.filter((n) => n.inputs.includes(name));
  const consts = constants(g.graph, nodes);
  const inside = (n: Node): boolean => {
    if (n.op !== 'Slice' || n.domain !== '' || n.inputs[0] !== name || n.inputs.slice(1).includes(name)) return false;
    const [starts, ends, axes, steps] = [1, 2, 3, 4].map((j) => (n.inputs[j] ? consts.get(n.inputs[j]!) : undefined));
    return starts?.length === 1 && ends?.length === 1 && axes?.length === 1 && axes[0] === 1 &&
      (steps === undefined ? n.inputs[4] === undefined || n.inputs[4] === '' : steps.length === 1 && steps[0] === 1) &&
      starts[0]! >= 0 && starts[0]! < ends[0]! && ends[0]! <= k;
  };
  if (readers.length === 0 || !readers.every(inside)) return undefined;
  let done = false;
  const graph = rewrite(concat(g.graph.map((f) => f.raw)), (f) => {
    if (f.no !== GRAPH.input || nameOf(fields(f.body), 1) !== name) return undefined;
    const info = withDim(f.body, 1, k);
    if (!info) return undefined;
    done = true;
    return message(GRAPH.input, info);
  });
  return done ? withGraph(g.top, graph) : undefined;
}

/** The integer values of the graph's constant tensors (initializers and Constant nodes' `value`)
 *  of type int32 or int64, by name. */
function constants(graph: readonly Field[], nodes: readonly Node[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const add = (name: string | undefined, tensor: readonly Field[]) => {
    const v = name === undefined ? undefined : intValues(tensor);
    if (v) out.set(name!, v);
  };
  for (const f of graph) if (f.no === GRAPH.initializer) add(nameOf(fields(f.body), TENSOR.name), fields(f.body));
  for (const n of nodes) {
    const value = n.op === 'Constant' ? n.attrs.find((a) => nameOf(a, ATTR.name) === 'value')?.find((a) => a.no === ATTR.t) : undefined;
    if (value) add(n.outputs[0], fields(value.body));
  }
  return out;
}

/** An int32 or int64 tensor's values (raw data, or the typed fields), else undefined. */
function intValues(fs: readonly Field[]): number[] | undefined {
  const type = int64s(fs, TENSOR.dataType)[0];
  const raw = fs.find((t) => t.no === TENSOR.rawData)?.body;
  if (type === 7) {
    if (!raw) return int64s(fs, TENSOR.int64Data);
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(v.getBigInt64(8 * i, true)));
  }
  if (type === 6) {
    if (!raw) return int64s(fs, TENSOR.int32Data);
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Array.from({ length: raw.byteLength / 4 }, (_, i) => v.getInt32(4 * i, true));
  }
  return undefined;
}

/** The weight shape [out, in, kh, kw] of the Conv that narrowOutput would cut (hyper_mean's last
 *  convolution), or undefined when it would cut none. */
export function outputConvShape(model: Uint8Array): number[] | undefined {
  return guarded(() => convShape(model));
}

function convShape(model: Uint8Array): number[] | undefined {
  const c = outputConv(model);
  const weight = c?.cut[0];
  return weight === undefined ? undefined : int64s(fields(c!.inits.get(weight)!.body), TENSOR.dims);
}
