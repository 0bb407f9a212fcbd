// Shrink-on-load (scale.ts): decode at 1/2, 1/4, 1/8 with the shipped model's preview heads and,
// for a package without them, full decode then downscale; sizes rounded up, tiles, gray, alpha,
// bad options, and the CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { Codec, type Picture, type RgbImage } from '../src/codec/codec.js';
import type { TileEngine } from '../src/codec/engine.js';
import { checkScale, downscale, macsShare, meanOutputMacs, PreviewRows, scaleCosts, scaledSize, type Scale } from '../src/codec/scale.js';
import { layout } from '../src/codec/tiles.js';
import { CodecError } from '../src/core/errors.js';
import { psnr } from '../src/metrics/psnr.js';
import { decodeImageFile } from '../src/node/image.js';
import { nodeRuntime } from '../src/runtime/node.js';
import { disposeAll, node, REPO, syntheticImage } from './helpers.js';

after(disposeAll);
const SCALES = [2, 4, 8] as const;
const shrink = (p: Picture, s: Scale): RgbImage => {
  const d = downscale(p.data, p.width, p.height, p.channels ?? 3, s);
  return { width: d.width, height: d.height, data: d.data };
};

test('scale options: 1/2, 1/4, 1/8 in several spellings; anything else is E_INVALID_OPTION', () => {
  assert.deepEqual(['1/2', '1/4', '1/8', 2, 4, 8, '0.5', 0.125, undefined, 1].map(checkScale), [2, 4, 8, 2, 4, 8, 2, 8, 1, 1]);
  for (const bad of ['1/3', 3, 16, -2, 'half', '', null, {}]) {
    assert.throws(() => checkScale(bad), (e: unknown) => e instanceof CodecError && e.code === 'E_INVALID_OPTION', String(bad));
  }
  assert.deepEqual(scaledSize(203, 131, 8), { width: 26, height: 17 });
  assert.deepEqual(scaledSize(1, 1, 8), { width: 1, height: 1 });
});

test('what each scale costs: the networks it runs as a share of a full decode\'s MACs', async () => {
  const { manifest } = (await node()).modelPackage;
  const costs = scaleCosts(manifest);
  const share = costs.map((c) => c.macsShare!);
  // the shipped model counts its context slices one by one; the shares follow the channels read
  assert.ok(share.every((x) => x > 0.1 && x < 1), JSON.stringify(costs));
  assert.ok(share[2]! <= share[1]! && share[1]! <= share[0]!, JSON.stringify(share)); // 1/8 ≤ 1/4 ≤ 1/2
  // by hand for one head: hyper-decoder + the slices read + the head, over everything but g_a/h_a
  const mp = manifest.macs_per_pixel as Record<string, number>;
  const n = (k: string): number => { const v = mp[k]; assert.equal(typeof v, 'number', k); return v!; };
  const h = manifest.previews!.heads.find((p) => p.scale === 8)!;
  const read = manifest.context!.starts.filter((st) => st < h.channels).length;
  const slices = mp['context_slices'] as unknown as number[];
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const want = (n('h_s_scale') + n('h_s_mean') + sum(slices.slice(0, read)) + h.macs_per_pixel!) / (n('h_s_scale') + n('h_s_mean') + sum(slices) + n('g_s'));
  assert.ok(Math.abs(macsShare(manifest, h)! - want) < 1e-9);
  // μ_h of the channels read only (model/narrow.ts): hyper_mean's last convolution in proportion
  const out = meanOutputMacs(manifest, (await node()).modelPackage.networks.hyper_mean)!;
  assert.ok(out > 0.5 * n('h_s_mean') && out < n('h_s_mean'), `${out} of ${n('h_s_mean')}`);
  const cut = out * (1 - h.channels / manifest.latent.channels);
  assert.ok(Math.abs(macsShare(manifest, h, out)! - (want - cut / (n('h_s_scale') + n('h_s_mean') + sum(slices) + n('g_s')))) < 1e-9);
  assert.ok(scaleCosts(manifest, out).every((c, i) => c.macsShare! < share[i]!));
  // a package that does not count the slices says the head's own MACs instead
  const { context_slices: _, ...older } = manifest.macs_per_pixel!;
  const c8 = scaleCosts({ ...manifest, macs_per_pixel: older }).find((c) => c.scale === 8)!;
  assert.equal(c8.macsShare, undefined);
  assert.match(c8.note, /\(head [\d.]+ MACs\/px\)/);
});

test('area downscale: exact block means, edge blocks average what they have', () => {
  const d = downscale(Uint8Array.from([0, 10, 20, 30, 40, 50, 60, 70, 80]), 3, 3, 1, 2);
  assert.deepEqual([d.width, d.height, [...d.data]], [2, 2, [20, 35, 65, 80]]);
});

test('the shipped model decodes every scale with a preview head, close to full decode then downscale', async () => {
  const codec = await node();
  const img = syntheticImage(203, 131, 5); // odd sides: the reduced sizes round up
  const { bytes } = await codec.encode(img, { quality: 75 });
  const full = await codec.decode(bytes);
  for (const s of SCALES) {
    assert.ok(codec.hasPreview(s), `no preview head for 1/${s} in ${codec.modelId}`);
    const small = await codec.decode(bytes, { scale: `1/${s}` });
    assert.deepEqual([small.width, small.height, small.channels], [Math.ceil(203 / s), Math.ceil(131 / s), 3]);
    const ref = shrink(img, s);
    const head = psnr(ref, small);
    const best = psnr(ref, shrink(full, s));
    assert.ok(head > 26 && head > best - 6, `1/${s}: preview ${head.toFixed(2)} dB, full then downscale ${best.toFixed(2)} dB`);
  }
});

test('reduced sizes of a tiled stream: every tile at its place, no seams', async () => {
  const codec = await node();
  const img = syntheticImage(300, 270, 9);
  const tiled = await codec.encode(img, { quality: 60, tileSize: 128 });
  for (const s of SCALES) {
    const out = await codec.decode(tiled.bytes, { scale: s });
    assert.deepEqual([out.width, out.height], [Math.ceil(300 / s), Math.ceil(270 / s)]);
    const ref = shrink(img, s);
    assert.ok(psnr(ref, out) > 26, `1/${s}: ${psnr(ref, out).toFixed(2)} dB`);
    // the columns and rows on each side of a tile border differ no more than elsewhere
    const b = 128 / s;
    const err = (x: number, y: number) => Math.abs(out.data[(y * out.width + x) * 3]! - ref.data[(y * out.width + x) * 3]!);
    let border = 0;
    let inner = 0;
    for (let y = 0; y < out.height; y++) {
      border = Math.max(border, err(b - 1, y), err(b, y));
      inner = Math.max(inner, err(b - 3, y), err(b + 2, y));
    }
    assert.ok(border <= inner + 24, `1/${s}: border error ${border}, inner ${inner}`);
  }
});

test('gray, gray + alpha and RGBA keep their channels at every scale; alpha is the exact area mean', async () => {
  const codec = await node();
  const rgb = syntheticImage(97, 66, 3);
  const n = 97 * 66;
  const alpha = Uint8Array.from({ length: n }, (_, i) => (i % 97 < 40 ? 255 : (i * 7) % 256));
  for (const ch of [1, 2, 4] as const) {
    const data = new Uint8Array(n * ch);
    for (let i = 0; i < n; i++) {
      if (ch <= 2) data[i * ch] = rgb.data[3 * i + 1]!;
      else data.set(rgb.data.subarray(3 * i, 3 * i + 3), i * ch);
      if (ch !== 1) data[i * ch + ch - 1] = alpha[i]!;
    }
    const { bytes } = await codec.encode({ width: 97, height: 66, channels: ch, data }, { quality: 70 });
    for (const s of SCALES) {
      const out = await codec.decode(bytes, { scale: s });
      assert.deepEqual([out.width, out.height, out.channels], [Math.ceil(97 / s), Math.ceil(66 / s), ch]);
      if (ch !== 1) {
        const want = downscale(alpha, 97, 66, 1, s).data;
        const got = Uint8Array.from({ length: out.width * out.height }, (_, i) => out.data[i * ch + ch - 1]!);
        assert.deepEqual(got, want, `alpha at 1/${s}`);
      }
    }
  }
});

test('a package without preview heads decodes in full and downscales (exactly)', async () => {
  const codec = await node();
  const plain = await Codec.create({ model: { ...codec.modelPackage, previews: [] }, runtime: nodeRuntime({ threads: 2 }) });
  try {
    const img = syntheticImage(130, 70, 11);
    const { bytes } = await plain.encode(img, { quality: 50 });
    const full = await plain.decode(bytes);
    for (const s of SCALES) {
      assert.equal(plain.hasPreview(s), false);
      const out = await plain.decode(bytes, { scale: s });
      assert.deepEqual(out.data, shrink(full, s).data, `1/${s}`);
    }
  } finally {
    await plain.dispose();
  }
});

test('hic decode --scale writes the reduced size; a bad scale is refused before any output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hic-scale-'));
  try {
    const codec = await node();
    const img = syntheticImage(150, 90, 2);
    writeFileSync(join(dir, 'a.hic'), (await codec.encode(img, { quality: 60 })).bytes);
    const hic = (...args: string[]) => spawnSync(process.execPath, [join(REPO, 'dist/src/cli/hic.js'), ...args], { cwd: dir, encoding: 'utf8' });
    const r = hic('decode', 'a.hic', '-o', 'a8.png', '--scale', '1/8', '--json');
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { width: number; height: number; scale: string };
    assert.deepEqual([j.width, j.height, j.scale], [19, 12, '1/8']);
    const png = await decodeImageFile(new Uint8Array(await import('node:fs/promises').then((f) => f.readFile(join(dir, 'a8.png')))));
    assert.deepEqual([png.width, png.height], [19, 12]);
    const bad = hic('decode', 'a.hic', '-o', 'a3.png', '--scale', '1/3');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /E_INVALID_OPTION/);
    assert.equal(existsSync(join(dir, 'a3.png')), false);
    const info = hic('info', 'a.hic');
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /1\/8: 19×12, preview head: reads \d+ of \d+ latent channels, no synthesis transform: \d+% of a full decode's MACs/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PreviewRows: fed tile row by tile row, the same pixels as fed the whole latent at once, and only a few rows held', async () => {
  const codec = await node();
  const model = codec.modelPackage;
  const s = 8;
  const head = model.previews.find((h) => h.scale === s)!;
  const k = head.channels;
  // 5 tile rows of 128 px: four of 8 latent rows and a short last one of 4 (740 × 560, padded to 576)
  const L = layout(740, 560, 128);
  const grid = Float32Array.from({ length: k * L.hy * L.wy }, (_, i) => Math.sin(i * 0.37) * 3);
  // a stand-in head that reads every position of its halo: each output block is the mean of the
  // latent over ±halo around its position (within the region), channel by channel in turn
  let held = 0;
  const engine = {
    async preview(scale: number, y: Float32Array, ch: number, lh: number, lw: number): Promise<Float32Array> {
      const r = 16 / scale;
      const out = new Float32Array(3 * lh * r * lw * r);
      for (let c = 0; c < 3; c++) for (let py = 0; py < lh * r; py++) for (let px = 0; px < lw * r; px++) {
        const [ly, lx] = [Math.floor(py / r), Math.floor(px / r)];
        let sum = 0;
        let n = 0;
        for (let dy = -head.halo; dy <= head.halo; dy++) for (let dx = -head.halo; dx <= head.halo; dx++) {
          const [yy, xx] = [ly + dy, lx + dx];
          if (yy < 0 || xx < 0 || yy >= lh || xx >= lw) continue;
          sum += y[((c * 7 + px) % ch) * lh * lw + yy * lw + xx]!;
          n++;
        }
        out[(c * lh * r + py) * lw * r + px] = 0.5 + sum / n / 8;
      }
      return out;
    },
  } as unknown as TileEngine;
  const feed = async (bands: [number, number][]) => {
    const rows = new PreviewRows([engine], model, 60, L, s, {});
    for (const [y0, y1] of bands) {
      const { data, top } = rows.open(y0, y1);
      for (let c = 0; c < k; c++) data.set(grid.subarray((c * L.hy + y0) * L.wy, (c * L.hy + y1) * L.wy), (c * (y1 - top) + y0 - top) * L.wy);
      await rows.done(y1);
      held = Math.max(held, rows.rowsHeld);
    }
    return rows.result();
  };
  const whole = await feed([[0, L.hy]]);
  const tileRows = L.tiles.filter((t) => t.latent.x0 === 0).map((t) => [t.latent.y0, t.latent.y1] as [number, number]);
  assert.equal(tileRows.length, 5);
  held = 0;
  const byRow = await feed(tileRows);
  assert.ok(held <= 8 + head.halo, `${held} latent rows held between tile rows`);
  assert.deepEqual([byRow.width, byRow.height], [Math.ceil(740 / 8), Math.ceil(560 / 8)]);
  assert.deepEqual(byRow.data, whole.data);
  assert.ok(byRow.data.some((v) => v !== byRow.data[0]), 'a constant picture would prove nothing');
  const rows = new PreviewRows([engine], model, 60, L, s, {});
  assert.throws(() => rows.open(8, 16), (e: unknown) => e instanceof CodecError && e.code === 'E_MODEL_INTEGRITY');
  assert.throws(() => rows.result(), (e: unknown) => e instanceof CodecError && e.code === 'E_MODEL_INTEGRITY');
});

test('pictures of more than 4 tiles free their leftovers (Runtime.reclaim, opt-in) at most once per 1024-px tile of work', async () => {
  const codec = await node();
  assert.equal(nodeRuntime({ threads: 2 }).reclaim, undefined, 'off unless asked for');
  const base = nodeRuntime({ threads: 2, reclaim: true });
  let calls = 0;
  const counting = { ...base, reclaim: () => { calls++; base.reclaim!(); } };
  const c = await Codec.create({ model: codec.modelPackage, runtime: counting });
  try {
    // [width, tile size, coding tiles, calls expected when encoding, decoding, decoding at 1/8]
    const cases = [
      [4096, 1024, 4, 0, 0, 0],
      // analysis: one block (5120×64 is less than an inner 640² block, tiles.analysisBlock), one
      // call; coding: ẑ and y passes; decode: parse, LRP, g_s
      [5120, 1024, 5, 1 + 5 + 5, 5 + 5 + 5, 5],
      [640, 128, 5, 0, 0, 0], // 5 tiles of 128 px: one call per 64 of them
    ] as const;
    for (const [w, tileSize, tiles, enc, dec, d8] of cases) {
      const got: number[] = [];
      calls = 0;
      const { bytes } = await c.encode(syntheticImage(w, 64, 3), { quality: 40, tileSize });
      got.push(calls);
      calls = 0;
      await c.decode(bytes);
      got.push(calls);
      calls = 0;
      await c.decode(bytes, { scale: 8 });
      got.push(calls);
      assert.deepEqual(got, [enc, dec, d8], `${w} px wide in ${tiles} tiles of ${tileSize}`);
    }
  } finally {
    await c.dispose();
  }
});
