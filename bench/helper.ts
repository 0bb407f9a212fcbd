// The helper thread for the float half of parsing (engine.ts MeanSide, node/workers.ts), measured
// in one run: the same codec with it and without, interleaved image by image, on Kodak: encode,
// and decode at full size and at 1/2, 1/4, 1/8. Bytes and pixels are checked to be identical.
//   node dist/bench/helper.js [--images 24] [--reps 2] [--baseline-model DIR] [--name NAME]
//     → bench/results/<NAME, default helper-<date>>.{json,md}
// --baseline-model: the one-thread arm runs that package instead (a before/after of a package's
// graphs and the helper together); pixels are then compared as PSNR, not for identity.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { machine } from '../src/bench/machine.js';
import { argValue, median } from '../src/bench/run.js';
import type { Scale } from '../src/codec/scale.js';
import { decodeImageFile } from '../src/node/image.js';
import { createCodec } from '../src/node/index.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const KODAK = process.env['HICODEC_KODAK'] ?? join(REPO, '..', 'shared', 'data', 'kodak');
const arg = (name: string, d: number) => {
  const v = argValue(name);
  return v !== undefined ? Number(v) : d;
};
const N = arg('--images', 24);
const opt = argValue;
const BASELINE = opt('--baseline-model');
const REPS = arg('--reps', 2);
const QUALITY = 75;
const THREADS = 2;
const SCALES: Scale[] = [1, 2, 4, 8];

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
const files = readdirSync(KODAK).filter((f) => f.endsWith('.png')).sort().slice(0, N);
const arms = [{ name: 'one thread', helper: false, model: BASELINE }, { name: 'helper', helper: true, model: undefined }] as const;
const codecs = await Promise.all(arms.map((a) => createCodec({ threads: THREADS, helper: a.helper, ...(a.model ? { model: a.model } : {}) })));
const keys = ['encode', ...SCALES.map((s) => `decode 1/${s}`)];
const t = arms.map(() => Object.fromEntries(keys.map((k) => [k, [] as number[]])));
let identical = true;
let maxPixelDiff = 0;
for (const [n, f] of files.entries()) {
  const img = await decodeImageFile(readFileSync(join(KODAK, f)));
  const streams: Uint8Array[] = [];
  for (const c of codecs) streams.push((await c.encode(img, { quality: QUALITY })).bytes); // warm-up, and the bytes
  if (BASELINE) {
    // different graphs: each arm decodes its own stream; the decodes must agree to float rounding
    for (const s of SCALES) {
      const [x, y] = await Promise.all(codecs.map((c, i) => c.decode(streams[i]!, { scale: s })));
      const d = x!.data.reduce((m, v, j) => Math.max(m, Math.abs(v - y!.data[j]!)), 0);
      maxPixelDiff = Math.max(maxPixelDiff, d);
    }
  } else {
    identical &&= same(streams[0]!, streams[1]!);
    for (const s of SCALES) {
      const px = await Promise.all(codecs.map((c) => c.decode(streams[0]!, { scale: s })));
      identical &&= same(px[0]!.data, px[1]!.data);
    }
  }
  for (let r = 0; r < REPS; r++) {
    for (const [i, c] of codecs.entries()) {
      let t0 = performance.now();
      await c.encode(img, { quality: QUALITY });
      t[i]!['encode']!.push(performance.now() - t0);
      for (const s of SCALES) {
        t0 = performance.now();
        await c.decode(streams[BASELINE ? i : 0]!, { scale: s });
        t[i]![`decode 1/${s}`]!.push(performance.now() - t0);
      }
    }
  }
  process.stderr.write(`\r${n + 1}/${files.length}`);
}
process.stderr.write('\n');
const model = codecs[1]!.modelId;
const baselineId = codecs[0]!.modelId;
for (const c of codecs) await c.dispose();
const rows = keys.map((k) => {
  const [a, b] = [median(t[0]![k]!), median(t[1]![k]!)];
  return { what: k, one_thread_ms: +a.toFixed(1), helper_ms: +b.toFixed(1), ratio: +(b / a).toFixed(3) };
});
const full = rows.find((r) => r.what === 'decode 1/1')!;
const shares = rows.filter((r) => r.what.startsWith('decode 1/') && r.what !== 'decode 1/1')
  .map((r) => ({ what: r.what, one_thread_share: +(r.one_thread_ms / full.one_thread_ms).toFixed(3), helper_share: +(r.helper_ms / full.helper_ms).toFixed(3) }));
const out = {
  name: opt('--name') ?? `helper-${new Date().toISOString().slice(0, 10)}`, machine: machine(),
  command: `node dist/bench/helper.js --images ${N} --reps ${REPS}${BASELINE ? ` --baseline-model ${BASELINE}` : ''}`,
  model, ...(BASELINE ? { baseline_model: `${baselineId} (${BASELINE})`, max_pixel_diff: maxPixelDiff } : { identical }), images: files.length, reps: REPS, quality: QUALITY, threads: THREADS, rows, shares_of_full_decode: shares,
};
await mkdir(join(REPO, 'bench/results'), { recursive: true });
await writeFile(join(REPO, 'bench/results', `${out.name}.json`), JSON.stringify(out, null, 1) + '\n');
const md = [`# ${BASELINE ? 'Before and after' : 'Parsing with the helper thread'}, one run ${new Date().toISOString().slice(0, 10)}`, '',
  `Model ${model}${BASELINE ? ` with the helper; the one-thread arm runs ${baselineId} (${BASELINE})` : ''}, ${files.length} Kodak images × ${REPS}, quality ${QUALITY}, ${THREADS} threads, medians (library calls after a warm-up, interleaved image by image); ` +
  `${String(machine()['cpu'])}. ${BASELINE ? `Largest pixel difference between the arms' decodes: ${maxPixelDiff}` : `Bytes and pixels identical: ${identical}`}. Command: \`${out.command}\`.`, '',
  `| call | one thread${BASELINE ? ', baseline' : ''} ms | helper ms | helper / one thread |`, '|---|---:|---:|---:|',
  ...rows.map((r) => `| ${r.what} | ${r.one_thread_ms} | ${r.helper_ms} | ${r.ratio} |`), '',
  'Reduced-size decodes as a share of the full decode in the same arm:', '',
  '| scale | one thread | helper |', '|---|---:|---:|',
  ...shares.map((s) => `| ${s.what.slice(7)} | ${(100 * s.one_thread_share).toFixed(1)}% | ${(100 * s.helper_share).toFixed(1)}% |`), ''].join('\n');
await writeFile(join(REPO, 'bench/results', `${out.name}.md`), md);
console.log(md);
if (!identical || maxPixelDiff > 2) process.exitCode = 1;
