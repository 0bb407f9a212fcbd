// Tiling benchmark (issue 13): time and peak memory of `hic encode`/`hic decode` on generated
// images of 1–50 MP, the speed-up of worker threads, and what tiling costs on Kodak and the
// large set (size and PSNR of tiled against untiled coding at the same quality, and the largest
// difference between tiled and untiled synthesis along tile borders).
//   npm run bench:tiles [-- --quick]
// Writes bench/results/tiles-<date>.{json,md,svg,png}. Big images are made at run time from a
// photo of ../shared/data/large (resized), never committed.
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { runCli, type CliRun } from './cli-run.js';
import { machine } from '../src/bench/machine.js';
import { panels } from '../src/bench/plot.js';
import type { Codec, RgbImage } from '../src/codec/codec.js';
import { layout } from '../src/codec/tiles.js';
import { psnr } from '../src/metrics/psnr.js';
import { decodeImageFile } from '../src/node/image.js';
import { createCodec } from '../src/node/index.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = process.env['HICODEC_SHARED'] ?? join(REPO, '..', 'shared', 'data');
const quick = process.argv.includes('--quick');
const QUALITY = 50;

interface SizedRun extends CliRun { bytes: number }

/** The CLI run and the size of the file it wrote (-o). */
function runCliSized(args: string[]): SizedRun {
  return { ...runCli(args), bytes: statSync(args[args.indexOf('-o') + 1]!).size };
}

/** Generated test images: a large photo resized to `mp` megapixels at 3:2. */
async function makeImage(src: string, mp: number, dir: string): Promise<string> {
  const h = Math.round(Math.sqrt((mp * 1e6) / 1.5));
  const w = Math.round(h * 1.5);
  const out = join(dir, `${mp}mp.png`);
  await sharp(src, { limitInputPixels: false }).resize(w, h, { fit: 'fill', kernel: 'lanczos3' }).png({ compressionLevel: 1 }).toFile(out);
  return out;
}

async function sizes(dir: string, workersList: number[]) {
  const photos = readdirSync(join(SHARED, 'large')).filter((f) => f.endsWith('.png')).sort();
  const src = join(SHARED, 'large', photos[0]!);
  const rows = [];
  for (const mp of quick ? [1, 6] : [1, 6, 12, 24, 50]) {
    const img = await makeImage(src, mp, dir);
    const meta = await sharp(img, { limitInputPixels: false }).metadata();
    for (const workers of workersList) {
      const hic = join(dir, `${mp}mp-w${workers}.hic`);
      const w = workers ? ['--workers', String(workers), '--threads', '1'] : ['--threads', '2'];
      const enc = runCliSized(['encode', img, '-o', hic, '-q', String(QUALITY), '-f', ...w]);
      const dec = runCliSized(['decode', hic, '-o', join(dir, `${mp}mp-w${workers}.dec.png`), '-f', ...w]);
      rows.push({ megapixels: mp, width: meta.width, height: meta.height, workers, threads: workers ? 1 : 2, tiles: layout(meta.width!, meta.height!, 1024).tiles.length,
        encode_ms: enc.ms, encode_maxrss_mb: enc.maxrss_mb, decode_ms: dec.ms, decode_maxrss_mb: dec.maxrss_mb, bytes: enc.bytes });
      process.stderr.write(`tiles bench: ${JSON.stringify(rows.at(-1))}\n`);
    }
  }
  return rows;
}

/** Tiled (default tile size, and a small one) against untiled coding of the same images. */
async function costs(codec: Codec, name: string, files: string[], tileSizes: number[]) {
  const per = [];
  for (const f of files) {
    const img: RgbImage = await decodeImageFile(await readFile(f));
    const whole = Math.ceil(Math.max(img.width, img.height) / 128) * 128;
    const a = await codec.encode(img, { quality: QUALITY, tileSize: whole });
    const untiled = await codec.decode(a.bytes);
    const pu = psnr(img, untiled);
    const row: Record<string, number | string> = { image: f.split('/').pop()!, width: img.width, height: img.height, untiled_bytes: a.bytes.length, untiled_psnr: pu };
    for (const t of tileSizes) {
      const b = await codec.encode(img, { quality: QUALITY, tileSize: t });
      const tiled = await codec.decode(b.bytes);
      // the largest difference between tiled and untiled decoding, on pixels along tile borders
      let border = 0;
      for (let y = 0; y < img.height; y++) {
        for (let x = 0; x < img.width; x++) {
          if (Math.min(x % t, t - 1 - (x % t), y % t, t - 1 - (y % t)) > 1) continue;
          for (let c = 0; c < 3; c++) border = Math.max(border, Math.abs(tiled.data[(y * img.width + x) * 3 + c]! - untiled.data[(y * img.width + x) * 3 + c]!));
        }
      }
      Object.assign(row, { [`t${t}_tiles`]: b.stats.tiles, [`t${t}_size_ratio`]: b.bytes.length / a.bytes.length, [`t${t}_psnr_delta`]: psnr(img, tiled) - pu, [`t${t}_border_max_diff`]: border });
    }
    per.push(row);
  }
  const agg: Record<string, number> = {};
  for (const t of tileSizes) {
    const single = per.every((r) => r[`t${t}_tiles`] === 1);
    const ratios = per.map((r) => r[`t${t}_size_ratio`] as number);
    const deltas = per.map((r) => r[`t${t}_psnr_delta`] as number);
    Object.assign(agg, {
      [`t${t}_single_tile_images`]: per.filter((r) => r[`t${t}_tiles`] === 1).length,
      [`t${t}_size_ratio_mean`]: ratios.reduce((s, v) => s + v, 0) / ratios.length,
      [`t${t}_size_ratio_max`]: Math.max(...ratios),
      [`t${t}_psnr_delta_mean`]: deltas.reduce((s, v) => s + v, 0) / deltas.length,
      [`t${t}_psnr_delta_min`]: Math.min(...deltas),
      [`t${t}_border_max_diff`]: Math.max(...per.map((r) => r[`t${t}_border_max_diff`] as number)),
    });
    if (single) agg[`t${t}_note`] = NaN;
  }
  return { set: name, images: per.length, quality: QUALITY, aggregate: agg, per_image: per };
}

const date = new Date().toISOString().slice(0, 10);
const dir = mkdtempSync(join(tmpdir(), 'hic-tiles-'));
try {
  const sizeRows = await sizes(dir, quick ? [0] : [0, 2]);
  const codec = await createCodec({ threads: 2 });
  const kodak = join(SHARED, 'kodak');
  const large = join(SHARED, 'large');
  const sets = [];
  if (existsSync(kodak)) {
    const files = readdirSync(kodak).filter((f) => f.endsWith('.png')).sort().map((f) => join(kodak, f));
    sets.push(await costs(codec, 'kodak', quick ? files.slice(0, 2) : files, [1024, 256]));
  }
  if (existsSync(large)) {
    const files = readdirSync(large).filter((f) => f.endsWith('.png')).sort().map((f) => join(large, f));
    sets.push(await costs(codec, 'large', quick ? files.slice(0, 1) : files, [1024, 512]));
  }
  await codec.dispose();
  const result = { name: `tiles-${date}`, machine: machine(), model: codec.modelId, quality: QUALITY, command: `node dist/bench/tiles.js${quick ? ' --quick' : ''}`,
    note: 'peak RSS of the whole CLI process (hic-rss: process.resourceUsage().maxRSS), PNG input/output included; workers 0 = the tiles run in the main thread with 2 ORT threads, workers 2 = two worker threads with 1 ORT thread each',
    sizes: sizeRows, tiling: sets };
  const out = join(REPO, 'bench/results', `tiles-${date}${quick ? '-quick' : ''}`);
  await mkdir(join(REPO, 'bench/results'), { recursive: true });
  await writeFile(`${out}.json`, JSON.stringify(result, null, 1) + '\n');
  const by = (w: number) => sizeRows.filter((r) => r.workers === w);
  const series = (key: 'encode_ms' | 'decode_ms' | 'encode_maxrss_mb' | 'decode_maxrss_mb', div = 1) =>
    [...new Set(sizeRows.map((r) => r.workers))].map((w) => ({ label: `${key.split('_')[0]} ${w ? `${w} workers` : 'main thread'}`, pts: by(w).map((r) => [r.megapixels, r[key] / div] as const) }));
  const svg = panels([
    { title: 'time vs image size', xLabel: 'megapixels', yLabel: 'seconds', series: [...series('encode_ms', 1000), ...series('decode_ms', 1000)] },
    { title: 'peak memory vs image size', xLabel: 'megapixels', yLabel: 'MB (peak RSS)', series: [...series('encode_maxrss_mb'), ...series('decode_maxrss_mb'), { label: '1.5 GB budget', pts: [[0, 1536], [50, 1536]], dashed: true, color: '#000' }] },
  ]);
  await writeFile(`${out}.svg`, svg);
  await writeFile(`${out}.png`, await sharp(Buffer.from(svg)).png().toBuffer());
  const md = [
    `# Tiling benchmark ${date}`, '', `Model ${result.model}, quality ${QUALITY}, ${(result.machine as { cpu: string }).cpu} × ${(result.machine as { cores: number }).cores}. Command: \`${result.command}\`.`, '',
    '| MP | size | tiles | workers | encode s | encode peak MB | decode s | decode peak MB | bytes |', '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...sizeRows.map((r) => `| ${r.megapixels} | ${r.width}×${r.height} | ${r.tiles} | ${r.workers} | ${(r.encode_ms / 1000).toFixed(1)} | ${r.encode_maxrss_mb} | ${(r.decode_ms / 1000).toFixed(1)} | ${r.decode_maxrss_mb} | ${r.bytes} |`),
    '', '| set | tile | images in one tile | size tiled/untiled (mean, max) | PSNR tiled − untiled (mean, min) | max border diff |', '|---|---:|---:|---|---|---:|',
    ...sets.flatMap((s) => Object.keys(s.aggregate).filter((k) => k.endsWith('_size_ratio_mean')).map((k) => {
      const t = k.split('_')[0]!;
      const a = s.aggregate;
      return `| ${s.set} (${s.images}) | ${t.slice(1)} | ${a[`${t}_single_tile_images`]} | ${((a[`${t}_size_ratio_mean`]! - 1) * 100).toFixed(2)}%, ${((a[`${t}_size_ratio_max`]! - 1) * 100).toFixed(2)}% | ${a[`${t}_psnr_delta_mean`]!.toFixed(3)}, ${a[`${t}_psnr_delta_min`]!.toFixed(3)} dB | ${a[`${t}_border_max_diff`]} |`;
    })),
    '', `![time and memory](${out.split('/').pop()}.png)`, '',
  ].join('\n');
  await writeFile(`${out}.md`, md);
  process.stdout.write(md);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
