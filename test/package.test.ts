// The package as a user gets it: `npm pack`, install the tarball into an empty folder (the npm
// registry supplies the dependencies), then `npx hic encode`/`decode` and the README's library
// example from there. Also what the tarball holds and what it leaves out.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { encodeImageFile } from '../src/node/image.js';
import { REPO, syntheticImage } from './helpers.js';

function run(cmd: string, args: string[], opts: SpawnSyncOptions) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}\n${String(r.stdout).slice(-2000)}\n${String(r.stderr).slice(-4000)}`);
  return String(r.stdout);
}

test('npm pack → install into an empty folder → npx hic and the README example work there', { timeout: 600_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hic-pkg-'));
  try {
    // dist/ is built by the test command before the tests run
    const packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: REPO }))[0];
    const files: string[] = packed.files.map((f: { path: string }) => f.path);
    t.diagnostic(`tarball: ${files.length} files, ${(packed.size / 2 ** 20).toFixed(1)} MiB packed`);
    const def = (await readFile(join(REPO, 'models/DEFAULT'), 'utf8')).trim();
    for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/web.js', 'dist/src/cli/hic.js', 'models/DEFAULT', `models/${def}/manifest.json`]) {
      assert.ok(files.includes(f), `the tarball lacks ${f}`);
    }
    for (const f of files) assert.ok(!/^(test|training|bench|web|dist\/test|dist\/bench|runs|\.data)\//.test(f), `the tarball should not hold ${f}`);
    assert.ok(packed.size < 20 * 2 ** 20, `${packed.size} bytes packed`);

    const app = join(dir, 'app');
    const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL_CUDA: 'skip', npm_config_audit: 'false', npm_config_fund: 'false' };
    run('mkdir', ['-p', app], {});
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, packed.filename)], { cwd: app, env });
    await writeFile(join(app, 'photo.png'), await encodeImageFile(syntheticImage(96, 80, 2)));
    const v = run('npx', ['--no-install', 'hic', '--version'], { cwd: app, env });
    assert.match(v, /^0\.\d+\.\d+/);
    run('npx', ['--no-install', 'hic', 'encode', 'photo.png', '-o', 'photo.hic', '-q', '60'], { cwd: app, env });
    run('npx', ['--no-install', 'hic', 'decode', 'photo.hic', '-o', 'back.png'], { cwd: app, env });
    assert.ok((await stat(join(app, 'back.png'))).size > 0);
    // the README's library example, as written
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    const m = /<!-- readme-example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
    assert.ok(m, 'README has no marked example');
    await writeFile(join(app, 'example.mjs'), m[1]!);
    const out = run(process.execPath, ['example.mjs'], { cwd: app, env });
    assert.match(out, /^\d+ bytes, [\d.]+ bpp, PSNR [\d.]+ dB$/m);
    // the README's global install puts `hic` on the PATH (here into a private prefix)
    const prefix = join(dir, 'global');
    run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(dir, packed.filename)], { cwd: dir, env });
    const g = run('hic', ['--version'], { cwd: dir, env: { ...env, PATH: `${join(prefix, 'bin')}:${process.env['PATH']}` } });
    assert.match(g, /^0\.\d+\.\d+/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
