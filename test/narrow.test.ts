// Narrowed graphs (model/narrow.ts): hyper_mean cut to the first k channels of μ_h and the mean
// nets taking a k-channel μ_h give the same numbers as the whole graphs; a reduced-size parse runs
// them and gets the ŷ_g of a full parse, to the last bit; graphs of another shape are left alone.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { parseContainer } from '../src/bitstream/container.js';
import { decodeZ, SessionEngine } from '../src/codec/engine.js';
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
