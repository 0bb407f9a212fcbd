// Worker threads that take a Codec's tiles, each with its own ONNX Runtime sessions, so that big
// images use every core (tiles are independent after ẑ; see FORMAT.md).
import { Worker } from 'node:worker_threads';

import { RemoteEngine } from '../codec/remote.js';
import type { TileEngine } from '../codec/engine.js';
import { CodecError } from '../core/errors.js';

/** `count` workers on the package in `modelDir`, each with `threads` intra-op threads. */
export function workerEngines(modelDir: string, count: number, threads = 1): TileEngine[] {
  const engines: TileEngine[] = [];
  for (let i = 0; i < count; i++) {
    const w = new Worker(new URL('./tile-worker.js', import.meta.url), { workerData: { modelDir, threads } });
    // the worker keeps the process alive only while it has work (a forgotten dispose() must not hang it)
    const e = new RemoteEngine(w, () => w.terminate(), (busy) => (busy ? w.ref() : w.unref()));
    w.on('message', (m) => e.receive(m));
    w.on('error', (err) => e.fail(err));
    w.on('exit', (code) => e.fail(new CodecError('E_IO', `tile worker exited with code ${code}`)));
    w.unref();
    engines.push(e);
  }
  return engines;
}
