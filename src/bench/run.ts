// The rate–distortion and speed benchmark: every codec on the same images in the same run.
// Per image and point: real file bytes → bpp, PSNR, MS-SSIM, encode/decode wall time, peak RSS.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

import type { RgbImage } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';
import { msSsim } from '../metrics/msssim.js';
import { psnr } from '../metrics/psnr.js';
import { decodeImageFile } from '../node/image.js';
import { classicCodec, CLASSIC_IDS, hicodecCodec, type BenchCodec, type ClassicId, type HicodecBench } from './codecs.js';

export interface BenchOptions {
  readonly dir: string;
  /** Only the first 3 images (a smoke run). */
  readonly quick?: boolean;
  /** Codec ids to run (default: all). */
  readonly codecs?: readonly string[];
  readonly model?: string;
  /** Timing repetitions (median reported) of operations whose first run is under `repsUnderMs`
   *  (default 3 under 200 ms: slower ones are timed once so that a Kodak run fits in 30 minutes). */
  readonly reps?: number;
  readonly repsUnderMs?: number;
  /** Images timed for hicodec's 1-vs-2-thread speed table (median of `reps` at quality 75). */
  readonly speedImages?: number;
  readonly progress?: (done: number, total: number, what: string) => void;
}

export interface PointRow {
  readonly codec: string;
  readonly image: string;
  readonly quality: number;
  readonly bytes: number;
  readonly bpp: number;
  readonly psnr: number;
  readonly ms_ssim: number | null;
  readonly encode_ms: number;
  readonly decode_ms: number;
  readonly timing_runs: number;
  readonly peak_rss_mb: number;
}

export interface SpeedRow {
  readonly image: string;
  readonly threads: number;
  readonly encode_ms: number;
  readonly decode_ms: number;
}

export interface CodecInfo {
  readonly id: string;
  readonly label: string;
  readonly version: string;
  readonly settings: string;
  readonly qualities: readonly number[];
}

export interface BenchResult {
  readonly images: readonly { name: string; width: number; height: number }[];
  readonly codecs: readonly CodecInfo[];
  readonly rows: readonly PointRow[];
  readonly hicodec_speed: readonly SpeedRow[];
  readonly model?: { id: string; macs_per_pixel: Record<string, number>; package_bytes: number };
  readonly wall_s: number;
}

/** The middle value (the upper one of the two for an even count). */
export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** `base` (a results path without extension), or base-2, base-3, … when a result of that name is
 *  there already (a second run on the same day keeps the first's files, which docs may cite). */
export function freshResultPath(base: string, ext = '.json'): string {
  let out = base;
  for (let i = 2; existsSync(`${out}${ext}`); i++) out = `${base}-${i}`;
  return out;
}

/** The value after `--name` on a bench's command line (undefined when the option is absent). */
export function argValue(name: string, argv: readonly string[] = process.argv): string | undefined {
  const i = argv.indexOf(name);
  return i > 0 ? argv[i + 1] : undefined;
}

/** Runs `fn`, sampling the process RSS every 5 ms (native work runs off the JS thread). */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peak: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, peak };
  } finally {
    clearInterval(timer);
  }
}

/** Median wall time of `reps` runs; a single run when the first one is slower than `under` ms. */
async function timed<T>(fn: () => Promise<T>, reps: number, under: number): Promise<{ value: T; ms: number; runs: number }> {
  const times: number[] = [];
  let value!: T;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    value = await fn();
    times.push(performance.now() - t0);
    if (i === 0 && times[0]! > under) break;
  }
  return { value, ms: median(times), runs: times.length };
}

export async function listImages(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new CodecError('E_IO', `cannot read the image folder ${dir}`, { cause: e });
  }
  const imgs = names.filter((n) => ['.png', '.jpg', '.jpeg'].includes(extname(n).toLowerCase())).sort();
  if (!imgs.length) throw new CodecError('E_INVALID_OPTION', `no PNG or JPEG images in ${dir}`);
  return imgs;
}

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const t0 = performance.now();
  const reps = opts.reps ?? 3;
  const under = opts.repsUnderMs ?? 200;
  let names = await listImages(opts.dir);
  if (opts.quick) names = names.slice(0, 3);
  const images: [string, RgbImage][] = [];
  for (const n of names) images.push([n, await decodeImageFile(await readFile(join(opts.dir, n)), n)]);

  const wanted = opts.codecs ?? ['hicodec', ...CLASSIC_IDS];
  for (const id of wanted) if (id !== 'hicodec' && !(CLASSIC_IDS as readonly string[]).includes(id)) throw new CodecError('E_INVALID_OPTION', `unknown codec ${id}`);
  const codecs: BenchCodec[] = [];
  let hic: HicodecBench | undefined;
  try {
    for (const id of wanted) {
      const c = id === 'hicodec' ? (hic = await hicodecCodec(opts.model)) : await classicCodec(id as ClassicId);
      codecs.push(c);
    }
    const speedN = hic ? Math.min(opts.speedImages ?? 6, images.length) : 0;
    const total = codecs.reduce((s, c) => s + c.qualities.length * images.length, 0) + 2 * speedN;
    let done = 0;
    const rows: PointRow[] = [];
    for (const c of codecs) {
      for (const [name, img] of images) {
        for (const q of c.qualities) {
          opts.progress?.(done, total, `${c.id} ${name} q${q}`);
          const enc = await withPeakRss(() => timed(() => c.encode(img, q), reps, under));
          const bytes = enc.value.value;
          const dec = await withPeakRss(() => timed(() => c.decode(bytes), reps, under));
          const out = dec.value.value;
          if (out.width !== img.width || out.height !== img.height) throw new Error(`${c.id} decoded ${name} at the wrong size`);
          rows.push({
            codec: c.id, image: name, quality: q, bytes: bytes.length, bpp: (8 * bytes.length) / (img.width * img.height),
            psnr: psnr(img, out), ms_ssim: Math.min(img.width, img.height) > 160 ? msSsim(img, out) : null,
            encode_ms: enc.value.ms, decode_ms: dec.value.ms, timing_runs: Math.min(enc.value.runs, dec.value.runs),
            peak_rss_mb: Math.max(enc.peak, dec.peak) / 2 ** 20,
          });
          done++;
        }
      }
    }
    const speed: SpeedRow[] = [];
    if (hic) {
      for (const [threads, codec] of [[1, hic.oneThread], [2, hic.codec]] as const) {
        for (const [name, img] of images.slice(0, speedN)) {
          opts.progress?.(done, total, `hicodec speed ${threads} thread(s) ${name}`);
          const enc = await timed(() => codec.encode(img, { quality: 75 }), reps, Infinity);
          const dec = await timed(() => codec.decode(enc.value.bytes), reps, Infinity);
          speed.push({ image: name, threads, encode_ms: enc.ms, decode_ms: dec.ms });
          done++;
        }
      }
    }
    opts.progress?.(total, total, 'done');
    const m = hic?.codec.modelPackage.manifest as unknown as { id: string; macs_per_pixel: Record<string, number>; package_bytes: number } | undefined;
    const model: BenchResult['model'] = m && { id: m.id, macs_per_pixel: m.macs_per_pixel, package_bytes: m.package_bytes };
    return {
      images: images.map(([name, i]) => ({ name, width: i.width, height: i.height })),
      codecs: codecs.map((c) => ({ id: c.id, label: c.label, version: c.version, settings: c.settings, qualities: c.qualities })),
      rows, hicodec_speed: speed, ...(model ? { model } : {}),
      wall_s: (performance.now() - t0) / 1000,
    };
  } finally {
    for (const c of codecs) await c.dispose?.();
  }
}
