// Per-tile work on the engines (this thread's sessions or workers): scheduling, cancellation
// between tiles, and progress in one unit, the coding tile, for every stage — work done in other
// pieces (the analysis runs in blocks of at most 512 px, four to a 1024-px tile) is reported as
// the tiles it amounts to, and a stage of two passes over the tiles (coding: ẑ, then y) reports
// only its second, so that no count runs twice.
import { CodecError } from '../core/errors.js';
import type { Progress, WorkOptions } from './codec.js';
import type { Runtime } from '../runtime/types.js';
import type { TileEngine } from './engine.js';

export function aborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CodecError('E_ABORTED', 'the operation was aborted');
}

/** Lets queued events (a cancel message, a click) run: a wasm inference can resolve through
 *  microtasks alone, and then an abort would only be seen once everything is done. A message to
 *  ourselves queues behind them (scheduler.yield() would not: its continuation goes first). */
function yieldToEvents(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((r) => setTimeout(r, 0));
  return new Promise((r) => {
    const c = new MessageChannel();
    c.port1.onmessage = () => {
      c.port1.close();
      r();
    };
    c.port2.postMessage(null);
  });
}

/** What the codec adds to a stage's options on a picture of many tiles: a call after each item
 *  that frees what the item left behind (Runtime.reclaim). */
export interface Reclaiming {
  readonly reclaim?: () => void;
}

/** Pictures of more coding tiles than this free what their pieces of work leave behind as they go
 *  (Runtime.reclaim): on one or a few tiles the collections would cost time and save nothing. */
export const RECLAIM_TILES = 4;
/** At most one reclaim per this many pixels of work (a 1024-px tile's worth): a collection costs
 *  ~10 ms however little was left, so pieces of 128 px call it every 64th. */
const RECLAIM_PIXELS = 1024 * 1024;

/** `opts` of a stage over pieces of `piece` pixels a side in a picture of `tiles` coding tiles,
 *  with the runtime's reclaim after every piece or every few when the picture has many tiles; any
 *  `reclaim` the caller's object carried is dropped. */
export function reclaiming<O extends WorkOptions>(opts: O, piece: number, tiles: number, runtime: Runtime): O & Reclaiming {
  const { reclaim: _, ...rest } = opts as O & Reclaiming;
  if (tiles <= RECLAIM_TILES || !runtime.reclaim) return rest as O;
  const every = Math.max(1, Math.round(RECLAIM_PIXELS / (piece * piece)));
  let n = 0;
  return { ...(rest as O), reclaim: () => (++n % every === 0 ? runtime.reclaim!() : undefined) };
}

/** Runs `work(engine, item)` for every item, each engine taking the next item when it is free. */
export async function schedule<T>(engines: readonly TileEngine[], n: number, work: (e: TileEngine, i: number) => Promise<T>, opts: WorkOptions & Reclaiming, stage: Progress['stage']): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  let done = 0;
  const lane = async (e: TileEngine) => {
    while (next < n) {
      if (opts.signal) await yieldToEvents();
      aborted(opts.signal);
      const i = next++;
      out[i] = await work(e, i);
      opts.reclaim?.();
      opts.onProgress?.({ stage, done: ++done, total: n });
    }
  };
  await Promise.all(engines.slice(0, Math.max(1, Math.min(engines.length, n))).map(lane));
  aborted(opts.signal);
  return out;
}

/** `opts` for work done in `pieces` pieces (pieces ≥ tiles), reported as floor(done · tiles /
 *  pieces) of `tiles` coding tiles, each count once: the last piece reports tiles/tiles. */
export function inTiles<O extends WorkOptions>(opts: O, tiles: number, pieces: number): O {
  const report = opts.onProgress;
  if (!report || tiles === pieces) return opts;
  let last = 0;
  return {
    ...opts,
    onProgress: (p) => {
      const done = Math.floor((p.done * tiles) / pieces);
      if (done > last) report({ stage: p.stage, done: (last = done), total: tiles });
    },
  };
}

/** `opts` for one part of a stage done in parts (a tile row at a time): its items reported after
 *  the `before` done in the parts before it, out of `total`. */
export function offsetProgress<O extends WorkOptions>(opts: O, before: number, total: number): O {
  const report = opts.onProgress;
  return report ? { ...opts, onProgress: (p: Progress) => report({ stage: p.stage, done: before + p.done, total }) } : opts;
}

/** `opts` without progress, for a first pass whose tiles the second pass reports. */
export function quiet(opts: WorkOptions & Reclaiming): WorkOptions & Reclaiming {
  return { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.reclaim ? { reclaim: opts.reclaim } : {}) };
}
