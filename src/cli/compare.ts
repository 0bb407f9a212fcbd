// `hic compare IMAGE`: hicodec against mozjpeg, WebP, AVIF and JPEG XL at the same file size. Prints
// quality, bytes, bpp, PSNR and MS-SSIM per codec (a table, or JSON) and writes one PNG: the same
// crop of the original and of every codec's decoded output side by side, where the codecs differ
// most. The other codecs are the benchmark's adapters (src/bench/codecs.ts).
import { mkdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

import type { Command } from 'commander';
import sharp from 'sharp';

import { classicCodec, CLASSIC_IDS, type BenchCodec, type ClassicId } from '../bench/codecs.js';
import type { RgbImage } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';
import { msSsim } from '../metrics/msssim.js';
import { psnr } from '../metrics/psnr.js';
import { checkOutput, readInput, writeOutput } from '../node/files.js';
import { decodeImageFile } from '../node/image.js';
import { createCodec } from '../node/index.js';

export interface CompareCliOptions {
  size?: string;
  quality?: string;
  output?: string;
  codecs?: string;
  json?: boolean;
  force?: boolean;
  model?: string;
  threads?: number;
  workers?: number;
  progress?: boolean;
}

/** The other codecs by their short names (the default set, in this order) and the benchmark
 *  encoder behind each: AVIF at effort 4 (sharp's default; effort 9 takes ~10× longer per try). */
export const COMPARE_CODECS: Readonly<Record<string, ClassicId>> = Object.freeze({ mozjpeg: 'mozjpeg-420', webp: 'webp', avif: 'avif-e4', jxl: 'jxl-e7' });
/** hicodec's quality when neither -q nor --size is given. */
export const DEFAULT_QUALITY = 50;
/** Side of the crop picture's panels (smaller images are shown whole) and the search stride. */
const CROP = 256;
const STRIDE = 16;

export interface CompareRow {
  readonly codec: string;
  readonly encoder: string;
  readonly label: string;
  readonly version: string;
  readonly quality: number;
  readonly bytes: number;
  readonly bpp: number;
  readonly psnr: number;
  /** null for images with a side of 160 px or less (MS-SSIM's five scales need more). */
  readonly ms_ssim: number | null;
  /** Even the codec's lowest quality is larger than the target (the lowest is shown). */
  readonly over_size: boolean;
  /** The qualities tried, in order. */
  readonly searched: readonly number[];
}

export interface Crop {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

const invalid = (what: string, name: string, value: string) => new CodecError('E_INVALID_OPTION', `Expected ${what} for ${name} but received ${value}`);

function integer(v: string, name: string, min: number, max: number, what: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < min || n > max) throw invalid(what, name, JSON.stringify(v));
  return n;
}

/** The options checked before any work: one rate choice, known codecs (short names or the
 *  benchmark's ids; hicodec is always the first row). */
export function parseCompareOptions(o: CompareCliOptions): { quality?: number; size?: number; codecs: [string, ClassicId][] } {
  if (o.size !== undefined && o.quality !== undefined) throw new CodecError('E_INVALID_OPTION', `Expected either --size or -q but received --size ${o.size} and -q ${o.quality}`);
  const size = o.size === undefined ? undefined : integer(o.size, '--size', 1, Number.MAX_SAFE_INTEGER, 'a positive integer (bytes)');
  const quality = o.quality === undefined ? undefined : integer(o.quality, '-q', 0, 100, 'an integer between 0 and 100');
  const codecs: [string, ClassicId][] = [];
  const names = o.codecs === undefined ? Object.keys(COMPARE_CODECS) : o.codecs.split(',').map((s) => s.trim());
  for (const name of names) {
    if (name === 'hicodec' || codecs.some(([n]) => n === name)) continue;
    const id = COMPARE_CODECS[name] ?? (CLASSIC_IDS as readonly string[]).find((c) => c === name);
    if (!id) throw invalid(`a comma-separated list of ${['hicodec', ...Object.keys(COMPARE_CODECS), ...CLASSIC_IDS].join(', ')}`, '--codecs', JSON.stringify(o.codecs));
    codecs.push([name, id as ClassicId]);
  }
  return { ...(quality !== undefined ? { quality } : {}), ...(size !== undefined ? { size } : {}), codecs };
}

/** The largest file of `c` that is at most `target` bytes: binary search over its whole quality
 *  scale (file size grows with quality, nearly always). When even the lowest quality is larger,
 *  that one, marked over size. */
async function fitSize(c: BenchCodec, img: RgbImage, target: number): Promise<{ quality: number; bytes: Uint8Array; over: boolean; searched: number[] }> {
  const tried = new Map<number, Uint8Array>();
  const at = async (q: number) => {
    let b = tried.get(q);
    if (!b) tried.set(q, (b = await c.encode(img, q)));
    return b;
  };
  let [lo, hi] = c.range;
  if ((await at(lo)).length > target) return { quality: lo, bytes: await at(lo), over: true, searched: [...tried.keys()] };
  while (lo < hi) { // size(lo) ≤ target throughout
    const mid = Math.ceil((lo + hi) / 2);
    if ((await at(mid)).length <= target) lo = mid;
    else hi = mid - 1;
  }
  return { quality: lo, bytes: await at(lo), over: false, searched: [...tried.keys()] };
}

/** Where the codecs differ most: the window of min(256, side) pixels, on a 16-pixel grid, with the
 *  largest sum of the per-pixel variance across codecs of the squared error (R + G + B); with one
 *  codec, of the squared error itself. Computed on 16×16 block sums, so memory stays small. */
export function mostDifferentCrop(orig: RgbImage, decoded: readonly RgbImage[], size = CROP): Crop {
  const { width: w, height: h } = orig;
  const n = decoded.length;
  const bw = Math.ceil(w / STRIDE);
  const bh = Math.ceil(h / STRIDE);
  const blocks = new Float64Array(bw * bh);
  const e = new Float64Array(n);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 3 * (y * w + x);
      let s = 0;
      let ss = 0;
      for (let c = 0; c < n; c++) {
        const d = decoded[c]!.data;
        const r = d[i]! - orig.data[i]!;
        const g = d[i + 1]! - orig.data[i + 1]!;
        const b = d[i + 2]! - orig.data[i + 2]!;
        e[c] = r * r + g * g + b * b;
        s += e[c]!;
        ss += e[c]! * e[c]!;
      }
      const m = s / n;
      blocks[Math.floor(y / STRIDE) * bw + Math.floor(x / STRIDE)]! += n > 1 ? ss / n - m * m : m;
    }
  }
  const cw = Math.min(size, w);
  const ch = Math.min(size, h);
  // windows on the block grid: every block column (row) when the crop spans the whole width (height)
  const span = (crop: number, side: number, blocks: number) => (crop === side ? blocks : Math.ceil(crop / STRIDE));
  const sx = span(cw, w, bw);
  const sy = span(ch, h, bh);
  let best = { x: 0, y: 0, score: -1 };
  for (let by = 0; by * STRIDE + ch <= h; by++) {
    for (let bx = 0; bx * STRIDE + cw <= w; bx++) {
      let score = 0;
      for (let j = by; j < Math.min(bh, by + sy); j++) for (let i = bx; i < Math.min(bw, bx + sx); i++) score += blocks[j * bw + i]!;
      if (score > best.score) best = { x: bx * STRIDE, y: by * STRIDE, score };
    }
  }
  return { x: best.x, y: best.y, w: cw, h: ch };
}

/** The crop of every image side by side, left to right, as one RGB picture. */
export function sideBySide(images: readonly RgbImage[], c: Crop): RgbImage {
  const width = images.length * c.w;
  const data = new Uint8Array(width * c.h * 3);
  images.forEach((img, k) => {
    for (let r = 0; r < c.h; r++) {
      const from = 3 * ((c.y + r) * img.width + c.x);
      data.set(img.data.subarray(from, from + 3 * c.w), 3 * (r * width + k * c.w));
    }
  });
  return { width, height: c.h, data };
}

const rgb = (p: RgbImage): RgbImage => ({ width: p.width, height: p.height, data: p.data });
const log = (msg: string) => process.stderr.write(`${msg}\n`);

export async function compareCommand(input: string, o: CompareCliOptions): Promise<void> {
  const opts = parseCompareOptions(o);
  const stem = input === '-' ? 'stdin' : basename(input, extname(input));
  const dir = o.output ?? '.';
  const out = join(dir, `${stem}.compare.png`);
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => undefined);
  if (isDir === false) throw invalid('a folder', '-o', JSON.stringify(dir));
  await checkOutput(out, !!o.force);
  const image = await decodeImageFile(await readInput(input), input === '-' ? 'stdin' : input);
  const px = image.width * image.height;
  const decoded: RgbImage[] = [];
  const rows: CompareRow[] = [];
  const row = (r: Omit<CompareRow, 'bytes' | 'bpp' | 'psnr' | 'ms_ssim'>, bytes: number, dec: RgbImage, t0: number): void => {
    decoded.push(dec);
    rows.push({ ...r, bytes, bpp: (8 * bytes) / px, psnr: psnr(image, dec), ms_ssim: Math.min(image.width, image.height) > 160 ? msSsim(image, dec) : null });
    const tries = Math.max(1, r.searched.length);
    log(`hic: ${r.codec} quality ${r.quality}: ${bytes} bytes${r.over_size ? ' (over size: its lowest quality)' : ''}, ${tries} encode${tries > 1 ? 's' : ''}, ${Math.round(performance.now() - t0)} ms`);
  };

  const codec = await createCodec({ ...(o.model ? { model: o.model } : {}), ...(o.threads ? { threads: o.threads } : {}), ...(o.workers ? { workers: o.workers } : {}) });
  let target: number;
  let t0 = performance.now();
  try {
    const { bytes, stats } = await codec.encode(image, opts.size !== undefined ? { targetBytes: opts.size } : { quality: opts.quality ?? DEFAULT_QUALITY });
    if (!stats.targetMet) throw new CodecError('E_TARGET_UNREACHABLE', `even quality 0 takes ${stats.bytes} bytes, more than --size ${opts.size}; nothing written`);
    target = bytes.length;
    row({ codec: 'hicodec', encoder: 'hicodec', label: `hicodec (${codec.modelId})`, version: `model ${codec.modelId}`, quality: stats.quality, over_size: false, searched: stats.searched }, target, rgb(await codec.decode(bytes)), t0);
  } finally {
    await codec.dispose();
  }
  for (const [name, id] of opts.codecs) {
    const c = await classicCodec(id);
    try {
      t0 = performance.now();
      const fit = await fitSize(c, image, target);
      row({ codec: name, encoder: id, label: c.label, version: c.version, quality: fit.quality, over_size: fit.over, searched: fit.searched }, fit.bytes.length, await c.decode(fit.bytes), t0);
    } finally {
      await c.dispose?.();
    }
  }

  const crop = mostDifferentCrop(image, decoded);
  const pic = sideBySide([image, ...decoded], crop);
  const png = new Uint8Array(await sharp(pic.data, { raw: { width: pic.width, height: pic.height, channels: 3 } }).png().toBuffer());
  await mkdir(dir, { recursive: true }).catch((e: unknown) => {
    throw new CodecError('E_IO', `cannot create ${dir}: ${(e as Error).message}`, { cause: e });
  });
  await writeOutput(out, png, !!o.force);
  log(`hic: wrote ${out}${o.output === undefined ? ' (in the current folder; -o to choose)' : ''}`);

  const order = ['original', ...rows.map((r) => r.codec)];
  if (o.json) {
    const report = {
      image: input, width: image.width, height: image.height, requested_bytes: opts.size ?? null, target_bytes: target,
      rows, crop: { ...crop, order }, files: { crops: out },
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return;
  }
  const cols = ['codec', 'quality', 'bytes', 'bpp', 'PSNR dB', 'MS-SSIM', ''];
  const cells = rows.map((r) => [r.codec, String(r.quality), String(r.bytes), r.bpp.toFixed(4), r.psnr.toFixed(2), r.ms_ssim === null ? '-' : r.ms_ssim.toFixed(4), r.over_size ? 'over size' : '']);
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((v, i) => (i === 0 || i === r.length - 1 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ').trimEnd();
  process.stdout.write([
    `${input}: ${image.width}×${image.height}, target ${target} bytes (hicodec's file${opts.size !== undefined ? `, the largest at most --size ${opts.size}` : ''}); RGB PSNR`,
    line(cols),
    ...cells.map(line),
    `crop ${crop.w}×${crop.h} at x=${crop.x}, y=${crop.y}, left to right: ${order.join(', ')} → ${out}`,
  ].join('\n') + '\n');
}

/** The `compare` subcommand's arguments and options (hic.ts adds the common ones). */
export function defineCompare(c: Command): Command {
  return c
    .description('hicodec against mozjpeg, WebP, AVIF and JPEG XL at the same file size: bytes, bpp, PSNR, MS-SSIM, and a PNG of the same crop of each')
    .argument('<image>')
    .option('--size <bytes>', 'hicodec at the highest quality whose file is at most this many bytes; the others at most its bytes')
    .option('-q, --quality <q>', `hicodec quality 0..100 (default ${DEFAULT_QUALITY})`)
    .option('-o, --output <dir>', 'folder for <image name>.compare.png (default: the current folder)')
    .option('--codecs <list>', `the other codecs, comma-separated (default ${Object.keys(COMPARE_CODECS).join(',')}; also ${CLASSIC_IDS.join(',')})`)
    .option('--json', 'print a JSON object instead of the table')
    .option('-f, --force', 'overwrite the PNG')
    .action((image: string, o: CompareCliOptions) => compareCommand(image, o));
}
