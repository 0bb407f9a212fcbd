// Recognition without decoding: `hic classify` on the golden flower stream gives the class that was
// recorded when the classifier shipped; any grid size works (tiled and pooled streams); a classifier
// for another codec model, a tampered classifier and corrupt streams give stable error codes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { UNKNOWN, type Classifier } from '../src/classify/classifier.js';
import { CodecError, EXIT_STATUS } from '../src/core/errors.js';
import { loadClassifier, resolveClassifierDir } from '../src/node/index.js';
import { node, REPO, syntheticImage } from './helpers.js';

const HIC = join(REPO, 'dist/src/cli/hic.js');
const MODEL = (await readFile(join(REPO, 'models/DEFAULT'), 'utf8')).trim();
const GOLDEN = join(REPO, 'test/golden', MODEL);
const hic = (...args: string[]) => spawnSync(process.execPath, [HIC, ...args], { encoding: 'utf8' });
let dir = '';
let classifier: Classifier;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hic-classify-'));
  classifier = await loadClassifier(await resolveClassifierDir(MODEL), 2);
});
after(async () => {
  await classifier?.dispose();
  await rm(dir, { recursive: true, force: true });
});

test('the default model ships a classifier that reads its latent', () => {
  assert.equal(classifier.manifest.codec_model, MODEL);
  assert.deepEqual(classifier.manifest.classes, ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']);
});

test('hic classify on the golden flower stream gives the recorded class', async () => {
  const want = JSON.parse(await readFile(join(GOLDEN, 'classify.json'), 'utf8')) as { label: string; probability: number; classifier: string };
  const r = hic('classify', join(GOLDEN, 'flower-q50.hic'), '--json', '--threads', '2');
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as { label: string; probability: number; classifier: string; top: { probability: number }[]; grid: { width: number; height: number }; labels: string[]; known: string; threshold: number };
  assert.equal(got.classifier, want.classifier);
  assert.equal(got.label, want.label);
  assert.deepEqual([got.labels, got.known, got.threshold], [classifier.manifest.classes, 'tf_flowers: 5 kinds of flower', 0.6]);
  assert.ok(Math.abs(got.probability - want.probability) < 1e-4, `${got.probability} vs ${want.probability}`);
  // 256² → 16×16 latent tokens; a classifier that merges m×m of them sees 16/m a side
  const merge = classifier.manifest.input?.merge ?? 1;
  assert.deepEqual([got.grid.width, got.grid.height], [16 / merge, 16 / merge]);
  const human = hic('classify', join(GOLDEN, 'flower-q50.hic'));
  assert.match(human.stdout, new RegExp(`flower-q50\\.hic: ${want.label} \\(`));
  assert.match(human.stderr, /knows tf_flowers: 5 kinds of flower \(daisy, dandelion, roses, sunflowers, tulips\)/);
});

test('a top-1 probability under --threshold is "unknown", named against the classes it knows', async () => {
  const r = hic('classify', join(GOLDEN, 'flower-q50.hic'), '--threshold', '0.999');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /flower-q50\.hic: unknown \(not one of: daisy, dandelion, roses, sunflowers, tulips\)  \[daisy \d/);
  const j = JSON.parse(hic('classify', join(GOLDEN, 'flower-q50.hic'), '--threshold', '0.999', '--json').stdout);
  assert.deepEqual([j.label, j.top[0].label, j.threshold], ['unknown', 'daisy', 0.999]);
  for (const bad of ['1.5', '-0.1', 'abc', '']) {
    const b = hic('classify', join(GOLDEN, 'flower-q50.hic'), '--threshold', bad);
    assert.equal(b.status, EXIT_STATUS.E_INVALID_OPTION, b.stderr);
    assert.match(b.stderr, new RegExp(`^hic: error E_INVALID_OPTION: Expected a number between 0 and 1 for --threshold but received ${bad}`));
  }
  // the library: the answer and the top class side by side; the same check of the threshold
  const codec = await node();
  const bytes = await readFile(join(GOLDEN, 'flower-q50.hic'));
  const lib = await classifier.classify(codec, bytes, { threshold: 0.999 });
  assert.deepEqual([lib.label, lib.top.label, lib.threshold], [UNKNOWN, 'daisy', 0.999]);
  assert.equal((await classifier.classify(codec, bytes)).label, 'daisy');
  await assert.rejects(classifier.classify(codec, bytes, { threshold: 2 }), (e: unknown) => e instanceof CodecError && e.code === 'E_INVALID_OPTION');
});

// grids are the padded latent (multiples of 64 px → 4 tokens); 1100×700 → 72×44 tokens, pooled by 3
test('any size: a tiled stream is classified on its whole grid, a large one pooled to ≤ 32×32 tokens', async () => {
  const codec = await node();
  for (const [w, h, tile, grid, pooled] of [[300, 200, 128, [20, 16], 1], [1100, 700, 512, [24, 15], 3], [40, 24, 1024, [4, 4], 1]] as const) {
    const { bytes } = await codec.encode(syntheticImage(w, h, w), { quality: 50, tileSize: tile });
    const r = await classifier.classify(codec, bytes);
    // then m×m blocks of the pooled grid (a trailing odd row or column left out) for a merging classifier
    const m = classifier.manifest.input?.merge ?? 1;
    assert.deepEqual([r.grid.width, r.grid.height, r.grid.pooled], [Math.floor(grid[0] / m), Math.floor(grid[1] / m), pooled * m], `${w}×${h}`);
    assert.equal(r.attention.data.length, r.grid.width * r.grid.height);
    assert.ok(Math.abs(r.classes.reduce((s, c) => s + c.probability, 0) - 1) < 1e-5);
    assert.ok(r.attention.data.every((v) => v >= 0 && Number.isFinite(v)));
  }
});

test('a classifier for another codec model and a tampered classifier are refused with stable codes', async () => {
  const src = await resolveClassifierDir(MODEL);
  const other = join(dir, 'other');
  await cp(src, other, { recursive: true });
  const m = JSON.parse(await readFile(join(other, 'manifest.json'), 'utf8'));
  await writeFile(join(other, 'manifest.json'), JSON.stringify({ ...m, codec_model: 'hic-some-other-model' }));
  let r = hic('classify', join(GOLDEN, 'flower-q50.hic'), '--classifier', other);
  assert.equal(r.status, EXIT_STATUS.E_UNKNOWN_MODEL, r.stderr);
  assert.match(r.stderr, /hic: error E_UNKNOWN_MODEL: classifier .* reads the latent of hic-some-other-model/);

  const tampered = join(dir, 'tampered');
  await cp(src, tampered, { recursive: true });
  const onnx = await readFile(join(tampered, 'classifier.onnx'));
  onnx[onnx.length >> 1]! ^= 1;
  await writeFile(join(tampered, 'classifier.onnx'), onnx);
  r = hic('classify', join(GOLDEN, 'flower-q50.hic'), '--classifier', tampered);
  assert.equal(r.status, EXIT_STATUS.E_MODEL_INTEGRITY, r.stderr);

  r = hic('classify', join(GOLDEN, 'flower-q50.hic'), '--classifier', 'hic-vit-not-installed');
  assert.equal(r.status, EXIT_STATUS.E_UNKNOWN_MODEL, r.stderr);
});

test('corrupt streams: truncated, bad magic and flipped payload bytes give stable codes, never a class', async () => {
  const good = await readFile(join(GOLDEN, 'flower-q50.hic'));
  const cases: [string, Buffer, string[]][] = [
    ['truncated', good.subarray(0, good.length - 40), ['E_TRUNCATED']],
    ['header only', good.subarray(0, 12), ['E_TRUNCATED']],
    ['bad magic', Buffer.concat([Buffer.from('XXXX'), good.subarray(4)]), ['E_BAD_MAGIC']],
    ['not a .hic', Buffer.from('hello, world'), ['E_BAD_MAGIC', 'E_TRUNCATED']],
  ];
  for (let i = 0; i < 6; i++) {
    const b = Buffer.from(good);
    b[40 + Math.floor(((i * 0.61803) % 1) * (b.length - 41))]! ^= 0x55;
    cases.push([`flipped byte ${i}`, b, ['E_CHECKSUM', 'E_CORRUPT']]);
  }
  for (const [name, bytes, codes] of cases) {
    const f = join(dir, `${name.replaceAll(' ', '-')}.hic`);
    await writeFile(f, bytes);
    const r = hic('classify', f, '--json');
    const code = /hic: error (E_[A-Z_]+)/.exec(r.stderr)?.[1] ?? `none (exit ${r.status}, stdout ${r.stdout.slice(0, 80)})`;
    assert.ok(codes.includes(code), `${name}: ${code}`);
    assert.equal(r.status, EXIT_STATUS[code as keyof typeof EXIT_STATUS]);
    assert.equal(r.stdout, '');
  }
});
