// `hic explain`: receptive-field arithmetic, bit maps that add up to the real streams, and the
// CLI writing its panels and report.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { explainImage, receptiveFields } from '../src/explain/explain.js';
import { EXIT_STATUS } from '../src/core/errors.js';
import { encodeImageFile } from '../src/node/image.js';
import { disposeAll, node, REPO, syntheticImage } from './helpers.js';

after(disposeAll);

test('receptive fields of known layer stacks', () => {
  const three3x3 = receptiveFields([{ kernel: 3, stride: 1 }, { kernel: 3, stride: 1 }, { kernel: 3, stride: 1 }]);
  assert.deepEqual(three3x3.map((s) => s.size), [3, 5, 7]);
  const fourStride2 = receptiveFields(Array.from({ length: 4 }, () => ({ kernel: 5, stride: 2 })));
  assert.deepEqual(fourStride2.map((s) => [s.size, s.jump]), [[5, 2], [13, 4], [29, 8], [61, 16]]);
  assert.equal(receptiveFields([{ kernel: 3, stride: 1, dilation: 2 }])[0]!.size, 5);
});

test('the shipped encoder\'s receptive fields come from its layer list', async () => {
  const codec = await node();
  const e = await explainImage(codec, syntheticImage(96, 80, 5), { quality: 50 });
  // models/DEFAULT: four 5×5 stride-2 convolutions (manifest "layers")
  assert.deepEqual(e.receptiveField.theoretical?.map((s) => s.size), [5, 13, 29, 61]);
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

test('hic explain writes panels, a report and a summary', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hic-explain-'));
  try {
    const img = syntheticImage(180, 120, 9);
    await writeFile(join(dir, 'p.png'), await encodeImageFile(img));
    const hic = (...args: string[]) => spawnSync(process.execPath, [join(REPO, 'dist/src/cli/hic.js'), 'explain', ...args], { cwd: dir, encoding: 'utf8' });
    let r = hic('p.png', '--point', '40,30', '-q', '30');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /180×120 → 12×8 = 96 tokens of 192 values/);
    const files = (await readdir(join(dir, 'p.explain'))).sort();
    assert.deepEqual(files, ['bits_y.png', 'bits_z.png', 'decoded.png', 'error.png', 'receptive_field.png', 'report.html', 'summary.json', 'tokens.png']);
    const html = await readFile(join(dir, 'p.explain', 'report.html'), 'utf8');
    assert.equal((html.match(/<img /g) ?? []).length, 6);
    const s = JSON.parse(await readFile(join(dir, 'p.explain', 'summary.json'), 'utf8'));
    assert.equal(s.bits_per_channel.y.length, 192);
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
