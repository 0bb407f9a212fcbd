// Shrink-on-load benchmark: decoding at 1/2, 1/4 and 1/8 of the size against a full decode, on
// Kodak and the large photos, and a 24 MP picture at 1/8 through the CLI (time and peak memory).
//   node dist/bench/scale.js [--quick] [--model ID|DIR]
// Per image (quality 75, one stream): the median of 3 interleaved decodes at each scale; time as a
// ratio to the full decode of the same run; PSNR of the reduced picture against the original
// area-downscaled by s, next to the PSNR of (full decode, then the same downscale).
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { runCli } from './cli-run.js';
import { machine } from '../src/bench/machine.js';
import { freshResultPath } from '../src/bench/run.js';
import { panels } from '../src/bench/plot.js';
import type { Codec, DecodedPicture } from '../src/codec/codec.js';
import { downscale, type Scale } from '../src/codec/scale.js';
import { psnr } from '../src/metrics/psnr.js';
import { decodeImageFile } from '../src/node/image.js';
import { createCodec } from '../src/node/index.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = process.env['HICODEC_SHARED'] ?? join(REPO, '..', 'shared', 'data');
const quick = process.argv.includes('--quick');
const mi = process.argv.indexOf('--model');
const MODEL = mi > 0 ? process.argv[mi + 1] : undefined;
const QUALITY = 75;
const SCALES = [2, 4, 8] as const;
const LARGE_PHOTOS = ['100f17892cf7bb12beb12479641fcc4c.png', '28d24b9c83de066597ff96a68769884f.png', '8bb119b8ca17492392e1e3ea4b811b32.png', '9466a908d088d32ee73f04116c40e48c.png'];
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const shrink = (p: { width: number; height: number; data: Uint8Array }, s: Scale) => downscale(p.data, p.width, p.height, 3, s);

async function timed(codec: Codec, bytes: Uint8Array, s: Scale): Promise<{ ms: number; out: DecodedPicture }> {
  const t0 = performance.now();
  const out = await codec.decode(bytes, { scale: s });
  return { ms: performance.now() - t0, out };
}

async function measure(codec: Codec, set: string, files: string[]) {
  const rows = [];
  for (const f of files) {
    const img = await decodeImageFile(await readFile(f));
    const { bytes } = await codec.encode(img, { quality: QUALITY });
    for (const s of [1, ...SCALES] as const) await codec.decode(bytes, { scale: s }); // sessions warm
    const ms: Record<number, number[]> = { 1: [], 2: [], 4: [], 8: [] };
    const outs: Record<number, DecodedPicture> = {};
    for (let r = 0; r < 3; r++) {
      for (const s of [1, ...SCALES] as const) {
        const t = await timed(codec, bytes, s);
        ms[s]!.push(t.ms);
        outs[s] = t.out;
      }
    }
    const row: Record<string, number | string> = { image: f.split('/').pop()!, width: img.width, height: img.height, bytes: bytes.length, full_ms: median(ms[1]!) };
    for (const s of SCALES) {
      const ref = shrink(img, s);
      row[`s${s}_ms`] = median(ms[s]!);
      row[`s${s}_time_ratio`] = median(ms[s]!) / median(ms[1]!);
      row[`s${s}_psnr`] = psnr(ref, outs[s]!);
      row[`s${s}_full_then_downscale_psnr`] = psnr(ref, shrink(outs[1]!, s));
    }
    rows.push(row);
    process.stderr.write(`${set} ${row['image']}: ${SCALES.map((s) => `1/${s} ×${(row[`s${s}_time_ratio`] as number).toFixed(3)} ${(row[`s${s}_psnr`] as number).toFixed(2)}/${(row[`s${s}_full_then_downscale_psnr`] as number).toFixed(2)} dB`).join('  ')}\n`);
  }
  const agg: Record<string, number> = {};
  for (const s of SCALES) {
    agg[`s${s}_time_ratio_mean`] = mean(rows.map((r) => r[`s${s}_time_ratio`] as number));
    agg[`s${s}_psnr_mean`] = mean(rows.map((r) => r[`s${s}_psnr`] as number));
    agg[`s${s}_full_then_downscale_psnr_mean`] = mean(rows.map((r) => r[`s${s}_full_then_downscale_psnr`] as number));
  }
  return { set, images: rows.length, aggregate: agg, per_image: rows };
}

/** A 24 MP (6000×4000) picture from a large photo: encode once, then decode in full and at 1/8. */
async function big(dir: string) {
  const src = join(SHARED, 'large', LARGE_PHOTOS[0]!);
  const png = join(dir, '24mp.png');
  await sharp(src, { limitInputPixels: false }).resize(6000, 4000, { fit: 'fill', kernel: 'lanczos3' }).png({ compressionLevel: 1 }).toFile(png);
  const hic = join(dir, '24mp.hic');
  const model = MODEL ? ['--model', MODEL] : [];
  runCli(['encode', png, '-o', hic, '-q', String(QUALITY), ...model]);
  const dec = (s: Scale | 1) => runCli(['decode', hic, '-o', join(dir, `d${s}.png`), '-f', ...(s > 1 ? ['--scale', `1/${s}`] : []), ...model]);
  const s8 = dec(8);
  const s4 = dec(4);
  const s1 = dec(1);
  return { width: 6000, height: 4000, bytes: statSync(hic).size, s1, s4, s8, s8_time_ratio: s8.ms / s1.ms, s4_time_ratio: s4.ms / s1.ms };
}

const date = new Date().toISOString().slice(0, 10);
const dir = mkdtempSync(join(tmpdir(), 'hic-scale-'));
try {
  const codec = await createCodec({ threads: 2, ...(MODEL ? { model: MODEL } : {}) });
  const heads = Object.fromEntries(SCALES.map((s) => [`1/${s}`, codec.hasPreview(s) ? 'preview head' : 'full decode + downscale']));
  const sets = [];
  const kodak = join(SHARED, 'kodak');
  if (existsSync(kodak)) {
    const files = readdirSync(kodak).filter((f) => f.endsWith('.png')).sort().map((f) => join(kodak, f));
    sets.push(await measure(codec, 'kodak', quick ? files.slice(0, 2) : files));
  }
  const large = LARGE_PHOTOS.map((f) => join(SHARED, 'large', f)).filter(existsSync);
  if (large.length) sets.push(await measure(codec, 'large', quick ? large.slice(0, 1) : large));
  await codec.dispose();
  const mp24 = quick ? null : await big(dir);
  const out = freshResultPath(join(REPO, 'bench/results', `scale-${date}${quick ? '-quick' : ''}`));
  const result = {
    name: out.split('/').pop()!, machine: machine(), model: codec.modelId, quality: QUALITY, methods: heads,
    command: `node dist/bench/scale.js${quick ? ' --quick' : ''}${MODEL ? ` --model ${MODEL}` : ''}`,
    note: 'time: median of 3 interleaved decodes per scale (library, 2 threads, sessions warm) as a ratio to the full decode of the same stream; ' +
      'PSNR against the original area-downscaled by s (sides rounded up), next to the full decode downscaled the same way; 24 MP: CLI processes with PNG output, peak RSS (hic-rss)',
    sets, mp24,
  };
  await mkdir(join(REPO, 'bench/results'), { recursive: true });
  await writeFile(`${out}.json`, JSON.stringify(result, null, 1) + '\n');
  const svg = panels([
    { title: 'decode time at 1/s vs full decode', xLabel: 'scale divisor s', yLabel: 'time ratio', series: sets.map((st) => ({ label: st.set, pts: SCALES.map((s) => [s, st.aggregate[`s${s}_time_ratio_mean`]!] as const) })) },
    { title: 'PSNR vs the downscaled original', xLabel: 'scale divisor s', yLabel: 'dB', series: sets.flatMap((st) => [
      { label: `${st.set}: preview`, pts: SCALES.map((s) => [s, st.aggregate[`s${s}_psnr_mean`]!] as const) },
      { label: `${st.set}: full then downscale`, pts: SCALES.map((s) => [s, st.aggregate[`s${s}_full_then_downscale_psnr_mean`]!] as const), dashed: true },
    ]) },
  ]);
  await writeFile(`${out}.svg`, svg);
  await writeFile(`${out}.png`, await sharp(Buffer.from(svg)).png().toBuffer());
  const md = [
    `# Shrink-on-load benchmark ${date}`, '',
    `Model ${result.model} (${Object.entries(heads).map(([k, v]) => `${k}: ${v}`).join(', ')}), quality ${QUALITY}, ${(result.machine as { cpu: string }).cpu} × ${(result.machine as { cores: number }).cores}. Command: \`${result.command}\`.`, '',
    '| set | scale | time / full decode | PSNR, reduced decode | PSNR, full decode then downscale | difference |', '|---|---|---:|---:|---:|---:|',
    ...sets.flatMap((st) => SCALES.map((s) => {
      const a = st.aggregate;
      return `| ${st.set} (${st.images}) | 1/${s} | ${(a[`s${s}_time_ratio_mean`]! * 100).toFixed(1)}% | ${a[`s${s}_psnr_mean`]!.toFixed(2)} dB | ${a[`s${s}_full_then_downscale_psnr_mean`]!.toFixed(2)} dB | ${(a[`s${s}_psnr_mean`]! - a[`s${s}_full_then_downscale_psnr_mean`]!).toFixed(2)} dB |`;
    })),
    ...(mp24 ? ['', `24 MP (6000×4000, ${mp24.bytes} bytes), CLI with PNG output: full decode ${(mp24.s1.ms / 1000).toFixed(1)} s, ${mp24.s1.maxrss_mb} MB peak; ` +
      `1/4 ${(mp24.s4.ms / 1000).toFixed(1)} s (${(mp24.s4_time_ratio * 100).toFixed(1)}%), ${mp24.s4.maxrss_mb} MB; ` +
      `1/8 ${(mp24.s8.ms / 1000).toFixed(1)} s (${(mp24.s8_time_ratio * 100).toFixed(1)}%), ${mp24.s8.maxrss_mb} MB peak.`] : []),
    '', `![time and PSNR](${out.split('/').pop()}.png)`, '',
  ].join('\n');
  await writeFile(`${out}.md`, md);
  process.stdout.write(md);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
