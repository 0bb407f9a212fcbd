// Narrowed graphs (model/narrow.ts): hyper_mean cut to the first k channels of μ_h and the mean
// nets taking a k-channel μ_h give the same numbers as the whole graphs; a reduced-size parse runs
// them and gets the ŷ_g of a full parse, to the last bit; graphs of another shape are left alone.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import protobuf from 'protobufjs/minimal.js';

import { parseContainer } from '../src/bitstream/container.js';
import { decodeZ, SessionEngine } from '../src/codec/engine.js';
import { createCodec } from '../src/node/index.js';
import { narrowInput, narrowOutput, outputConvShape } from '../src/model/narrow.js';
import type { ModelPackage } from '../src/model/package.js';
import { nodeRuntime } from '../src/runtime/node.js';
import { webRuntime } from '../src/runtime/web.js';
import type { Runtime, TensorData } from '../src/runtime/types.js';
import { disposeAll, node, sameArray, syntheticImage } from './helpers.js';

after(disposeAll);

const f32 = (dims: number[], data: Float32Array): TensorData => ({ dtype: 'float32', dims, data });
const noise = (n: number, seed: number, scale: number) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return Math.round(((s / 2 ** 31) - 0.5) * scale);
  });
};

async function pkg(): Promise<ModelPackage> {
  return (await node()).modelPackage;
}

test('hyper_mean cut to its first k outputs gives those channels of μ_h to the last bit', async () => {
  const model = await pkg();
  const bytes = model.networks.hyper_mean;
  const [m, hidden, kh, kw] = outputConvShape(bytes)!;
  assert.equal(m, model.manifest.latent.channels);
  assert.ok(hidden! > 0 && kh === 3 && kw === 3, `${hidden} ${kh}×${kw}`);
  const zc = model.manifest.latent.hyper_channels;
  const [hz, wz] = [3, 5];
  const feeds = { z_hat: f32([1, zc, hz, wz], noise(zc * hz * wz, 7, 8)) };
  // both backends: the browser's ONNX Runtime (WebAssembly) takes the edited graph too
  for (const [name, rt] of [['node', nodeRuntime({ threads: 2 })], ['web', await webRuntime({ threads: 1 })]] as const) {
    const all = Object.values(await (await rt.createSession(bytes, { noArena: true })).run(feeds))[0]!;
    const plane = all.dims[2]! * all.dims[3]!;
    for (const k of name === 'node' ? [16, 128, 192, 384] : [128]) {
      const cut = narrowOutput(bytes, k)!;
      assert.ok(cut.length < bytes.length, `k ${k}: ${cut.length} bytes`);
      assert.deepEqual(outputConvShape(cut), [k, hidden, kh, kw]);
      const out = Object.values(await (await rt.createSession(cut, { noArena: true })).run(feeds))[0]!;
      assert.deepEqual(out.dims, [1, k, all.dims[2], all.dims[3]]);
      assert.ok(sameArray(out.data as Float32Array, (all.data as Float32Array).subarray(0, k * plane)), `${name}, k ${k}`);
    }
  }
  // nothing to cut, or nothing left
  assert.equal(narrowOutput(bytes, m!), undefined);
  assert.equal(narrowOutput(bytes, 0), undefined);
});

test('a mean net declared k channels wide takes μ_h of the first k channels and gives the same μ', async () => {
  const model = await pkg();
  const ctx = model.context!;
  const rt = nodeRuntime({ threads: 1 });
  const m = model.manifest.latent.channels;
  const i = 3; // slice 3 reads μ_h of its channels and ŷ_g of the slices before
  const [s, c] = [ctx.starts[i]!, ctx.slices[i]!];
  const k = s + c;
  const [h, w] = [4, 6];
  const plane = h * w;
  const muH = noise(m * plane, 3, 6);
  const prev = noise(s * plane, 5, 10);
  const feeds = (mu: Float32Array, ch: number) => ({ mu_h: f32([1, ch, h, w], mu), yhat_prev: f32([1, s, h, w], prev) });
  const full = Object.values(await (await rt.createSession(ctx.mean[i]!, { noArena: true })).run(feeds(muH, m)))[0]!;
  const narrow = narrowInput(ctx.mean[i]!, 'mu_h', k)!;
  const part = Object.values(await (await rt.createSession(narrow, { noArena: true })).run(feeds(muH.subarray(0, k * plane), k)))[0]!;
  assert.deepEqual(part.dims, full.dims);
  assert.ok(sameArray(part.data as Float32Array, full.data as Float32Array));
  assert.equal(narrowInput(ctx.mean[i]!, 'no_such_input', k), undefined);
});

test('graphs of another shape, or not graphs at all, are left alone', async () => {
  const model = await pkg();
  // the refinement ends in an Add, the integer hyper_scale in an Identity after its requantization
  assert.equal(narrowOutput(model.context!.refine!, 64), undefined);
  assert.equal(narrowOutput(model.networks.hyper_scale, 64), undefined);
  assert.equal(narrowOutput(Uint8Array.of(0xff, 0xff, 0xff), 8), undefined);
  assert.equal(narrowInput(new Uint8Array(0), 'mu_h', 8), undefined);
});

test('a reduced-size parse runs the narrowed graphs and gets the ŷ_g of a full parse to the last bit', async () => {
  const codec = await node();
  const model = codec.modelPackage;
  const { bytes } = await codec.encode(syntheticImage(150, 100, 4), { quality: 60 });
  const c = parseContainer(bytes);
  const zc = model.manifest.latent.hyper_channels;
  const [lh, lw] = [Math.ceil(100 / 64) * 4, Math.ceil(150 / 64) * 4]; // one tile: the padded latent
  const [hz, wz] = [lh / 4, lw / 4];
  const z = { zHat: decodeZ(c.tiles[0]!.z, zc, hz, wz, model.zTables), h: hz, w: wz, tile: { x0: 0, y0: 0, x1: wz, y1: hz } };
  const sizes: number[] = [];
  const base = nodeRuntime({ threads: 2 });
  const recording: Runtime = { ...base, createSession: (b, o) => (sizes.push(b.length), base.createSession(b, o)) };
  const engine = await SessionEngine.create(model, recording);
  try {
    const full = await engine.decodeLatent(c.tiles[0]!.y, lh, lw, z);
    assert.ok(!sizes.some((n) => n < model.networks.hyper_mean.length && n > 0.5 * model.networks.hyper_mean.length));
    const plane = lh * lw;
    for (const k of [128, 192]) {
      const part = await engine.decodeLatent(c.tiles[0]!.y, lh, lw, z, k);
      assert.equal(part.yHatG.length, k * plane);
      assert.ok(sameArray(part.yHatG, full.yHatG.subarray(0, k * plane)), `k ${k}`);
      assert.ok(sameArray(part.q, full.q.subarray(0, k * plane)));
      assert.ok(sizes.includes(narrowOutput(model.networks.hyper_mean, k)!.length), `k ${k}: no narrowed hyper_mean session (${sizes})`);
    }
  } finally {
    await engine.dispose();
  }
});

// Tiny ONNX models written field by field (onnx.proto numbers), for the shapes the edit must refuse.
const { Writer } = protobuf;
const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
const bytesField = (no: number, b: Uint8Array) => Writer.create().uint32((no << 3) | 2).bytes(b).finish();
const strField = (no: number, v: string) => Writer.create().uint32((no << 3) | 2).string(v).finish();
const intField = (no: number, v: number) => Writer.create().uint32(no << 3).int64(v).finish();
const tensor = (name: string, dims: number[], type: 1 | 7, values: number[]) => {
  const raw = type === 1 ? new Uint8Array(Float32Array.from(values).buffer) : new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
  return cat(...dims.map((d) => intField(1, d)), intField(2, type), strField(8, name), bytesField(9, raw));
};
const valueInfo = (name: string, dims: number[]) => cat(strField(1, name), bytesField(2, bytesField(1, cat(intField(1, 1),
  bytesField(2, cat(...dims.map((d) => bytesField(1, intField(1, d)))))))));
const onnxNode = (op: string, inputs: string[], outputs: string[], attrs: Uint8Array[] = []) =>
  cat(...inputs.map((i) => strField(1, i)), ...outputs.map((o) => strField(2, o)), strField(4, op), ...attrs.map((a) => bytesField(5, a)));
const intAttr = (name: string, v: number) => cat(strField(1, name), intField(3, v), intField(20, 2));
const onnxModel = (nodes: Uint8Array[], inits: Uint8Array[], inputs: Uint8Array[], outputs: Uint8Array[]) =>
  cat(intField(1, 8), bytesField(8, cat(strField(1, ''), intField(2, 13))), bytesField(7, cat(
    ...nodes.map((n) => bytesField(1, n)), strField(2, 'g'), ...inits.map((t) => bytesField(5, t)),
    ...inputs.map((v) => bytesField(11, v)), ...outputs.map((v) => bytesField(12, v)))));
const weights = (n: number) => Array.from({ length: n }, (_, i) => ((i * 7) % 5) - 2);
const run = async (model: Uint8Array, feeds: Record<string, TensorData>) =>
  Object.values(await (await nodeRuntime({ threads: 1 }).createSession(model)).run(feeds))[0]!;

test('the edit on hand-made graphs: a plain Conv is cut, a grouped or shared one is not; a Slice input is narrowed only inside its bounds', async () => {
  const x = { x: f32([1, 4, 2, 2], Float32Array.from({ length: 16 }, (_, i) => i / 4 - 2)) };
  const conv = (w: number[], group?: number) => onnxModel([onnxNode('Conv', ['x', 'W', 'B'], ['y'], group ? [intAttr('group', group)] : [])],
    [tensor('W', w, 1, weights(w.reduce((a, b) => a * b, 1))), tensor('B', [4], 1, [1, -1, 2, 0.5])], [valueInfo('x', [1, 4, 2, 2])], [valueInfo('y', [1, 4, 2, 2])]);
  const plain = conv([4, 4, 1, 1]);
  const full = await run(plain, x);
  const cut = narrowOutput(plain, 2)!;
  assert.ok(cut, 'a one-group Conv writing the output is cut');
  const part = await run(cut, x);
  assert.deepEqual(part.dims, [1, 2, 2, 2]);
  assert.ok(sameArray(part.data as Float32Array, (full.data as Float32Array).subarray(0, 8)));
  assert.equal(narrowOutput(conv([4, 2, 1, 1], 2), 2), undefined, 'grouped: its output channels read other inputs');
  const shared = onnxModel([onnxNode('Conv', ['x', 'W'], ['t']), onnxNode('Conv', ['t', 'W'], ['y'])],
    [tensor('W', [4, 4, 1, 1], 1, weights(16))], [valueInfo('x', [1, 4, 2, 2])], [valueInfo('y', [1, 4, 2, 2])]);
  assert.equal(narrowOutput(shared, 2), undefined, 'a weight another node reads');

  const slice = (end: number, extra: Uint8Array[] = []) => onnxModel([onnxNode('Slice', ['m', 's', 'e', 'a'], ['y']), ...extra],
    [tensor('s', [1], 7, [1]), tensor('e', [1], 7, [end]), tensor('a', [1], 7, [1])], [valueInfo('m', [1, 4, 2, 2])], [valueInfo('y', [1, end - 1, 2, 2])]);
  const m = Float32Array.from({ length: 16 }, (_, i) => i);
  const narrowed = narrowInput(slice(3), 'm', 3)!;
  assert.ok(narrowed);
  const got = await run(narrowed, { m: f32([1, 3, 2, 2], m.subarray(0, 12)) });
  assert.ok(sameArray(got.data as Float32Array, m.subarray(4, 12)), 'channels 1–2 of the first three');
  assert.equal(narrowInput(slice(3), 'm', 2), undefined, 'a Slice that reaches past k');
  assert.equal(narrowInput(slice(3, [onnxNode('Relu', ['m'], ['r'])]), 'm', 3), undefined, 'another reader of the input');
});

test('a reduced-size decode gives the same pixels with the parse helper as without it', async () => {
  const codec = await node();
  const alone = await createCodec({ threads: 2, helper: false });
  try {
    const { bytes } = await codec.encode(syntheticImage(140, 90, 8), { quality: 70 });
    for (const s of [2, 4, 8] as const) {
      const a = await codec.decode(bytes, { scale: s });
      const b = await alone.decode(bytes, { scale: s });
      assert.ok(sameArray(a.data, b.data), `1/${s}`);
    }
  } finally {
    await alone.dispose();
  }
});
