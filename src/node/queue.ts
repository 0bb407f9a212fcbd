// Scale-out on BullMQ (Redis): `hic batch --queue URL` enqueues one job per file, `hic worker
// --queue URL` runs them on any number of machines. Jobs are retried (3 attempts, exponential
// backoff); a job whose worker dies (kill -9, lost machine) is found stalled when its lock runs
// out and runs again elsewhere; jobs that keep failing stay in the queue's failed set, the
// dead-letter list (`hic queue --queue URL`). A job id is derived from the output path, so
// enqueueing the same batch twice adds nothing, and every output is written atomically with the
// same bytes whoever writes it: running a job twice is harmless. Storage is a path every worker
// can reach (a shared file system); the jobs carry absolute paths.
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';

import type { Codec } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';
import { errorOf, jobId, processFile, type BatchItem, type BatchOptions, type FileResult } from './batch.js';
import { createCodec } from './index.js';

export const DEFAULT_QUEUE = 'hicodec';

/** Errors that a retry cannot fix (the input or the options are wrong). */
const PERMANENT = new Set(['E_INVALID_OPTION', 'E_BAD_MAGIC', 'E_UNSUPPORTED_VERSION', 'E_TRUNCATED', 'E_CORRUPT', 'E_CHECKSUM',
  'E_UNKNOWN_MODEL', 'E_LIMIT_EXCEEDED', 'E_UNSUPPORTED_IMAGE', 'E_TARGET_UNREACHABLE']);

interface JobData {
  readonly item: BatchItem;
  readonly opts: BatchOptions;
  readonly model?: string;
}

function connection(url: string) {
  if (!/^rediss?:\/\//.test(url)) throw new CodecError('E_INVALID_OPTION', `Expected a redis:// or rediss:// URL for --queue but received ${JSON.stringify(url)}`);
  // maxRetriesPerRequest null: BullMQ's blocking commands must not time out
  return { url, maxRetriesPerRequest: null };
}

/** ms within which the Redis server must answer a PING before anything is queued or run. */
export const PROBE_TIMEOUT_MS = 3000;

/**
 * Fails fast when the queue's Redis server cannot be reached: BullMQ's own connections retry
 * forever (maxRetriesPerRequest null, which its blocking commands need), so a wrong URL or a
 * stopped server would hang with a stream of ECONNREFUSED traces. One PING with a deadline and no
 * retries decides; after that, BullMQ's reconnects and the job retry policy are unchanged.
 */
export async function probeQueue(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  connection(url); // validates the URL
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 0, disconnectTimeout: 0, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let cause: Error | undefined; // the socket's own error (e.g. ECONNREFUSED), reported below, once
  client.on('error', (e: Error) => { cause ??= e; });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs); }),
    ]);
  } catch (e) {
    const why = cause ?? (e as Error);
    throw new CodecError('E_QUEUE_UNREACHABLE', `cannot reach the queue's Redis server at ${url}: ${why.message || String(why)}`, { cause: why });
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

export interface EnqueueOptions {
  readonly name?: string;
  readonly model?: string;
  readonly attempts?: number;
}

/** Adds a job per file (deduplicated by output path). Returns the job ids. */
export async function enqueue(url: string, items: readonly BatchItem[], opts: BatchOptions, eo: EnqueueOptions = {}): Promise<string[]> {
  await probeQueue(url);
  const q = new Queue<JobData>(eo.name ?? DEFAULT_QUEUE, { connection: connection(url) });
  try {
    const jobs = items.map((item) => ({
      name: opts.mode === 'decode' ? 'decode' : 'encode',
      data: { item, opts, ...(eo.model ? { model: eo.model } : {}) },
      opts: { jobId: jobId(item), attempts: eo.attempts ?? 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: { count: 100_000 }, removeOnFail: false },
    }));
    await q.addBulk(jobs);
    return jobs.map((j) => j.opts.jobId);
  } finally {
    await q.close();
  }
}

export interface JobState {
  readonly id: string;
  readonly state: string;
  readonly result?: FileResult;
  readonly failedReason?: string;
  readonly attempts: number;
}

/** The state of the given jobs (completed, failed, active, waiting, …). */
export async function jobStates(url: string, ids: readonly string[], name = DEFAULT_QUEUE): Promise<JobState[]> {
  const q = new Queue<JobData>(name, { connection: connection(url) });
  try {
    return await Promise.all(ids.map(async (id) => {
      const job = await q.getJob(id);
      if (!job) return { id, state: 'missing', attempts: 0 };
      return { id, state: await job.getState(), ...(job.returnvalue ? { result: job.returnvalue as FileResult } : {}), ...(job.failedReason ? { failedReason: job.failedReason } : {}), attempts: job.attemptsMade };
    }));
  } finally {
    await q.close();
  }
}

/** Waits until every job is completed or failed (polling), reporting progress. */
export async function waitForJobs(url: string, ids: readonly string[], onProgress?: (done: number, total: number) => void, name = DEFAULT_QUEUE): Promise<JobState[]> {
  for (;;) {
    const st = await jobStates(url, ids, name);
    const done = st.filter((s) => s.state === 'completed' || s.state === 'failed').length;
    onProgress?.(done, ids.length);
    if (done === ids.length) return st;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Counts and the dead-letter list (failed jobs with their reasons). */
export async function queueStatus(url: string, name = DEFAULT_QUEUE) {
  await probeQueue(url);
  const q = new Queue<JobData>(name, { connection: connection(url) });
  try {
    const counts = await q.getJobCounts();
    const failed = (await q.getFailed(0, 999)).map((j) => ({ id: j.id, input: j.data.item.input, reason: j.failedReason, attempts: j.attemptsMade }));
    return { counts, failed };
  } finally {
    await q.close();
  }
}

export interface WorkerOptions {
  readonly name?: string;
  readonly concurrency?: number;
  readonly threads?: number;
  /** ms a job's lock lasts without renewal before the job counts as stalled (default 30 s). */
  readonly lockDuration?: number;
  readonly onJob?: (job: { id: string; input: string; ok: boolean; code?: string }) => void;
}

/** Runs queue jobs until `close()` is called. One codec per model, loaded once. */
export function runWorker(url: string, wo: WorkerOptions = {}): { close: () => Promise<void>; worker: Worker<JobData> } {
  const codecs = new Map<string, Promise<Codec>>();
  const codecFor = (id: string | undefined) => {
    const key = id ?? '';
    if (!codecs.has(key)) codecs.set(key, createCodec({ threads: wo.threads ?? 2, ...(id ? { model: id } : {}) }));
    return codecs.get(key)!;
  };
  const worker = new Worker<JobData>(wo.name ?? DEFAULT_QUEUE, async (job: Job<JobData>) => {
    const { item, opts, model } = job.data;
    try {
      let id = model;
      if (opts.mode === 'decode' && !id) {
        const { inspectContainer } = await import('../bitstream/container.js');
        const { readFile } = await import('node:fs/promises');
        id = inspectContainer(new Uint8Array(await readFile(item.input))).modelId;
      }
      const r = await processFile(await codecFor(id), item, opts);
      wo.onJob?.({ id: job.id!, input: item.input, ok: true });
      return r;
    } catch (e) {
      const { code, message } = errorOf(e);
      wo.onJob?.({ id: job.id!, input: item.input, ok: false, code });
      // a bad input fails the same way every time: straight to the dead-letter list, no retries
      if (PERMANENT.has(code)) throw new UnrecoverableError(`${code}: ${message}`);
      throw new Error(`${code}: ${message}`);
    }
  }, {
    connection: connection(url),
    concurrency: wo.concurrency ?? 1,
    lockDuration: wo.lockDuration ?? 30_000,
    stalledInterval: Math.max(1000, Math.floor((wo.lockDuration ?? 30_000) / 2)),
    maxStalledCount: 2,
  });
  return {
    worker,
    close: async () => {
      await worker.close();
      for (const c of codecs.values()) await (await c).dispose();
    },
  };
}

