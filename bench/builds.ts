// Two builds of the code with the same model, measured in one run (a before/after of a code change
// that must not change the bytes): this build against another checkout's compiled dist/ (e.g. a
// git worktree of an earlier commit, built with `npx tsc -p . && node scripts/postbuild.mjs`),
// interleaved image by image on Kodak. The streams of the two builds are checked to be identical.
//   node dist/bench/builds.js --baseline DIR [--model ID|DIR] [--images 24] [--reps 2] [--quality 50] [--name NAME]
//     → bench/results/<NAME, default builds-<date>>.{json,md}
// DIR: the other checkout's root (its dist/src/node/index.js is loaded).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { machine } from '../src/bench/machine.js';
import { argValue, median } from '../src/bench/run.js';
import { decodeImageFile } from '../src/node/image.js';
import * as current from '../src/node/index.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const KODAK = process.env['HICODEC_KODAK'] ?? join(REPO, '..', 'shared', 'data', 'kodak');
const opt = argValue;
const BASE = opt('--baseline');
if (!BASE) throw new Error('usage: builds.js --baseline DIR [--model ID|DIR] [--images N] [--reps N] [--quality Q] [--name NAME]');
const MODEL = opt('--model');
const N = Number(opt('--images') ?? 24);
const REPS = Number(opt('--reps') ?? 2);
const QUALITY = Number(opt('--quality') ?? 50);
const commit = (dir: string) => {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
};

const baseline = (await import(pathToFileURL(join(resolve(BASE), 'dist/src/node/index.js')).href)) as typeof current;
const builds = [{ name: `baseline ${commit(BASE)}`, lib: baseline }, { name: `this build ${commit(REPO)}`, lib: current }];
const codecs = await Promise.all(builds.map((b) => b.lib.createCodec({ threads: 2, ...(MODEL ? { model: MODEL } : {}) })));
const times = builds.map(() => ({ encode: [] as number[], decode: [] as number[] }));
const files = readdirSync(KODAK).filter((f) => f.endsWith('.png')).sort().slice(0, N);
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
for (const f of files) {
  const img = await decodeImageFile(readFileSync(join(KODAK, f)));
  const streams: Uint8Array[] = [];
  for (const c of codecs) {
    const { bytes } = await c.encode(img, { quality: QUALITY }); // warm-up, and the stream to decode
    await c.decode(bytes);
    streams.push(bytes);
  }
  if (!same(streams[0]!, streams[1]!)) throw new Error(`${f}: the two builds wrote different streams`);
  for (let r = 0; r < REPS; r++) {
    for (const [i, c] of codecs.entries()) {
      let t = performance.now();
      await c.encode(img, { quality: QUALITY });
      times[i]!.encode.push(performance.now() - t);
      t = performance.now();
      await c.decode(streams[i]!);
      times[i]!.decode.push(performance.now() - t);
    }
  }
  process.stderr.write(`builds: ${f}\n`);
}
for (const c of codecs) await c.dispose();

const rows = builds.map((b, i) => ({ build: b.name, encode_ms: +median(times[i]!.encode).toFixed(1), decode_ms: +median(times[i]!.decode).toFixed(1) }));
const ratio = (k: 'encode_ms' | 'decode_ms') => +(rows[1]![k] / rows[0]![k]).toFixed(3);
const name = opt('--name') ?? `builds-${new Date().toISOString().slice(0, 10)}`;
const command = `node dist/bench/builds.js --baseline <checkout of ${commit(BASE)}>${MODEL ? ` --model ${MODEL}` : ''} --images ${N} --reps ${REPS} --quality ${QUALITY}`;
const out = { name, machine: machine(), model: codecs[1]!.modelId, command, images: files.length, reps: REPS, quality: QUALITY, threads: 2, identical_streams: true, rows,
  encode_ratio: ratio('encode_ms'), decode_ratio: ratio('decode_ms') };
await mkdir(join(REPO, 'bench/results'), { recursive: true });
await writeFile(join(REPO, 'bench/results', `${name}.json`), JSON.stringify(out, null, 1) + '\n');
const md = [`# Two builds, one run (${name})`, '', `Model ${out.model}, ${files.length} Kodak images, quality ${QUALITY}, 2 threads, medians of ${REPS} per image after a warm-up, interleaved image by image; both builds wrote identical streams. Command: \`${command}\`.`, '',
  '| build | encode ms | decode ms |', '|---|---:|---:|', ...rows.map((r) => `| ${r.build} | ${r.encode_ms} | ${r.decode_ms} |`), '',
  `This build against the baseline: encode ×${out.encode_ratio}, decode ×${out.decode_ratio}.`, ''].join('\n');
await writeFile(join(REPO, 'bench/results', `${name}.md`), md);
console.log(JSON.stringify(rows), 'encode ×', out.encode_ratio, 'decode ×', out.decode_ratio);
