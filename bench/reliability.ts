// Reliability in figures (issue 18), besides the decoder fuzzing of bench/fuzz.ts: every PNG of the
// PNG suite, hostile images with their peak memory, many encodes/decodes at once (one codec, and
// worker threads), kill -9 at random moments of `hic encode`/`decode`/`batch`, and node ↔ web
// symbol equality on 1,000 random crops of the training and large sets.
//   node dist/bench/reliability.js [--crops 1000] [--kills 30]   → bench/results/reliability-<date>.{json,md}
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

import { machine } from '../src/bench/machine.js';
import { CodecError } from '../src/core/errors.js';
import { encodeImageFile, readImageFile } from '../src/node/image.js';
import { createCodec } from '../src/node/index.js';
import { webRuntime } from '../src/runtime/web.js';
import { syntheticImage } from '../test/helpers.js';
import { rng } from './fuzz/core.js';
import { concurrency, crossBackend, encodeHostile, hostileImages, killDuring, randomCrops } from './reliability/checks.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = process.env['HICODEC_SHARED'] ?? join(REPO, '..', 'shared', 'data');
const CLI = join(REPO, 'dist/src/cli/hic.js');
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const CROPS = arg('crops', 1000);
const KILLS = arg('kills', 30);
const dir = mkdtempSync(join(tmpdir(), 'hic-reliability-'));
const t0 = performance.now();
const log = (s: string) => process.stderr.write(`reliability: ${s}\n`);

try {
  const codec = await createCodec({ threads: 2 });
  // 1. the PNG suite
  const suite = join(SHARED, 'pngsuite');
  const pngsuite: Record<string, number> = {};
  for (const f of readdirSync(suite).filter((n) => n.endsWith('.png')).sort()) {
    let o: string;
    try {
      const r = await readImageFile(new Uint8Array(readFileSync(join(suite, f))), f);
      const d = await codec.decode((await codec.encode(r.image, { quality: 70, metadata: r.metadata })).bytes);
      o = d.width === r.image.width && d.height === r.image.height && d.channels === r.image.channels ? 'coded' : 'WRONG SIZE';
    } catch (e) {
      o = e instanceof CodecError ? e.code : `CRASH ${(e as Error).message}`;
    }
    pngsuite[o] = (pngsuite[o] ?? 0) + 1;
  }
  log(`PNG suite ${JSON.stringify(pngsuite)}`);
  // 2. hostile images through the CLI
  const photo = join(dir, 'photo.png');
  writeFileSync(photo, await encodeImageFile(syntheticImage(512, 384, 3)));
  const hostile: Record<string, { want: string; got: string; peak_rss_mb: number; output_left: boolean }> = {};
  for (const [name, want] of Object.entries(await hostileImages(dir, photo))) {
    const r = encodeHostile(CLI, join(dir, name), join(dir, `${name}.hic`));
    hostile[name] = { want, got: r.code, peak_rss_mb: r.rssMb, output_left: r.leftOutput };
  }
  const baseline = encodeHostile(CLI, photo, join(dir, 'photo.hic'));
  log(`hostile ${JSON.stringify(hostile)}`);
  // 3. at once: one codec, 32 pictures; then worker threads against one thread
  const imgs = Array.from({ length: 32 }, (_, i) => syntheticImage(48 + ((i * 37) % 300), 40 + ((i * 53) % 200), i + 1));
  const conc = await concurrency(codec, imgs);
  const workers = await createCodec({ threads: 1, workers: 2 });
  let workerDiffs = 0;
  for (const img of imgs.slice(0, 8)) {
    const a = await codec.encode(img, { quality: 45, tileSize: 128 });
    const b = await workers.encode(img, { quality: 45, tileSize: 128 });
    if (!Buffer.from(a.bytes).equals(Buffer.from(b.bytes))) workerDiffs++;
  }
  await workers.dispose();
  log(`concurrency ${JSON.stringify(conc)}, workers differences ${workerDiffs}`);
  // 4. kill -9 at random moments
  const big = join(dir, 'big.png');
  writeFileSync(big, await encodeImageFile(syntheticImage(1600, 1200, 7)));
  const ref = join(dir, 'ref.hic');
  spawnSync(process.execPath, [CLI, 'encode', big, '-o', ref, '-q', '40']);
  const refPng = join(dir, 'ref.png');
  spawnSync(process.execPath, [CLI, 'decode', ref, '-o', refPng]);
  const r = rng(99);
  const kills: Record<string, Record<string, number>> = { encode: {}, decode: {}, batch: {} };
  const batchIn = join(dir, 'bin');
  mkdirSync(batchIn);
  for (let i = 0; i < 6; i++) writeFileSync(join(batchIn, `b${i}.png`), await encodeImageFile(syntheticImage(700, 500, 30 + i)));
  const batchRef = join(dir, 'bref');
  spawnSync(process.execPath, [CLI, 'batch', batchIn, batchRef, '-q', '40', '--jobs', '2']);
  for (let i = 0; i < KILLS; i++) {
    const delay = Math.floor(r() * 6000);
    const e = await killDuring(CLI, ['encode', big, '-o', join(dir, `e${i}.hic`), '-q', '40'], join(dir, `e${i}.hic`), big, readFileSync(ref), delay);
    const d = await killDuring(CLI, ['decode', ref, '-o', join(dir, `d${i}.png`)], join(dir, `d${i}.png`), ref, readFileSync(refPng), delay);
    kills.encode![e] = (kills.encode![e] ?? 0) + 1;
    kills.decode![d] = (kills.decode![d] ?? 0) + 1;
    // a batch killed, then run again to completion: every output whole and equal to the reference
    const out = join(dir, `bo${i}`);
    const child = spawn(process.execPath, [CLI, 'batch', batchIn, out, '-q', '40', '--jobs', '2'], { stdio: 'ignore' });
    await new Promise((res) => setTimeout(res, delay));
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    const partial = existsSync(out) ? readdirSync(out).filter((f) => f.endsWith('.hic') && !readFileSync(join(out, f)).equals(readFileSync(join(batchRef, f)))).length : 0;
    spawnSync(process.execPath, [CLI, 'batch', batchIn, out, '-q', '40', '--jobs', '2']);
    const whole = readdirSync(batchRef).every((f) => existsSync(join(out, f)) && readFileSync(join(out, f)).equals(readFileSync(join(batchRef, f))));
    const leftovers = readdirSync(out).filter((f) => f.endsWith('.tmp')).length;
    const k = partial ? 'PARTIAL' : !whole ? 'INCOMPLETE AFTER RERUN' : leftovers ? 'TEMP LEFT' : 'whole after rerun';
    kills.batch![k] = (kills.batch![k] ?? 0) + 1;
  }
  log(`kills ${JSON.stringify(kills)}`);
  // 5. node ↔ web on random crops of the training and large sets
  const webCodec = await createCodec({ runtime: await webRuntime({ threads: 2 }) });
  const crops = await randomCrops([join(SHARED, 'train-src', 'cid22'), join(SHARED, 'large')], CROPS, 2026);
  const cross = await crossBackend(codec, webCodec, crops);
  await webCodec.dispose();
  await codec.dispose();
  log(`cross-backend ${JSON.stringify(cross)}`);

  const result = {
    name: `reliability-${new Date().toISOString().slice(0, 10)}`, machine: machine(), command: `node dist/bench/reliability.js --crops ${CROPS} --kills ${KILLS}`,
    seconds: Math.round((performance.now() - t0) / 1000), pngsuite, hostile, cli_encode_baseline_peak_rss_mb: baseline.rssMb,
    concurrency: { ...conc, worker_thread_encodes: 8, worker_thread_differences: workerDiffs }, kills, cross_backend: cross,
  };
  mkdirSync(join(REPO, 'bench/results'), { recursive: true });
  const base = join(REPO, 'bench/results', result.name);
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 1) + '\n');
  const md = [`# Reliability ${result.name.slice(12)}`, '', `Command: \`${result.command}\` (${result.seconds} s).`, '',
    `- PNG suite (${Object.values(pngsuite).reduce((a, b) => a + b, 0)} files): ${Object.entries(pngsuite).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `- Hostile images (\`hic encode\`; a plain 512×384 encode peaks at ${baseline.rssMb} MB):`,
    ...Object.entries(hostile).map(([k, v]) => `  - ${k}: ${v.got}${v.got === v.want ? '' : ` (expected ${v.want})`}, peak RSS ${v.peak_rss_mb} MB${v.output_left ? ', OUTPUT LEFT' : ''}`),
    `- At once: ${conc.encodes} encodes and ${conc.decodes} decodes on one codec, ${conc.differences} differences from one by one; 8 encodes on 2 worker threads: ${workerDiffs} differences`,
    `- kill -9 at random moments (${KILLS} each): encode ${JSON.stringify(kills.encode)}, decode ${JSON.stringify(kills.decode)}, batch ${JSON.stringify(kills.batch)}`,
    `- node ↔ web symbols on ${cross.encodes} random crops (1–320 px, random quality): ${cross.differences} differences`, ''].join('\n');
  writeFileSync(`${base}.md`, md);
  process.stdout.write(md);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
