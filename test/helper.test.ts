// The helper thread that takes the float half of parsing (μ_h, the slice means, ŷ_g) beside the
// integer half (engine.ts MeanSide, node/workers.ts meanHelper): the same bytes and pixels with it
// and without, used only for pictures of at most HELPER_MAX_TILES tiles, and its failures reach
// the caller as a rejected call (never an unhandled rejection); a helper worker that died is
// replaced.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';

import { Codec } from '../src/codec/codec.js';
import { SessionEngine, type ZRegion } from '../src/codec/engine.js';
import { HELPER_MAX_TILES, helperPays, type MeanSide } from '../src/codec/helper.js';
import { RemoteEngine, serveEngine } from '../src/codec/remote.js';
import { createCodec, resolveModelDir } from '../src/node/index.js';
import { loadPackageFromDir } from '../src/node/package.js';
import { meanHelper } from '../src/node/workers.js';
import { nodeRuntime } from '../src/runtime/node.js';
import { syntheticImage } from './helpers.js';

const open: { dispose(): Promise<void> }[] = [];
after(async () => {
  for (const c of open) await c.dispose();
});

/** A MeanSide that counts its chains and forwards to `inner`, optionally failing a push. */
function counting(inner: MeanSide & { dispose(): Promise<void> }, failPush = false) {
  const calls = { start: 0, push: 0, finish: 0 };
  const side = {
    meanStart: (id: number, from: ZRegion | Float32Array, lh: number, lw: number, n: number, withMu: boolean) => (calls.start++, inner.meanStart(id, from, lh, lw, n, withMu)),
    meanPush: (id: number, q: Int32Array) => (calls.push++, failPush ? Promise.reject(new Error('helper failed')) : inner.meanPush(id, q)),
    meanFinish: (id: number) => (calls.finish++, inner.meanFinish(id)),
    dispose: () => inner.dispose(),
  };
  return { side, calls };
}

test('a worker helper gives the same bytes, pixels, previews and symbols as one thread', { timeout: 180_000 }, async () => {
  const [one, two] = await Promise.all([createCodec({ threads: 2, helper: false }), createCodec({ threads: 2, helper: true })]);
  open.push(one, two);
  const img = syntheticImage(200, 136, 7);
  for (const [quality, effort] of [[40, 0], [85, 2]] as const) {
    const a = await one.encode(img, { quality, effort });
    const b = await two.encode(img, { quality, effort });
    assert.deepEqual(b.bytes, a.bytes, `q${quality} effort ${effort}: the encoder's bytes differ with the helper`);
    for (const scale of [1, 2, 8] as const) {
      const [x, y] = [await one.decode(a.bytes, { scale }), await two.decode(a.bytes, { scale })];
      assert.equal(y.width, x.width);
      assert.deepEqual(y.data, x.data, `q${quality} 1/${scale}: pixels differ with the helper`);
    }
    const [s, t] = [await one.decodeSymbols(a.bytes), await two.decodeSymbols(a.bytes)];
    assert.deepEqual(t.q, s.q);
    assert.deepEqual(t.k, s.k);
    assert.deepEqual(t.yHatG, s.yHatG);
  }
});

test(`the helper takes pictures of at most ${HELPER_MAX_TILES} tiles; a failure in it rejects the call`, { timeout: 180_000 }, async () => {
  const model = await loadPackageFromDir(await resolveModelDir());
  const runtime = nodeRuntime({ threads: 2 });
  const { side, calls } = counting(meanHelper(model));
  const codec = await Codec.create({ model, runtime, helper: side });
  open.push(codec);
  const small = await codec.encode(syntheticImage(256, 128, 3), { quality: 60, tileSize: 128 }); // 2 tiles
  const n = model.context ? model.context.slices.length : 1;
  assert.deepEqual(calls, { start: 2, push: 2 * n, finish: 2 }, 'the encoder of a 2-tile picture uses the helper');
  await codec.decode(small.bytes, { scale: 8 });
  const read = model.previews.find((h) => h.scale === 8);
  const slices = read && model.context ? model.context.starts.findIndex((s, i) => s + model.context!.slices[i]! === read.channels) + 1 : n;
  assert.deepEqual(calls, { start: 4, push: 2 * n + 2 * slices, finish: 4 }, 'a 1/8 decode pushes only the slices it reads');
  const before = { ...calls };
  const big = await codec.encode(syntheticImage(384, 256, 4), { quality: 60, tileSize: 128 }); // 6 tiles
  await codec.decode(big.bytes);
  assert.deepEqual(calls, before, `a picture of more than ${HELPER_MAX_TILES} tiles parses in one thread`);

  const failing = counting(await SessionEngine.create(model, runtime), true);
  const bad = await Codec.create({ model, runtime, helper: failing.side });
  open.push(bad);
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    await assert.rejects(bad.decode(small.bytes), /helper failed/);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(unhandled, []);
    assert.equal(failing.calls.finish, 1, 'the failed chain is finished (dropped)');
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('a helper worker that died is replaced on the next parse', { timeout: 180_000 }, async () => {
  const model = await loadPackageFromDir(await resolveModelDir());
  const made: RemoteEngine[] = [];
  const helper = meanHelper(model, () => {
    // a worker-like engine over a MessageChannel, served by a SessionEngine in this thread
    const { port1, port2 } = new MessageChannel();
    const e = new RemoteEngine(port1, () => {
      port1.close();
      port2.close();
    });
    port1.on('message', (m) => e.receive(m));
    const serve = serveEngine(port2, SessionEngine.create(model, nodeRuntime({ threads: 1 })));
    port2.on('message', (m) => void serve(m));
    made.push(e);
    return e;
  });
  const codec = await Codec.create({ model, runtime: nodeRuntime({ threads: 2 }), helper });
  open.push(codec);
  const { bytes } = await codec.encode(syntheticImage(160, 96, 9), { quality: 50 });
  const first = await codec.decode(bytes);
  assert.equal(made.length, 1);
  made[0]!.fail(new Error('worker exited'));
  assert.ok(made[0]!.failed);
  const again = await codec.decode(bytes);
  assert.equal(made.length, 2, 'a new worker took the parse');
  assert.deepEqual(again.data, first.data);
});

test('a one-shot command starts the helper for a picture of more than one tile or more than 1 MP', () => {
  assert.equal(helperPays(768, 512, 1024), false); // Kodak: one tile
  assert.equal(helperPays(1024, 1024, 1024), false);
  assert.equal(helperPays(1025, 512, 1024), true);
  assert.equal(helperPays(1365, 2048, 1024), true); // four tiles
  assert.equal(helperPays(300, 270, 128), true);
  assert.equal(helperPays(1000, 1000, 0), false); // format 1: one tile
  assert.equal(helperPays(4000, 3000, 0), true); // … but the parse work of twelve
  assert.equal(helperPays(3000, 2000, 4096), true);
});
