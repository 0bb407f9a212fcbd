// `hic batch`, `hic worker` and `hic queue`: many files on every core, or on many machines
// through a BullMQ queue (src/node/batch.ts, src/node/queue.ts).
import { performance } from 'node:perf_hooks';

import { CodecError } from '../core/errors.js';
import { planBatch, runBatch, summarize, type BatchEvent, type BatchOptions, type BatchSummary } from '../node/batch.js';
import type { KeepMetadata } from '../node/image.js';

export interface BatchCliOptions {
  decode?: boolean;
  format?: string;
  quality?: number;
  targetBpp?: number;
  targetSize?: number;
  effort?: number;
  tile?: number;
  keep?: KeepMetadata;
  strip?: boolean;
  glob?: string;
  jobs?: number;
  threads?: number;
  model?: string;
  force?: boolean;
  json?: boolean;
  queue?: string;
  wait?: boolean;
  progress?: boolean;
}

const log = (s: string) => process.stderr.write(`${s}\n`);
/** A byte count for people: "512 bytes", "3.4 KiB", "12.0 MiB", "1.50 GiB". */
export function sizeText(n: number): string {
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`;
  if (n < 2 ** 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 2 ** 30) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 2 ** 30).toFixed(2)} GiB`;
}

function options(o: BatchCliOptions): BatchOptions {
  if (o.decode && (o.quality !== undefined || o.targetBpp !== undefined || o.targetSize !== undefined || o.effort !== undefined)) {
    throw new CodecError('E_INVALID_OPTION', 'Expected no quality, rate target or effort with --decode');
  }
  return {
    mode: o.decode ? 'decode' : 'encode',
    ...(o.format ? { format: o.format } : {}),
    ...(o.quality !== undefined ? { quality: o.quality } : {}),
    ...(o.targetBpp !== undefined ? { targetBpp: o.targetBpp } : {}),
    ...(o.targetSize !== undefined ? { targetBytes: o.targetSize } : {}),
    ...(o.tile !== undefined ? { tileSize: o.tile } : {}),
    ...(o.effort !== undefined ? { effort: o.effort } : {}),
    keep: o.strip ? 'none' : o.keep ?? 'all',
    ...(o.glob ? { glob: o.glob } : {}),
    force: !!o.force,
  };
}

/** Progress and ETA on stderr: on a terminal, or with --progress; at most ~4 lines a second. */
function progress(o: BatchCliOptions, total: number): (done: number) => void {
  const tty = !!process.stderr.isTTY;
  const t0 = performance.now();
  let last = 0;
  return (done) => {
    if (!tty && !o.progress) return;
    const now = performance.now();
    if (done < total && now - last < 250) return;
    last = now;
    const s = (now - t0) / 1000;
    const eta = done ? (s / done) * (total - done) : NaN;
    const line = `hic batch: ${done}/${total} files, ${s.toFixed(0)} s${done && done < total ? `, ETA ${eta.toFixed(0)} s` : ''}`;
    process.stderr.write(tty ? `\r${line}\x1b[K${done === total ? '\n' : ''}` : `${line}\n`);
  };
}

function report(s: BatchSummary, o: BatchCliOptions): void {
  if (o.json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n');
  } else {
    log(`hic batch: ${s.files} file${s.files === 1 ? '' : 's'}: ${s.done} coded, ${s.skipped} skipped (output exists), ${s.failed.length} failed; ` +
      `${sizeText(s.bytesIn)} in, ${sizeText(s.bytesOut)} out, ${s.seconds.toFixed(1)} s`);
    for (const f of s.failed) log(`  failed ${f.code}: ${f.input}: ${f.message}`);
  }
  if (s.failed.length) throw new CodecError('E_BATCH_INCOMPLETE', `${s.failed.length} of ${s.files} files failed`);
}

export async function batchCommand(inDir: string, outDir: string, o: BatchCliOptions): Promise<void> {
  const opts = options(o);
  const items = await planBatch(inDir, outDir, opts);
  const t0 = performance.now();
  if (o.queue) {
    const { enqueue, waitForJobs } = await import('../node/queue.js');
    const ids = await enqueue(o.queue, items, opts, o.model ? { model: o.model } : {});
    if (!o.wait) {
      if (o.json) process.stdout.write(JSON.stringify({ enqueued: ids.length, queue: o.queue }, null, 2) + '\n');
      else log(`hic batch: ${ids.length} jobs on ${o.queue} (run "hic worker --queue ${o.queue}" anywhere; "hic queue --queue ${o.queue}" for their state)`);
      return;
    }
    const tick = progress(o, ids.length);
    const states = await waitForJobs(o.queue, ids, (d) => tick(d));
    const events: BatchEvent[] = [{ type: 'start', total: items.length, workers: 0 }];
    states.forEach((st, i) => {
      if (st.state === 'completed' && st.result) events.push({ type: 'done', item: items[i]!, result: st.result });
      else {
        const m = /^(E_[A-Z_]+): ([\s\S]*)$/.exec(st.failedReason ?? '');
        events.push({ type: 'failed', item: items[i]!, code: m?.[1] ?? 'E_INTERNAL', message: m?.[2] ?? st.failedReason ?? st.state });
      }
    });
    return report(summarize(events, (performance.now() - t0) / 1000), o);
  }
  const events: BatchEvent[] = [];
  const tick = progress(o, items.length);
  let done = 0;
  for await (const e of runBatch(items, { ...opts, ...(o.jobs ? { jobs: o.jobs } : {}), ...(o.threads ? { threads: o.threads } : {}), ...(o.model ? { model: o.model } : {}) })) {
    events.push(e);
    if (e.type !== 'start') tick(++done);
  }
  report(summarize(events, (performance.now() - t0) / 1000), o);
}

export async function workerCommand(o: { queue: string; concurrency?: number; threads?: number; json?: boolean; lockMs?: number }): Promise<void> {
  const { probeQueue, runWorker } = await import('../node/queue.js');
  await probeQueue(o.queue);
  const w = runWorker(o.queue, {
    ...(o.concurrency ? { concurrency: o.concurrency } : {}),
    ...(o.lockMs ? { lockDuration: o.lockMs } : {}),
    ...(o.threads ? { threads: o.threads } : {}),
    onJob: (j) => log(o.json ? JSON.stringify(j) : `hic worker: ${j.ok ? 'done' : `failed ${j.code}`} ${j.input}`),
  });
  // the connection lost later: one line per 10 s while BullMQ reconnects, not a trace per attempt
  let lastError = 0;
  w.worker.on('error', (e) => {
    if (Date.now() - lastError < 10_000) return;
    lastError = Date.now();
    log(`hic worker: queue connection: ${e.message} (reconnecting)`);
  });
  log(`hic worker: waiting for jobs on ${o.queue} (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    const stop = () => void w.close().then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export async function queueCommand(o: { queue: string; json?: boolean }): Promise<void> {
  const { queueStatus } = await import('../node/queue.js');
  const s = await queueStatus(o.queue);
  if (o.json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    return;
  }
  process.stdout.write(`${Object.entries(s.counts).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  for (const f of s.failed) process.stdout.write(`  dead letter ${f.id}: ${f.input}: ${f.reason} (${f.attempts} attempts)\n`);
}
