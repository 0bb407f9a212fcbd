// Worker threads that take a Codec's tiles, each with its own ONNX Runtime sessions, so that big
// images use every core (tiles are independent after ẑ; see FORMAT.md), and the helper that takes
// the float half of parsing beside the main thread (codec/helper.ts, MeanSide).
import { Worker } from 'node:worker_threads';

import type { ZRegion } from '../codec/engine.js';
import type { Helper } from '../codec/helper.js';
import { RemoteEngine } from '../codec/remote.js';
import { CodecError } from '../core/errors.js';
import { meanHalf, type ModelPackage } from '../model/package.js';

/** A worker on `workerData` (tile-worker.ts): its package from `modelDir`, or `pkg` as given. */
function spawn(workerData: { modelDir: string; threads: number } | { pkg: ModelPackage; threads: number }): RemoteEngine {
  const w = new Worker(new URL('./tile-worker.js', import.meta.url), { workerData });
  // the worker keeps the process alive only while it has work (a forgotten dispose() must not hang it)
  const e = new RemoteEngine(w, () => w.terminate(), (busy) => (busy ? w.ref() : w.unref()));
  w.on('message', (m) => e.receive(m));
  w.on('error', (err) => e.fail(err));
  w.on('exit', (code) => e.fail(new CodecError('E_IO', `worker exited with code ${code}`)));
  w.unref();
  return e;
}

/** `count` workers on the package in `modelDir`, each with `threads` intra-op threads. */
export function workerEngines(modelDir: string, count: number, threads = 1): RemoteEngine[] {
  return Array.from({ length: count }, () => spawn({ modelDir, threads }));
}

/** The helper: a worker (one intra-op thread) that runs the float half of parsing, started on
 *  first use with the networks it runs (meanHalf: nothing to read or verify again), and again
 *  after one died. An encoder or decoder that never parses never starts it. `start`: how a
 *  worker is made (tests). */
export function meanHelper(
  model: ModelPackage,
  start: () => RemoteEngine = () => spawn({ pkg: meanHalf(model), threads: 1 }),
): Helper {
  let worker: RemoteEngine | undefined;
  const get = () => {
    // a worker that died (out of memory, killed) fails the calls it had; the next parse gets a new one
    if (worker?.failed) {
      void worker.dispose().catch(() => undefined);
      worker = undefined;
    }
    return (worker ??= start());
  };
  return {
    meanStart: (id: number, from: ZRegion | Float32Array, lh: number, lw: number, slices: number, withMu: boolean) => get().meanStart(id, from, lh, lw, slices, withMu),
    meanPush: (id: number, q: Int32Array) => get().meanPush(id, q),
    meanFinish: (id: number) => get().meanFinish(id),
    dispose: async () => {
      await worker?.dispose();
    },
  };
}
