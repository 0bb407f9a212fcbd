// Decode and encode time of two model packages measured in one run, interleaved image by image
// (issue 12: "decode time of v4 against v3 as a ratio measured in one run").
//   node dist/bench/model-speed.js DIR_A DIR_B [--images N]   → bench/results/model-speed-<date>.json
// Medians over the Kodak images (quality 50, 2 threads, library calls, one warm-up each).
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { machine } from '../src/bench/machine.js';
import { median } from '../src/bench/run.js';
import { decodeImageFile } from '../src/node/image.js';
import { createCodec } from '../src/node/index.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const KODAK = process.env['HICODEC_KODAK'] ?? join(REPO, '..', 'shared', 'data', 'kodak');
const [dirA, dirB] = process.argv.slice(2, 4);
if (!dirA || !dirB) throw new Error('usage: model-speed.js DIR_A DIR_B [--images N]');
const ni = process.argv.indexOf('--images');
const n = ni > 0 ? Number(process.argv[ni + 1]) : 24;
const files = readdirSync(KODAK).filter((f) => f.endsWith('.png')).sort().slice(0, n);
const codecs = [await createCodec({ model: dirA, threads: 2 }), await createCodec({ model: dirB, threads: 2 })];
const times = codecs.map(() => ({ encode: [] as number[], decode: [] as number[], bytes: 0 }));
for (const f of files) {
  const img = await decodeImageFile(readFileSync(join(KODAK, f)));
  for (const [i, c] of codecs.entries()) {
    const { bytes } = await c.encode(img, { quality: 50 }); // warm-up
    await c.decode(bytes);
    let t = performance.now();
    await c.encode(img, { quality: 50 });
    times[i]!.encode.push(performance.now() - t);
    t = performance.now();
    await c.decode(bytes);
    times[i]!.decode.push(performance.now() - t);
    times[i]!.bytes += bytes.length;
  }
}
const res = codecs.map((c, i) => ({ model: c.modelId, encode_ms: Math.round(median(times[i]!.encode)), decode_ms: Math.round(median(times[i]!.decode)), bytes_q50: times[i]!.bytes }));
for (const c of codecs) await c.dispose();
const out = { name: `model-speed-${new Date().toISOString().slice(0, 10)}`, machine: machine(), command: `node dist/bench/model-speed.js ${basename(dirA)} ${basename(dirB)}`, images: files.length, quality: 50, threads: 2, models: res,
  decode_ratio_b_over_a: Math.round((100 * res[1]!.decode_ms) / res[0]!.decode_ms) / 100, encode_ratio_b_over_a: Math.round((100 * res[1]!.encode_ms) / res[0]!.encode_ms) / 100 };
await mkdir(join(REPO, 'bench/results'), { recursive: true });
await writeFile(join(REPO, 'bench/results', `${out.name}.json`), JSON.stringify(out, null, 1) + '\n');
const md = [`# Two models, one run ${out.name.slice(12)}`, '', `${files.length} Kodak images, quality 50, 2 threads, medians (library calls after a warm-up). Command: \`${out.command}\`.`, '',
  '| model | encode ms | decode ms | bytes (all images) |', '|---|---:|---:|---:|', ...res.map((r) => `| ${r.model} | ${r.encode_ms} | ${r.decode_ms} | ${r.bytes_q50} |`), '',
  `${res[1]!.model} against ${res[0]!.model}: decode ×${out.decode_ratio_b_over_a}, encode ×${out.encode_ratio_b_over_a}.`, ''].join('\n');
await writeFile(join(REPO, 'bench/results', `${out.name}.md`), md);
console.log(JSON.stringify(out.models), 'decode B/A', out.decode_ratio_b_over_a, 'encode B/A', out.encode_ratio_b_over_a);
