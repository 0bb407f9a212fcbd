// Reliability, short versions of bench/reliability.ts: hostile images get stable codes with memory
// bounded before decoding; encodes and decodes at once give the bytes they give one by one; kill -9
// during a CLI write leaves the final name absent or whole and the input intact; node and web
// parse random crops to identical symbols.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { concurrency, crossBackend, encodeHostile, hostileImages, killDuring, randomCrops, temps } from '../bench/reliability/checks.js';
import { encodeImageFile } from '../src/node/image.js';
import { disposeAll, hasKodak, KODAK, KODIM23, node, REPO, syntheticImage, web } from './helpers.js';

const CLI = join(REPO, 'dist/src/cli/hic.js');
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hic-rel-'));
});
after(async () => {
  await disposeAll();
  await rm(dir, { recursive: true, force: true });
});

test('hostile images: bombs refused before allocation, truncated and non-images with stable codes, nothing written', async (t) => {
  const photo = join(dir, 'photo.png');
  await import('node:fs/promises').then((f) => encodeImageFile(syntheticImage(256, 192, 3)).then((b) => f.writeFile(photo, b)));
  const cases = await hostileImages(dir, photo);
  for (const [name, want] of Object.entries(cases)) {
    const r = encodeHostile(CLI, join(dir, name), join(dir, `${name}.hic`));
    t.diagnostic(`${name}: ${r.code}, peak RSS ${r.rssMb} MB`);
    assert.equal(r.code, want, name);
    assert.equal(r.leftOutput, false, `${name}: an output was left`);
    assert.ok(r.rssMb < 600, `${name}: peak RSS ${r.rssMb} MB`);
  }
});

test('encodes and decodes at once give the bytes they give one by one', async () => {
  const imgs = [1, 2, 3, 4, 5, 6].map((s) => syntheticImage(64 + 37 * s, 48 + 21 * s, s));
  const r = await concurrency(await node(), imgs);
  assert.equal(r.differences, 0);
});

test('kill -9 during hic encode -o and hic decode -o: the output is absent or whole, the input intact', { timeout: 300_000 }, async (t) => {
  const src = join(dir, 'big.png');
  await import('node:fs/promises').then(async (f) => f.writeFile(src, await encodeImageFile(syntheticImage(1200, 900, 9))));
  const ref = join(dir, 'ref.hic');
  const { spawnSync } = await import('node:child_process');
  const timed = (args: string[]) => {
    const t0 = performance.now();
    assert.equal(spawnSync(process.execPath, [CLI, ...args]).status, 0);
    return performance.now() - t0;
  };
  const encMs = timed(['encode', src, '-o', ref, '-q', '40']);
  const refPng = join(dir, 'ref.png');
  const decMs = timed(['decode', ref, '-o', refPng]);
  const outcomes: Record<string, number> = {};
  for (let i = 0; i < 8; i++) {
    // kills spread over this machine's whole run, from start-up to past the final rename
    const at = (ms: number) => Math.round(ms * (0.1 + i * 0.15));
    const enc = await killDuring(CLI, ['encode', src, '-o', join(dir, `e${i}.hic`), '-q', '40'], join(dir, `e${i}.hic`), src, await readFile(ref), at(encMs));
    const dec = await killDuring(CLI, ['decode', ref, '-o', join(dir, `d${i}.png`)], join(dir, `d${i}.png`), ref, await readFile(refPng), at(decMs));
    for (const o of [enc, dec]) outcomes[o] = (outcomes[o] ?? 0) + 1;
  }
  t.diagnostic(`encode ${Math.round(encMs)} ms, decode ${Math.round(decMs)} ms; outcomes ${JSON.stringify(outcomes)}`);
  assert.deepEqual(Object.keys(outcomes).filter((k) => k !== 'absent' && k !== 'whole'), [], JSON.stringify(outcomes));
  // a later write into the same folder removes what the killed processes left
  assert.equal(spawnSync(process.execPath, [CLI, 'encode', src, '-o', join(dir, 'e0.hic'), '-q', '40', '-f']).status, 0);
  assert.deepEqual(temps(dir).filter((f) => f.startsWith('.e0.hic.')), []);
});

test('node and web parse 24 random crops to identical symbols', { timeout: 300_000 }, async () => {
  const crops = await randomCrops(hasKodak ? [KODAK] : [], hasKodak ? 24 : 0, 7);
  if (!hasKodak) crops.push(...[1, 2, 3].map((s) => ({ img: syntheticImage(40 * s, 30 * s, s), quality: 30 * s })));
  const r = await crossBackend(await node(), await web(), crops);
  assert.equal(r.differences, 0);
  void KODIM23;
});
