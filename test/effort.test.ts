// Encoder effort (src/codec/effort.ts): streams made at any effort are ordinary streams (today's
// decoder reads them, node and web parse them to the same symbols), the default is effort 1 (RDOQ),
// a higher effort costs less in rate–distortion terms, and bad values are refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import type { RgbImage } from '../src/codec/codec.js';
import { lambdaForQuality, rdCost } from '../src/codec/effort.js';
import { EXIT_STATUS } from '../src/core/errors.js';
import { psnr } from '../src/metrics/psnr.js';
import { decodeImageFile, encodeImageFile } from '../src/node/image.js';
import { createCodec } from '../src/node/index.js';
import { disposeAll, hasKodak, KODIM23, maxAbsDiff, node, REPO, sameArray, syntheticImage, web } from './helpers.js';

after(disposeAll);

/** A 256×192 crop of kodim23 (or a synthetic photo without the Kodak folder). */
async function crop(): Promise<RgbImage> {
  if (!hasKodak) return syntheticImage(256, 192, 7);
  const k = await decodeImageFile(await readFile(KODIM23));
  const w = 256;
  const h = 192;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) data.set(k.data.subarray(((200 + y) * k.width + 300) * 3, ((200 + y) * k.width + 300 + w) * 3), y * w * 3);
  return { width: w, height: h, data };
}

test('the default is effort 1 byte for byte; effort 0 rounds, effort 1 only moves symbols toward zero', async () => {
  const codec = await node();
  for (const [img, quality, tileSize] of [[syntheticImage(130, 70, 3), 75, undefined], [syntheticImage(300, 200, 4), 20, 128]] as const) {
    const opts = { quality, ...(tileSize ? { tileSize } : {}) };
    const plain = await codec.encode(img, opts);
    const one = await codec.encode(img, { ...opts, effort: 1 });
    assert.ok(sameArray(plain.bytes, one.bytes), `${img.width}×${img.height}: effort 1 differs from the default`);
    const zero = await codec.encode(img, { ...opts, effort: 0 });
    assert.ok(zero.bytes.length > one.bytes.length, `${img.width}×${img.height}: effort 0 ${zero.bytes.length} bytes, effort 1 ${one.bytes.length}`);
    if (tileSize) continue;
    // the first slice's means come from the hyperprior alone, the same at both efforts: there RDOQ
    // keeps round(r), takes its neighbour toward zero, or 0
    const [q0, q1] = [(await codec.decodeSymbols(zero.bytes)).q, (await codec.decodeSymbols(one.bytes)).q];
    const first = codec.modelPackage.context!.slices[0]! * (q0.length / codec.modelPackage.manifest.latent.channels);
    let moved = 0;
    for (let j = 0; j < first; j++) {
      assert.ok(q1[j]! === q0[j]! || q1[j]! === q0[j]! - Math.sign(q0[j]!) || q1[j]! === 0, `symbol ${j}: ${q0[j]} → ${q1[j]}`);
      if (q1[j] !== q0[j]) moved++;
    }
    assert.ok(moved > 0, 'RDOQ moved no symbol of the first slice');
  }
});

test('streams made at effort > 0 decode with the unchanged decoder', async () => {
  const codec = await node();
  const img = syntheticImage(130, 70, 5);
  for (const effort of [1, 2, 5, 9]) {
    const { bytes, stats } = await codec.encode(img, { quality: 90, effort });
    assert.equal(stats.bytes, bytes.length);
    const out = await codec.decode(bytes);
    assert.deepEqual([out.width, out.height, out.channels], [130, 70, 3]);
    assert.ok(psnr(img, out) > 20, `effort ${effort}: PSNR ${psnr(img, out).toFixed(2)}`);
  }
});

test('a higher effort costs no more in rate–distortion terms than effort 0 (Kodak crop)', async () => {
  const codec = await node();
  const img = await crop();
  for (const quality of [25, 75]) {
    const lambda = lambdaForQuality(codec.modelPackage, quality)!;
    const cost = async (effort: number) => {
      const { bytes } = await codec.encode(img, { quality, effort });
      const p = psnr(img, await codec.decode(bytes));
      // the selection's measure (bits at equal PSNR), and the training loss per image: bits + λ·255²·SSE/3
      return { bytes: bytes.length, psnr: p, rd: rdCost(bytes.length, p, quality), j: 8 * bytes.length + lambda * 255 * 255 * 10 ** (-p / 10) * img.width * img.height };
    };
    const e0 = await cost(0);
    for (const effort of [1, 2, 5, 9]) {
      const e = await cost(effort);
      const rate = 100 * (Math.exp(e.rd - e0.rd) - 1);
      process.stderr.write(`q${quality} effort ${effort} vs 0: ${e.bytes} vs ${e0.bytes} bytes, ${e.psnr.toFixed(2)} vs ${e0.psnr.toFixed(2)} dB, rate at equal PSNR ${rate.toFixed(1)}%, J ${(100 * (e.j / e0.j - 1)).toFixed(1)}%\n`);
      // selection (5–9) keeps effort 0's stream unless a candidate measures better
      if (effort >= 5) assert.ok(e.rd <= e0.rd + 1e-12, `q${quality} effort ${effort}: ${e.bytes} vs ${e0.bytes} bytes, ${e.psnr.toFixed(2)} vs ${e0.psnr.toFixed(2)} dB`);
    }
  }
});

test('bad effort values are refused with E_INVALID_OPTION', async () => {
  const codec = await node();
  const img = syntheticImage(16, 16, 1);
  for (const effort of [-1, 10, 2.5, 'x', NaN, null]) {
    await assert.rejects(codec.encode(img, { quality: 50, effort: effort as number }), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, 'E_INVALID_OPTION');
      assert.equal(e.message, `Expected an integer 0..9 for effort but received ${String(effort)}`);
      return true;
    });
  }
  const a = await codec.analyze(img);
  await assert.rejects(codec.encodeAnalyzed(img, a, { quality: 50, effort: 10 }), { code: 'E_INVALID_OPTION' });
});

test('effort > 0 streams parse to the same symbols on web (wasm) as on node', async () => {
  const [n, w] = [await node(), await web()];
  for (const [img, quality, effort] of [[syntheticImage(63, 65, 8), 40, 1], [syntheticImage(130, 70, 9), 95, 5]] as const) {
    const { bytes } = await n.encode(img, { quality, effort });
    const a = await n.decodeSymbols(bytes);
    const b = await w.decodeSymbols(bytes);
    assert.ok(sameArray(a.zHat, b.zHat), 'ẑ differs');
    assert.ok(sameArray(a.k, b.k), 'scale indices differ');
    assert.ok(sameArray(a.q, b.q), 'y symbols differ');
    assert.ok(maxAbsDiff((await n.decode(bytes)).data, (await w.decode(bytes)).data) <= 1);
  }
});

test('worker threads make the same effort-1 stream as this thread', async () => {
  const img = syntheticImage(300, 200, 6);
  const opts = { quality: 60, effort: 1, tileSize: 128 };
  const own = await (await node()).encode(img, opts);
  const codec = await createCodec({ threads: 1, workers: 2 });
  try {
    assert.ok(sameArray(own.bytes, (await codec.encode(img, opts)).bytes));
  } finally {
    await codec.dispose();
  }
});

test('hic encode --effort: checked like the library, and written streams decode', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hic-effort-'));
  try {
    const src = join(dir, 'in.png');
    const img = syntheticImage(96, 64, 2);
    await writeFile(src, await encodeImageFile(img, 'png'));
    const hic = (args: string[]) => spawnSync(process.execPath, [join(REPO, 'dist/src/cli/hic.js'), ...args], { cwd: dir, encoding: 'utf8' });
    for (const bad of ['10', '-1', '2.5', 'x']) {
      const r = hic(['encode', src, '-o', 'bad.hic', '--effort', bad]);
      assert.equal(r.status, EXIT_STATUS.E_INVALID_OPTION, r.stderr);
      assert.match(r.stderr, /Expected an integer 0\.\.9 for effort but received/);
    }
    const r = hic(['encode', src, '-o', 'ok.hic', '-q', '80', '--effort', '2', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).effort, 2);
    const out = await (await node()).decode(new Uint8Array(await readFile(join(dir, 'ok.hic'))));
    assert.ok(psnr(img, out) > 20);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
