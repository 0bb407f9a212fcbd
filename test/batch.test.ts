// Many photos: `hic batch` on worker threads (mirrored tree, failures with their codes, resumable,
// the library's event stream), and on a real Redis queue with two worker processes, one killed
// with SIGKILL mid-job: nothing is lost, nothing partial is left, the bytes equal local mode.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';

import { inspectContainer } from '../src/bitstream/container.js';
import { sizeText } from '../src/cli/batch.js';
import { globToRegExp, planBatch, runBatch, summarize, type BatchEvent } from '../src/node/batch.js';
import { encodeImageFile } from '../src/node/image.js';
import { probeQueue } from '../src/node/queue.js';
import type { CodecError } from '../src/core/errors.js';
import { REPO, syntheticImage } from './helpers.js';

const HIC = join(REPO, 'dist/src/cli/hic.js');
let dir = '';

async function files(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(relative(root, join(e.parentPath, e.name)));
  return out.sort();
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hic-batch-'));
  const src = join(dir, 'in');
  await mkdir(join(src, 'a', 'b'), { recursive: true });
  for (const [name, w, h] of [['one.png', 200, 150], ['a/two.png', 180, 120], ['a/b/three.png', 256, 192], ['a/b/four.jpg', 160, 160]] as const) {
    await writeFile(join(src, name), await encodeImageFile(syntheticImage(w, h, name.length), name.endsWith('.jpg') ? 'jpeg' : 'png'));
  }
  await writeFile(join(src, 'a', 'broken.png'), 'not a png at all');
  await writeFile(join(src, 'notes.txt'), 'ignored: not an image');
});
after(() => rm(dir, { recursive: true, force: true }));

function hic(args: string[]) {
  const r = spawnSync(process.execPath, [HIC, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('globs', () => {
  const re = globToRegExp('**/*.{png,jpg}');
  assert.deepEqual(['a.png', 'x/y/b.JPG', 'c.webp', 'png'].map((p) => re.test(p)), [true, true, false, false]);
  assert.equal(globToRegExp('a/*.png').test('a/b/c.png'), false);
});

test('hic batch: mirrored tree, a bad file reported with its code, a second run skips everything', async () => {
  const out = join(dir, 'local');
  let r = hic(['batch', join(dir, 'in'), out, '-q', '60', '--jobs', '2', '--json']);
  assert.equal(r.status, 16, r.stderr); // E_BATCH_INCOMPLETE: the broken file
  let s = JSON.parse(r.stdout);
  assert.deepEqual([s.files, s.done, s.skipped], [5, 4, 0]);
  assert.deepEqual(s.failed.map((f: { code: string; input: string }) => [f.code, relative(join(dir, 'in'), f.input)]), [['E_UNSUPPORTED_IMAGE', 'a/broken.png']]);
  assert.deepEqual(await files(out), ['a/b/four.hic', 'a/b/three.hic', 'a/two.hic', 'one.hic']);
  for (const f of await files(out)) assert.equal(inspectContainer(new Uint8Array(await readFile(join(out, f)))).quality, 60);
  r = hic(['batch', join(dir, 'in'), out, '-q', '60', '--json']);
  s = JSON.parse(r.stdout);
  assert.deepEqual([s.done, s.skipped, s.failed.length], [0, 4, 1]);
  // and back: decode the outputs into PNGs; the summary in KiB, not "0.0 MiB"
  const back = join(dir, 'back');
  r = hic(['batch', out, back, '--decode']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /hic batch: 4 files: 4 coded, 0 skipped \(output exists\), 0 failed; \d+\.\d KiB in, \d+\.\d KiB out, /);
  assert.deepEqual(await files(back), ['a/b/four.png', 'a/b/three.png', 'a/two.png', 'one.png']);
});

test('batch summary sizes: bytes, KiB, MiB, GiB', () => {
  assert.deepEqual([0, 1, 1023, 1024, 5000, 2 ** 20, 3.5 * 2 ** 20, 1.5 * 2 ** 30].map(sizeText),
    ['0 bytes', '1 byte', '1023 bytes', '1.0 KiB', '4.9 KiB', '1.0 MiB', '3.5 MiB', '1.50 GiB']);
});

test('the library streams one event per file', async () => {
  const items = await planBatch(join(dir, 'in'), join(dir, 'lib'), { glob: '**/*.png', quality: 30 });
  assert.equal(items.length, 4); // three PNGs and the broken one; the JPEG is not matched
  const events: BatchEvent[] = [];
  for await (const e of runBatch(items, { quality: 30, jobs: 2 })) events.push(e);
  const s = summarize(events, 1);
  assert.deepEqual([s.files, s.done, s.failed.length], [4, 3, 1]);
  assert.equal(events[0]!.type, 'start');
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function waitFor(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} in: ${buf}`)), timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (re.test(buf)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
}

test('a real Redis queue: two workers, one killed mid-job; the same bytes as local mode, nothing partial', { timeout: 300_000 }, async () => {
  assert.ok(spawnSync('redis-server', ['--version']).status === 0, 'redis-server is needed (apt-get install redis-server; .ci/run installs it)');
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const workers: ChildProcess[] = [];
  try {
    await new Promise((r) => setTimeout(r, 500));
    // bigger images so that a job takes long enough to be killed in the middle
    const src = join(dir, 'qin');
    await mkdir(src, { recursive: true });
    for (let i = 0; i < 4; i++) await writeFile(join(src, `p${i}.png`), await encodeImageFile(syntheticImage(1024, 768, 40 + i), 'png'));
    await writeFile(join(src, 'bad.png'), 'broken');
    const out = join(dir, 'qout');
    const start = () => {
      const w = spawn(process.execPath, [HIC, 'worker', '--queue', url, '--lock-ms', '2000', '--threads', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
      workers.push(w);
      return w;
    };
    const first = start();
    await waitFor(first, /waiting for jobs/, 60_000);
    const r = spawnSync(process.execPath, [HIC, 'batch', src, out, '-q', '50', '--queue', url, '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).enqueued, 5);
    // kill the first worker while it codes a job (its lock then runs out: the job is stalled)
    await new Promise((res) => setTimeout(res, 1500));
    first.kill('SIGKILL');
    const second = start();
    await waitFor(second, /waiting for jobs/, 60_000);
    // wait for every job: the summary comes from the queue
    const w = spawnSync(process.execPath, [HIC, 'batch', src, out, '-q', '50', '--queue', url, '--wait', '--json'], { encoding: 'utf8', timeout: 240_000 });
    const s = JSON.parse(w.stdout);
    assert.equal(w.status, 16, w.stderr);
    assert.deepEqual([s.files, s.done + s.skipped, s.failed.length, s.failed[0]?.code], [5, 4, 1, 'E_UNSUPPORTED_IMAGE']);
    // every output whole; no temporary files; the same bytes as the thread pool makes
    assert.deepEqual(await files(out), ['p0.hic', 'p1.hic', 'p2.hic', 'p3.hic']);
    const local = join(dir, 'qlocal');
    assert.equal(hic(['batch', src, local, '-q', '50', '--glob', 'p*.png']).status, 0);
    for (const f of await files(out)) assert.ok((await readFile(join(out, f))).equals(await readFile(join(local, f))), `${f} differs from local mode`);
    const q = spawnSync(process.execPath, [HIC, 'queue', '--queue', url, '--json'], { encoding: 'utf8' });
    const st = JSON.parse(q.stdout);
    assert.equal(st.counts.failed, 1);
    assert.match(st.failed[0].reason, /^E_UNSUPPORTED_IMAGE/);
    assert.ok(!existsSync(join(out, 'bad.hic')));
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    redis.kill('SIGKILL');
  }
});

test('a queue whose Redis cannot be reached fails within 5 s with E_QUEUE_UNREACHABLE (queue, batch, worker), and queues nothing', { timeout: 120_000 }, async () => {
  const port = await freePort(); // nothing listens there
  const url = `redis://127.0.0.1:${port}`;
  // the library's check, timed without the CLI's start-up
  const t0 = performance.now();
  await assert.rejects(probeQueue(url), (e: CodecError) => e.code === 'E_QUEUE_UNREACHABLE' && /ECONNREFUSED/.test(e.message));
  assert.ok(performance.now() - t0 < 5000, `probe took ${(performance.now() - t0).toFixed(0)} ms`);
  const out = join(dir, 'unreachable-out');
  for (const args of [['queue', '--queue', url], ['batch', join(dir, 'in'), out, '--queue', url], ['worker', '--queue', url]]) {
    const r = spawnSync(process.execPath, [HIC, ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 17, `${args[0]}: status ${r.status}: ${r.stderr.slice(0, 400)}`);
    assert.match(r.stderr, /^hic: error E_QUEUE_UNREACHABLE: cannot reach the queue's Redis server at redis:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  assert.ok(!existsSync(out));
});
