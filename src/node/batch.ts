// Many files: walk a folder, mirror it into another, and code every file on a pool of worker
// threads (one codec, one model load per worker). Resumable: a file whose output exists is
// skipped (outputs are written atomically, so an existing one is complete). A bad file is reported
// with its error code and never stops the batch. The same per-file work runs in queue workers
// (queue.ts).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { Worker } from 'node:worker_threads';

import type { Codec } from '../codec/codec.js';
import { CodecError, isCodecError } from '../core/errors.js';
import { cleanStaleTemps, writeOutput } from './files.js';
import { formatForPath, readImageFile, writeImageFile, type KeepMetadata } from './image.js';

export interface BatchOptions {
  /** 'encode' (images → .hic, default) or 'decode' (.hic → images). */
  readonly mode?: 'encode' | 'decode';
  readonly quality?: number;
  readonly targetBpp?: number;
  readonly targetBytes?: number;
  readonly tileSize?: number;
  /** Encoder effort 0..9 (EncodeOptions.effort). */
  readonly effort?: number;
  readonly keep?: KeepMetadata;
  /** Output extension when decoding (default png). */
  readonly format?: string;
  /** Replace outputs that exist (default: skip them). */
  readonly force?: boolean;
  /** Which files to take, relative to the input folder (default: images, or *.hic to decode). */
  readonly glob?: string;
}

export interface BatchItem {
  readonly input: string;
  readonly output: string;
  /** The input's path relative to the input folder. */
  readonly rel: string;
}

export interface FileResult {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly ms: number;
  /** The output existed and was kept (no -f). */
  readonly skipped: boolean;
}

export type BatchEvent =
  | { readonly type: 'start'; readonly total: number; readonly workers: number }
  | { readonly type: 'done'; readonly item: BatchItem; readonly result: FileResult }
  | { readonly type: 'failed'; readonly item: BatchItem; readonly code: string; readonly message: string };

export interface BatchSummary {
  readonly files: number;
  readonly done: number;
  readonly skipped: number;
  readonly failed: readonly { input: string; code: string; message: string }[];
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly seconds: number;
}

const IMAGE_GLOB = '**/*.{png,jpg,jpeg,webp,tif,tiff,avif,gif}';
const HIC_GLOB = '**/*.hic';

/** A glob (`*`, `**`, `?`, `{a,b}`; case-insensitive) as a regular expression on '/'-paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) throw new CodecError('E_INVALID_OPTION', `Expected a closing } in the glob ${JSON.stringify(glob)}`);
      re += `(?:${glob.slice(i + 1, end).split(',').map((s) => s.replace(/[.+^$()|[\]\\]/g, '\\$&')).join('|')})`;
      i = end;
    } else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i');
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue; // hidden files, and our own temporary outputs
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The files of `inDir` that match, each with its output path mirrored under `outDir`. */
export async function planBatch(inDir: string, outDir: string, opts: BatchOptions = {}): Promise<BatchItem[]> {
  const root = resolve(inDir);
  const out = resolve(outDir);
  if (!existsSync(root) || !(await stat(root)).isDirectory()) throw new CodecError('E_IO', `${inDir} is not a folder`);
  if (out === root || out.startsWith(root + sep)) {
    // allowed, but the outputs must never be taken as inputs on a second run
  }
  const decode = opts.mode === 'decode';
  const ext = decode ? `.${opts.format ?? 'png'}` : '.hic';
  if (decode) formatForPath(`x${ext}`); // refuses an unknown format before any work
  const re = globToRegExp(opts.glob ?? (decode ? HIC_GLOB : IMAGE_GLOB));
  const items: BatchItem[] = [];
  for (const f of (await walk(root)).sort()) {
    const rel = relative(root, f).split(sep).join('/');
    if (!re.test(rel)) continue;
    if (out !== root && f.startsWith(out + sep)) continue;
    const e = extname(rel);
    items.push({ input: f, output: join(out, ...(e ? rel.slice(0, -e.length) : rel).split('/')) + ext, rel });
  }
  return items;
}

/** Codes one file with `codec` and writes its output atomically. Shared by the thread pool and
 *  the queue workers. */
export async function processFile(codec: Codec, item: BatchItem, opts: BatchOptions): Promise<FileResult> {
  const t0 = performance.now();
  await cleanStaleTemps(item.output);
  if (!opts.force && existsSync(item.output)) return { bytesIn: 0, bytesOut: (await stat(item.output)).size, ms: 0, skipped: true };
  const input = new Uint8Array(await readFile(item.input).catch((e: Error) => {
    throw new CodecError('E_IO', `cannot read ${item.input}: ${e.message}`, { cause: e });
  }));
  let bytes: Uint8Array;
  if (opts.mode === 'decode') {
    const pic = await codec.decode(input);
    bytes = (await writeImageFile(pic, formatForPath(item.output))).bytes;
  } else {
    const r = await readImageFile(input, item.rel, { keep: opts.keep ?? 'all' });
    const res = await codec.encode(r.image, {
      metadata: r.metadata,
      ...(opts.targetBpp === undefined && opts.targetBytes === undefined ? { quality: opts.quality ?? 75 } : {}),
      ...(opts.targetBpp !== undefined ? { targetBpp: opts.targetBpp } : {}),
      ...(opts.targetBytes !== undefined ? { targetBytes: opts.targetBytes } : {}),
      ...(opts.tileSize !== undefined ? { tileSize: opts.tileSize } : {}),
      ...(opts.effort !== undefined ? { effort: opts.effort } : {}),
    });
    if (!res.stats.targetMet) throw new CodecError('E_TARGET_UNREACHABLE', `even quality 0 takes ${res.stats.bytes} bytes`);
    bytes = res.bytes;
  }
  await mkdir(dirname(item.output), { recursive: true });
  await writeOutput(item.output, bytes, !!opts.force);
  return { bytesIn: input.length, bytesOut: bytes.length, ms: performance.now() - t0, skipped: false };
}

/** A stable id for a file's job (the queue deduplicates on it). */
export function jobId(item: BatchItem): string {
  return createHash('sha256').update(item.output).digest('hex').slice(0, 32);
}

export interface PoolOptions extends BatchOptions {
  /** Worker threads (default: the number of CPUs, at most the number of files). */
  readonly jobs?: number;
  /** ORT threads per worker (default 1). */
  readonly threads?: number;
  /** Model id or package folder (default: models/DEFAULT; decode: each stream names its own). */
  readonly model?: string;
}

/** Runs a batch on worker threads; yields an event per file. */
export async function* runBatch(items: readonly BatchItem[], opts: PoolOptions = {}): AsyncGenerator<BatchEvent> {
  const n = Math.max(1, Math.min(items.length || 1, opts.jobs ?? cpus().length));
  yield { type: 'start', total: items.length, workers: items.length ? n : 0 };
  if (!items.length) return;
  const events: BatchEvent[] = [];
  let wake: (() => void) | undefined;
  const push = (e: BatchEvent) => {
    events.push(e);
    wake?.();
  };
  let next = 0;
  let finished = 0;
  const workers: Worker[] = [];
  let fatal: unknown;
  const { jobs: _j, ...fileOpts } = opts;
  for (let w = 0; w < n; w++) {
    const worker = new Worker(new URL('./batch-worker.js', import.meta.url), { workerData: { model: opts.model, threads: opts.threads ?? 1, opts: fileOpts } });
    workers.push(worker);
    let current: BatchItem | undefined;
    const feed = () => {
      current = items[next++];
      if (current) worker.postMessage(current);
    };
    worker.on('message', (m: { ready?: true; result?: FileResult; code?: string; message?: string }) => {
      if (m.ready) return feed();
      const item = current!;
      push(m.result ? { type: 'done', item, result: m.result } : { type: 'failed', item, code: m.code ?? 'E_INTERNAL', message: m.message ?? '' });
      finished++;
      feed();
    });
    worker.on('error', (e) => {
      fatal = e;
      wake?.();
    });
  }
  try {
    while (finished < items.length) {
      if (!events.length && !fatal) await new Promise<void>((r) => (wake = r));
      if (fatal) throw fatal;
      while (events.length) yield events.shift()!;
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Folds batch events into a summary. */
export function summarize(events: readonly BatchEvent[], seconds: number): BatchSummary {
  let done = 0;
  let skipped = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  let files = 0;
  const failed: { input: string; code: string; message: string }[] = [];
  for (const e of events) {
    if (e.type === 'start') files = e.total;
    else if (e.type === 'failed') failed.push({ input: e.item.input, code: e.code, message: e.message });
    else if (e.result.skipped) skipped++;
    else {
      done++;
      bytesIn += e.result.bytesIn;
      bytesOut += e.result.bytesOut;
    }
  }
  return { files, done, skipped, failed, bytesIn, bytesOut, seconds };
}

export function errorOf(e: unknown): { code: string; message: string } {
  return isCodecError(e) ? { code: e.code, message: e.message } : { code: 'E_INTERNAL', message: (e as Error)?.message ?? String(e) };
}
