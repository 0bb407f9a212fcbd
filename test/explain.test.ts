// `hic explain`: receptive-field arithmetic, bit maps that add up to the real streams, and the
// CLI writing its panels and report.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { explainImage, FEATURE_CHANNELS, receptiveFields, stageFields } from '../src/explain/explain.js';
import { attentionAt, topChannels } from '../src/explain/maps.js';
import { EXIT_STATUS } from '../src/core/errors.js';
import { encodeImageFile } from '../src/node/image.js';
import { resolveClassifierDir } from '../src/node/index.js';
import { disposeAll, node, REPO, syntheticImage } from './helpers.js';

after(disposeAll);

test('receptive fields of known layer stacks', () => {
  const three3x3 = receptiveFields([{ kernel: 3, stride: 1 }, { kernel: 3, stride: 1 }, { kernel: 3, stride: 1 }]);
  assert.deepEqual(three3x3.map((s) => s.size), [3, 5, 7]);
  const fourStride2 = receptiveFields(Array.from({ length: 4 }, () => ({ kernel: 5, stride: 2 })));
  assert.deepEqual(fourStride2.map((s) => [s.size, s.jump]), [[5, 2], [13, 4], [29, 8], [61, 16]]);
  assert.equal(receptiveFields([{ kernel: 3, stride: 1, dilation: 2 }])[0]!.size, 5);
  // per stage, main path only: v5's layout (a residual block at /8, a parallel 16×16 shortcut)
  const v5 = [[5, 2, 's0'], [3, 2, 's1'], [3, 2, 's2'], [3, 1, 'res.a'], [3, 1, 'res.b'], [3, 2, 's3'], [16, 16, 'shortcut']] as const;
  assert.deepEqual(stageFields(v5.map(([kernel, stride, name]) => ({ kernel, stride, name }))).map((s) => [s.name, s.size, s.jump]),
    [['s0', 5, 2], ['s1', 9, 4], ['res.b', 49, 8], ['s3', 65, 16]]);
});

test('the shipped encoder\'s receptive fields come from its layer list', async () => {
  const codec = await node();
  const e = await explainImage(codec, syntheticImage(96, 80, 5), { quality: 50 });
  // models/DEFAULT (hic-base-v5, manifest "layers"): 5×5 /2, 3×3 /4, 3×3 /8 + a residual block, 3×3 /16
  assert.deepEqual(e.receptiveField.theoretical?.map((s) => s.size), [5, 9, 49, 65]);
});

test('bits per token add up to the real streams', async () => {
  const codec = await node();
  const img = syntheticImage(200, 150, 8);
  const e = await explainImage(codec, img, { quality: 60, point: { x: 100, y: 70 } });
  assert.deepEqual([e.tokens.gridW, e.tokens.gridH, e.tokens.coverW, e.tokens.coverH, e.tokens.patch], [16, 12, 13, 10, 16]);
  assert.equal(e.bitsY.length, 16 * 12);
  assert.equal(e.bitsZ.length, 4 * 3);
  const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);
  assert.ok(Math.abs(sum(e.bitsY) - e.totalBitsY) < 1e-6 && Math.abs(sum(e.bitsZ) - e.totalBitsZ) < 1e-6);
  // rANS writes the ideal code length plus at most its 4-byte flush and rounding
  for (const [bits, bytes] of [[e.totalBitsY, e.yBytes], [e.totalBitsZ, e.zBytes]] as const) {
    assert.ok(bytes >= bits / 8 && bytes <= bits / 8 * 1.01 + 6, `${bits / 8} ideal bytes vs ${bytes}`);
  }
  assert.ok(e.receptiveField.effective >= 16 && e.receptiveField.effective <= 256, String(e.receptiveField.effective));
  assert.equal(e.error.length, 200 * 150);
});

test('attention rows map back from shifted, padded windows onto the token grid', () => {
  // 12×10 tokens, window 8 → padded to 16×16, 2×2 windows. Every row attends only to itself
  // (identity) or only to the key after it (m + 1): the map must land on the query's own token
  // or on its right neighbour in the rolled window, for every token, regular and shifted.
  const ws = 8;
  const n = ws * ws;
  const heads = 2;
  for (const shift of [0, 4]) {
    const data = new Float32Array(4 * heads * n * n);
    for (let w = 0; w < 4; w++) {
      for (let q = 0; q < n; q++) {
        data[((w * heads + 0) * n + q) * n + q] = 1; // head 0: itself
        data[((w * heads + 1) * n + q) * n + ((q + 1) % n)] = 1; // head 1: the next key
      }
    }
    const t = { dtype: 'float32' as const, dims: [4, heads, n, n], data };
    const spec = { name: 'a', stride: 16, block: shift ? 1 : 0, shift, heads, window: ws };
    for (let qy = 0; qy < 10; qy++) {
      for (let qx = 0; qx < 12; qx++) {
        const a = attentionAt(t, spec, 12, 10, qx, qy);
        assert.deepEqual(a.rowSums, [1, 1]);
        assert.equal(a.maps[0]![qy * 12 + qx], 1, `self at ${qx},${qy} shift ${shift}`);
        assert.equal(a.meanDistance[0], 0);
        // the next key in the rolled window: one column right, or the next row's first column
        const c = (((qx - shift) % 16) + 16) % 16;
        const r = (((qy - shift) % 16) + 16) % 16;
        const last = (c % ws) === ws - 1;
        const kc = last ? c - (ws - 1) : c + 1;
        const kr = last ? (r % ws === ws - 1 ? r - (ws - 1) : r + 1) : r;
        const kx = (kc + shift) % 16;
        const ky = (kr + shift) % 16;
        if (kx < 12 && ky < 10) assert.equal(a.maps[1]![ky * 12 + kx], 1, `next of ${qx},${qy} shift ${shift}`);
        else assert.equal(a.paddingWeight[1], 1);
      }
    }
  }
  assert.throws(() => attentionAt({ dtype: 'float32', dims: [3, 2, 64, 64], data: new Float32Array(3 * 2 * 64 * 64) }, { name: 'a', stride: 16, block: 0, shift: 0, heads: 2, window: 8 }, 12, 10, 0, 0), /expected 4×2×64×64/);
});

test('feature channels are ranked by energy over the image, not the padding', () => {
  // 3 channels of 4×4 covering a 3×2 image: channel 2 is large only in the padding
  const data = new Float32Array(3 * 16);
  for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) { data[0 * 16 + y * 4 + x] = 1; data[1 * 16 + y * 4 + x] = -2; }
  data[2 * 16 + 15] = 100;
  const f = topChannels({ dtype: 'float32', dims: [1, 3, 4, 4], data }, 's', 2, 3, 2, 2);
  assert.deepEqual(f.top.map((c) => [c.channel, c.energy]), [[1, 4], [0, 1]]);
  assert.deepEqual(Array.from(f.top[0]!.map), [-2, -2, -2, -2, -2, -2]);
});

test('the shipped model explains its encoder stages and its attention', async () => {
  const codec = await node();
  const img = syntheticImage(200, 150, 4);
  const e = await explainImage(codec, img, { quality: 50, point: { x: 150, y: 20 } });
  assert.ok(e.features && e.attention, 'the default model package has explain outputs');
  assert.deepEqual(e.features.map((f) => [f.stride, f.w, f.h, f.top.length]), [[2, 100, 75, FEATURE_CHANNELS], [4, 50, 38, FEATURE_CHANNELS], [8, 25, 19, FEATURE_CHANNELS], [16, 13, 10, FEATURE_CHANNELS]]);
  for (const f of e.features) for (let i = 1; i < f.top.length; i++) assert.ok(f.top[i - 1]!.energy >= f.top[i]!.energy);
  // effective receptive field per stage: grows with depth through the convolutional stages and
  // starts at least as wide as the bump; at /16 at least the token's own 16×16 patch (in v5 the
  // linear patch shortcut holds most of y's response, so 95% of it can lie within the patch)
  const eff = e.receptiveField.effectivePerStage;
  assert.deepEqual(eff.map((s) => s.stride), [2, 4, 8, 16]);
  for (let i = 0; i < 3; i++) assert.ok(eff[i]!.size >= 4 && (i === 0 || eff[i]!.size >= eff[i - 1]!.size), JSON.stringify(eff));
  assert.ok(eff[3]!.size >= 16, JSON.stringify(eff));
  assert.equal(e.receptiveField.effective, eff[3]!.size);
  // v5 attends at /16 only: grid 16×12 (padded to 16×16 for the windows). Point (150, 20) → token (9, 1).
  assert.deepEqual(e.attention.map((a) => [a.stride, a.block, a.shift, a.heads, a.gridW, a.gridH, a.query.x, a.query.y]),
    [[16, 0, 0, 6, 16, 12, 9, 1], [16, 1, 4, 6, 16, 12, 9, 1]]);
  for (const a of e.attention) {
    for (let h = 0; h < a.heads; h++) {
      assert.ok(Math.abs(a.rowSums[h]! - 1) < 1e-4, `${a.name} head ${h}: row sums to ${a.rowSums[h]}`);
      const map = a.maps[h]!;
      const inGrid = map.reduce((x, y) => x + y, 0);
      assert.ok(Math.abs(inGrid + a.paddingWeight[h]! - a.rowSums[h]!) < 1e-5);
      assert.ok(map.every((v) => v >= 0));
      // regular windows: all weight inside the query's 8×8 window
      if (!a.shift) {
        for (let y = 0; y < a.gridH; y++) for (let x = 0; x < a.gridW; x++) if (Math.floor(x / 8) !== Math.floor(a.query.x / 8) || Math.floor(y / 8) !== Math.floor(a.query.y / 8)) assert.equal(map[y * a.gridW + x], 0);
      }
      assert.ok(a.meanDistance[h]! > 0 && a.meanDistance[h]! < Math.SQRT2 * 8 * a.stride);
    }
  }
});

test('hic explain writes panels, a report and a summary', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hic-explain-'));
  try {
    const img = syntheticImage(180, 120, 9);
    await writeFile(join(dir, 'p.png'), await encodeImageFile(img));
    const hic = (...args: string[]) => spawnSync(process.execPath, [join(REPO, 'dist/src/cli/hic.js'), 'explain', ...args], { cwd: dir, encoding: 'utf8' });
    let r = hic('p.png', '--point', '40,30', '-q', '30');
    assert.equal(r.status, 0, r.stderr);
    // the default model's latent width (512 for hic-base-v8), read from its manifest
    const defaultModel = (await readFile(join(REPO, 'models/DEFAULT'), 'utf8')).trim();
    const m = JSON.parse(await readFile(join(REPO, 'models', defaultModel, 'manifest.json'), 'utf8')).latent.channels as number;
    assert.match(r.stdout, new RegExp(`180×120 → 12×8 = 96 tokens of ${m} values`));
    const files = (await readdir(join(dir, 'p.explain'))).sort();
    assert.deepEqual(files, ['attention_16.png', 'bits_y.png', 'bits_z.png', 'class_attention.png', 'decoded.png', 'error.png', 'features_16.png', 'features_2.png', 'features_4.png',
      'features_8.png', 'receptive_field.png', 'report.html', 'summary.json', 'tokens.png']);
    assert.match(r.stdout, /attention \/16 block 1 \(shifted\): 6 heads look \d+–\d+ px away/);
    // the default model ships a classifier: where its class token looks, from the latent alone
    // (a classifier that merges m×m tokens attends over blocks of 16m px: hic-vit-flowers-v8 m = 2)
    const vit = JSON.parse(await readFile(join(await resolveClassifierDir(defaultModel), 'manifest.json'), 'utf8'));
    const px = 16 * ((vit.input?.merge as number | undefined) ?? 1);
    assert.match(r.stdout, new RegExp(`classifier hic-vit-[\\w.-]+: looks like \\w+ \\(\\d+\\.\\d%\\), from the latent alone; its class token attends most to the ${px}×${px} patch at \\(\\d+, \\d+\\)`));
    const html = await readFile(join(dir, 'p.explain', 'report.html'), 'utf8');
    assert.equal((html.match(/<img /g) ?? []).length, 12);
    assert.match(html, /Decoder attention at 1\/16/);
    const s = JSON.parse(await readFile(join(dir, 'p.explain', 'summary.json'), 'utf8'));
    assert.equal(s.bits_per_channel.y.length, m);
    assert.deepEqual(s.point, { x: 40, y: 30 });
    r = hic('p.png');
    assert.equal(r.status, EXIT_STATUS.E_EXISTS);
    assert.equal(hic('p.png', '-f', '--point', '500,5').status, EXIT_STATUS.E_INVALID_OPTION);
    assert.equal(hic('p.png', '-f', '--point', 'x').status, EXIT_STATUS.E_INVALID_OPTION);
    assert.ok(!(await readdir(dir)).some((f) => f.endsWith('.tmp')), 'temporary folder left behind');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
