// Tiled coding: the geometry, round trips at sizes around tile borders, seams, truncated tiled
// streams, progress and cancellation, and worker threads giving the same bytes and pixels.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { parseContainer } from '../src/bitstream/container.js';
import type { Progress, RgbImage } from '../src/codec/codec.js';
import { analysisBlock, cropPlanar, layout, pastePlanar, toRgb } from '../src/codec/tiles.js';
import { CodecError } from '../src/core/errors.js';
import { psnr } from '../src/metrics/psnr.js';
import { createCodec } from '../src/node/index.js';
import { disposeAll, node, REPO, syntheticImage } from './helpers.js';

after(disposeAll);
const made: string[] = []; // temporary folders, removed when the file's tests are done
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

test('cropPlanar and pastePlanar move the same values as a per-element copy (whole planes, whole rows, blocks)', () => {
  const C = 3;
  const w = 7;
  const h = 5;
  const src = Float32Array.from({ length: C * w * h }, (_, i) => i + 0.25);
  const at = (c: number, x: number, y: number) => src[c * w * h + y * w + x]!;
  for (const r of [{ x0: 0, y0: 0, x1: w, y1: h }, { x0: 0, y0: 1, x1: w, y1: 4 }, { x0: 2, y0: 1, x1: 6, y1: 5 }, { x0: 6, y0: 4, x1: 7, y1: 5 }]) {
    const rw = r.x1 - r.x0;
    const rh = r.y1 - r.y0;
    const crop = cropPlanar(src, C, w, h, r);
    assert.ok(crop !== src && crop.length === C * rw * rh);
    for (let c = 0; c < C; c++) for (let y = 0; y < rh; y++) for (let x = 0; x < rw; x++) assert.equal(crop[(c * rh + y) * rw + x], at(c, r.x0 + x, r.y0 + y));
    // paste the inner part (one row and column less where possible) of the crop back into zeros
    const inner = { x0: r.x0, y0: r.y0 + (rh > 1 ? 1 : 0), x1: r.x1, y1: r.y1 };
    for (const own of [inner, { ...inner, x0: Math.min(inner.x0 + 1, inner.x1 - 1) }]) {
      const dst = new Float32Array(C * w * h);
      pastePlanar(dst, w, h, own, crop, r, C);
      for (let c = 0; c < C; c++) {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const inside = x >= own.x0 && x < own.x1 && y >= own.y0 && y < own.y1;
            assert.equal(dst[c * w * h + y * w + x], inside ? at(c, x, y) : 0, `${JSON.stringify(own)} (${c}, ${x}, ${y})`);
          }
        }
      }
    }
  }
});

test('toRgb rounds and clamps as Math.round(clamp(v, 0, 1) · 255), for a region with an offset', () => {
  const edges = [NaN, -Infinity, -1, -0.5 / 255, -1e-9, 0, 1e-9, 0.5 / 255, 1.5 / 255, 0.49999997, 0.5, 0.50196081, 254.5 / 255, 0.99999994, 1, 1.0000001, 7, Infinity];
  const rw = 7;
  const rh = 5;
  const x = new Float32Array(3 * rw * rh).map((_, i) => (i < edges.length ? edges[i]! : Math.sin(i * 12.9898) * 0.6 + 0.5));
  const w = 9;
  const out = new Uint8Array(w * 8 * 3).fill(77);
  const px = { x0: 3, y0: 2, x1: 8, y1: 6 }; // inside the region whose origin is (2, 1)
  toRgb(out, w, px, x, rw, rh, 2, 1);
  for (let y = 0; y < 8; y++) {
    for (let xx = 0; xx < w; xx++) {
      for (let c = 0; c < 3; c++) {
        const inside = xx >= px.x0 && xx < px.x1 && y >= px.y0 && y < px.y1;
        const v = x[c * rw * rh + (y - 1) * rw + (xx - 2)]!;
        const want = inside ? Math.round(Math.min(1, Math.max(0, v)) * 255) || 0 : 77;
        assert.equal(out[(y * w + xx) * 3 + c], want, `(${xx}, ${y}) channel ${c}: ${v}`);
      }
    }
  }
});

test('tiles partition the image and the latent grid', () => {
  for (const [w, h, t] of [[1, 1, 128], [129, 127, 128], [1000, 300, 256], [64, 20000, 1024]] as const) {
    const L = layout(w, h, t);
    assert.equal(L.tiles.length, Math.ceil(w / t) * Math.ceil(h / t));
    let px = 0;
    let lat = 0;
    for (const tile of L.tiles) {
      px += (tile.pixels.x1 - tile.pixels.x0) * (tile.pixels.y1 - tile.pixels.y0);
      lat += (tile.latent.x1 - tile.latent.x0) * (tile.latent.y1 - tile.latent.y0);
      assert.ok(tile.latent.x0 % 4 === 0 && tile.latent.y0 % 4 === 0);
    }
    assert.equal(px, w * h);
    assert.equal(lat, L.wy * L.hy);
    assert.deepEqual([L.wy, L.hy], [Math.ceil(w / 64) * 4, Math.ceil(h / 64) * 4]);
  }
});

async function roundTrip(img: RgbImage, tileSize: number, quality = 60) {
  const codec = await node();
  const { bytes, stats } = await codec.encode(img, { quality, tileSize });
  const out = await codec.decode(bytes);
  return { bytes, stats, out };
}

for (const [w, h] of [[127, 129], [129, 128], [257, 255], [1, 1]] as const) {
  test(`${w}×${h} in 128-pixel tiles: exact size, close to the untiled result`, async () => {
    const img = syntheticImage(w, h, w + 3 * h);
    const tiled = await roundTrip(img, 128);
    const whole = await roundTrip(img, 1024);
    assert.equal(tiled.stats.tiles, Math.ceil(w / 128) * Math.ceil(h / 128));
    assert.equal(parseContainer(tiled.bytes).tiles.length, tiled.stats.tiles);
    assert.deepEqual([tiled.out.width, tiled.out.height, tiled.out.data.length], [w, h, w * h * 3]);
    const dp = psnr(img, tiled.out) - psnr(img, whole.out);
    assert.ok(Math.abs(dp) < 0.3, `PSNR tiled − untiled ${dp.toFixed(3)} dB`);
    // tiny images pay a few bytes per tile; the bound is loose on purpose
    assert.ok(tiled.bytes.length < whole.bytes.length * 1.25 + 40 * tiled.stats.tiles, `${tiled.bytes.length} vs ${whole.bytes.length}`);
  });
}

test('a tall 64×20000 strip round-trips in 20 tiles', async () => {
  const img = syntheticImage(64, 20000, 77);
  const { stats, out } = await roundTrip(img, 1024, 40);
  assert.equal(stats.tiles, 20);
  assert.deepEqual([out.width, out.height], [64, 20000]);
  assert.ok(psnr(img, out) > 25);
});

test('no seams: the error along tile borders is like the interior one, and close to untiled synthesis', async () => {
  const codec = await node();
  const img = syntheticImage(512, 384, 5);
  /** MSE within 2 px of the 128-px grid / MSE elsewhere, of a decode. */
  const borderRatio = (out: { data: Uint8Array }) => {
    let border = 0;
    let nb = 0;
    let inner = 0;
    let ni = 0;
    for (let y = 0; y < 384; y++) {
      for (let x = 0; x < 512; x++) {
        const nearBorder = Math.min(x % 128, 127 - (x % 128), y % 128, 127 - (y % 128)) < 2 && x > 2 && y > 2 && x < 509 && y < 381;
        for (let c = 0; c < 3; c++) {
          const i = (y * 512 + x) * 3 + c;
          const e = (out.data[i]! - img.data[i]!) ** 2;
          if (nearBorder) {
            border += e;
            nb++;
          } else {
            inner += e;
            ni++;
          }
        }
      }
    }
    return border / nb / (inner / ni);
  };
  /** The border ratio of a 128-px tiled stream, the same of the picture coded whole (the 128-px grid
   *  is also where g_s's attention windows meet), and the tiled stream's largest difference from
   *  untiled synthesis. */
  const seams = async (effort: number) => {
    const { bytes } = await codec.encode(img, { quality: 70, tileSize: 128, effort });
    const tiled = await codec.decode(bytes);
    const untiled = await codec.synthesize(await codec.decodeSymbols(bytes), { tileSize: 1024 });
    let maxDiff = 0;
    for (let i = 0; i < tiled.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(tiled.data[i]! - untiled.data[i]!));
    const whole = await codec.decode((await codec.encode(img, { quality: 70, tileSize: 1024, effort })).bytes);
    return { ratio: borderRatio(tiled), whole: borderRatio(whole), maxDiff };
  };
  const plain = await seams(0);
  // 128-pixel tiles are the worst case (the 64-pixel halo is half a tile); 1024-pixel tiles: ±1–2
  assert.ok(plain.maxDiff <= 6, `tiled vs untiled synthesis: max |diff| ${plain.maxDiff}`);
  // each tile's latent is coded on its own, so its border pixels err more than where the picture was
  // coded whole: hic-base-v7 1.29 against 1.10 whole (×1.18), hic-base-v8 1.43 against 1.13 (×1.27)
  // on this picture (docs/MODEL.md, "hic-base-v8")
  assert.ok(plain.ratio < 1.35 * plain.whole, `border MSE / interior MSE = ${plain.ratio.toFixed(3)} tiled, ${plain.whole.toFixed(3)} whole`);
  // RDOQ (the default effort) prices every latent element alike and adds a little at the borders
  // (×0.96–1.09 of effort 0's ratio on four synthetic pictures; docs/MODEL.md, "Encoder effort")
  const rdoq = await seams(1);
  assert.ok(rdoq.maxDiff <= 6, `effort 1: tiled vs untiled synthesis: max |diff| ${rdoq.maxDiff}`);
  assert.ok(rdoq.ratio < 1.15 * plain.ratio, `effort 1: border MSE / interior MSE = ${rdoq.ratio.toFixed(3)} against ${plain.ratio.toFixed(3)} at effort 0`);
});

test('progress reports every tile of every stage, in coding tiles, each count once; an abort stops with E_ABORTED', async () => {
  const codec = await node();
  const img = syntheticImage(300, 260, 9);
  const seen: Progress[] = [];
  const { bytes } = await codec.encode(img, { quality: 50, tileSize: 128, onProgress: (p) => seen.push(p) });
  const stages = [...new Set(seen.map((p) => p.stage))];
  assert.deepEqual(stages, ['analysis', 'coding']);
  const steps = (stage: string) => seen.filter((p) => p.stage === stage).map((p) => `${p.done}/${p.total}`);
  const nine = Array.from({ length: 9 }, (_, i) => `${i + 1}/9`); // 3 × 3 tiles
  assert.deepEqual(steps('analysis'), nine);
  assert.deepEqual(steps('coding'), nine); // ẑ and y of each tile: one count
  // 1024-px tiles, analysed in 512-px blocks: 1100×600 is 2 tiles and 6 blocks, reported as tiles
  seen.length = 0;
  await codec.encode(syntheticImage(1100, 600, 3), { quality: 10, onProgress: (p) => seen.push(p) });
  assert.deepEqual(steps('analysis'), ['1/2', '2/2']);
  assert.deepEqual(steps('coding'), ['1/2', '2/2']);
  const dec: Progress[] = [];
  await codec.decode(bytes, { onProgress: (p) => dec.push(p) });
  assert.deepEqual(dec.map((p) => p.stage).filter((s, i, a) => a.indexOf(s) === i), ['parsing', 'synthesis']);
  assert.deepEqual(dec.filter((p) => p.stage === 'synthesis').map((p) => p.done), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const ac = new AbortController();
  await assert.rejects(
    codec.decode(bytes, { signal: ac.signal, onProgress: (p) => p.stage === 'synthesis' && p.done === 2 && ac.abort() }),
    (e: unknown) => e instanceof CodecError && e.code === 'E_ABORTED',
  );
});

test('analysis blocks: a picture no bigger than an inner block with its halos goes whole, and y does not depend on the blocks', async () => {
  // 512-px blocks with a 64-px halo: an inner block takes 640² pixels
  assert.equal(analysisBlock(768, 512, 512, 64), 768); // Kodak: 393,216 ≤ 409,600
  assert.equal(analysisBlock(640, 640, 512, 64), 640);
  assert.equal(analysisBlock(1250, 300, 512, 64), 1280); // padded 1280×320, one block of 1280
  assert.equal(analysisBlock(800, 600, 512, 64), 512); // padded 832×640: blocks
  assert.equal(analysisBlock(300, 260, 128, 64), 128); // a small tileSize keeps its blocks
  assert.equal(analysisBlock(100, 100, 512, 64), 512);
  for (const [w, h] of [[768, 512], [1250, 300]] as const) assert.equal(layout(w, h, analysisBlock(w, h, 512, 64)).tiles.length, 1);
  const codec = await node();
  const img = syntheticImage(768, 512, 4);
  const whole = await codec.analyze(img); // one block
  const blocks = await codec.analyze(img, { tileSize: 256 }); // 3 × 2 blocks of 256 with their halos
  assert.equal(whole.y.length, blocks.y.length);
  let d = 0;
  for (let i = 0; i < whole.y.length; i++) d = Math.max(d, Math.abs(whole.y[i]! - blocks.y[i]!));
  assert.ok(d < 1e-4, `y differs by ${d} between one block and six`); // 0 on this machine
});

test('worker threads give the same bytes and pixels as this thread', async () => {
  const img = syntheticImage(400, 300, 11);
  const one = await node();
  const w = await createCodec({ threads: 1, workers: 2 });
  try {
    const a = await one.encode(img, { quality: 55, tileSize: 128 });
    const b = await w.encode(img, { quality: 55, tileSize: 128 });
    assert.deepEqual(Buffer.from(b.bytes), Buffer.from(a.bytes));
    const da = await one.decode(a.bytes);
    const db = await w.decode(a.bytes);
    assert.ok(Buffer.from(da.data).equals(Buffer.from(db.data)));
  } finally {
    await w.dispose();
  }
});

test('a truncated tiled stream: E_TRUNCATED from the CLI, and no output file', async () => {
  const codec = await node();
  const { bytes } = await codec.encode(syntheticImage(300, 200, 3), { quality: 50, tileSize: 128 });
  const dir = mkdtempSync(join(tmpdir(), 'hic-trunc-'));
  made.push(dir);
  writeFileSync(join(dir, 't.hic'), bytes.subarray(0, bytes.length - 10));
  const r = spawnSync(process.execPath, [join(REPO, 'dist/src/cli/hic.js'), 'decode', join(dir, 't.hic'), '-o', join(dir, 'out.png')], { encoding: 'utf8' });
  assert.equal(r.status, 5, r.stderr);
  assert.match(r.stderr, /E_TRUNCATED/);
  assert.equal(existsSync(join(dir, 'out.png')), false);
  assert.deepEqual(readdirSync(dir), ['t.hic']);
});
