// The README's library example runs as written (with a generated photo.png in the working folder).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { encodeImageFile } from '../src/node/image.js';
import { REPO, syntheticImage } from './helpers.js';

test('README library example', async () => {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const m = /<!-- readme-example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README has no marked example');
  // Inside the package (dist/) so that `import 'hicodec'` resolves to this package itself.
  const script = join(REPO, 'dist', 'readme-example.mjs');
  await writeFile(script, m[1]!);
  const dir = await mkdtemp(join(tmpdir(), 'hic-readme-'));
  try {
    await writeFile(join(dir, 'photo.png'), await encodeImageFile(syntheticImage(96, 80, 2)));
    const r = spawnSync(process.execPath, [script], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = /^(\d+) bytes, ([\d.]+) bpp, PSNR ([\d.]+) dB$/m.exec(r.stdout);
    assert.ok(out, r.stdout);
    assert.equal(Number(out[1]), (await stat(join(dir, 'photo.hic'))).size);
    assert.ok(Number(out[3]) > 25);
    assert.ok((await stat(join(dir, 'photo.out.png'))).size > 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('README main job runs twice in a row (its outputs replaced with -f), from the repository root', { timeout: 120_000 }, async (t) => {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const m = /<!-- main-job[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README has no marked main job');
  const kodak = join(REPO, '..', 'shared', 'data', 'kodak', 'kodim23.png');
  if (!(await stat(kodak).catch(() => null))) return t.skip('no ../shared/data/kodak here');
  const dir = await mkdtemp(join(tmpdir(), 'hic-mainjob-'));
  try {
    const cmd = m[1]!.trim().replaceAll('/tmp/', `${dir}/`);
    for (const run of [1, 2]) {
      const r = spawnSync('bash', ['-c', cmd], { cwd: REPO, encoding: 'utf8' });
      assert.equal(r.status, 0, `run ${run}: ${r.stderr}`);
      assert.match(r.stderr + r.stdout, /PSNR/);
    }
    assert.ok((await stat(join(dir, 'k.png'))).size > 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
