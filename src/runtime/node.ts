// onnxruntime-node adapter (the only file that imports onnxruntime-node).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import ort from 'onnxruntime-node';

import { adaptSession } from './session.js';
import type { InferenceSession, Runtime, RuntimeOptions, SessionOptions } from './types.js';

// ONNX Runtime 1.29+ has telemetry on Linux and macOS: a device id and a database under
// ~/.cache/Microsoft/DeveloperTools/.onnxruntime, an empty /tmp/mat-debug-<pid>.log left by every
// process, and uploads to Microsoft. Off unless the environment says otherwise: the variable is
// read when the first session is created (the OrtEnv is process-wide, so workers share it).
process.env['ORT_DISABLE_TELEMETRY'] ??= '1';

/** V8's full collection, made callable at run time (the documented `--expose-gc` flag, set after
 *  start-up, takes effect in new contexts: one is made to fetch `gc`); undefined where it is not
 *  available. Why: each tile of a decode leaves tens of MB of typed arrays (μ_h of its region and
 *  its crop, ORT's outputs) that V8 frees only at its next collection, which its external-memory
 *  heuristics put off for several tiles: a 24 MP decode at 1/8 peaked at 362–380 MB, and at 278 MB
 *  with a collection after each tile, in about the same time. */
function v8Collect(): (() => void) | undefined {
  const own = (globalThis as { gc?: () => void }).gc;
  if (typeof own === 'function') return () => own();
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}

let collect: (() => void) | null | undefined = null;

export function nodeRuntime(opts: RuntimeOptions = {}): Runtime {
  return {
    ...(opts.reclaim ? {
      reclaim() {
        if (collect === null) collect = v8Collect(); // once per process, on first use
        collect?.();
      },
    } : {}),
    name: `onnxruntime-node (${opts.threads === 1 ? '1 thread' : `${opts.threads ?? 'default'} threads`})`,
    async createSession(model: Uint8Array, sopts: SessionOptions = {}): Promise<InferenceSession> {
      const threads = sopts.small ? 1 : opts.threads;
      const session = await ort.InferenceSession.create(model, {
        graphOptimizationLevel: 'all',
        // A repeated network's memory arena only grows, to its largest call: on a 24 MP decode at
        // 1/8 the arenas of the ten hyper/context/preview sessions held ~90 MB (peak 390 → 300 MB),
        // with no measurable change in Kodak decode time (interleaved runs, bench/scale.ts). Nor
        // a memory pattern (one block per call planned for all intermediates, per input shape):
        // without it each intermediate is allocated and freed on its own, and a 24 MP decode at
        // 1/8 through the CLI peaked at 268–293 MB against 306–323 (5 interleaved runs each),
        // Kodak at 1/8 in 20.7 against 21.0 ms (medians of 8 processes, alternating).
        ...(sopts.noArena ? { enableCpuMemArena: false, enableMemPattern: false } : {}),
        ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
        // Every session has its own thread pool, and ORT's pool threads spin after each call: with
        // a dozen sessions called in turn, the spinning threads of the last one took the cores from
        // the next. Off, and with the hyper/context graphs of ≥ 256 kB on two threads (engine.ts):
        // Kodak q75 on 2 threads decodes ×0.86–0.96 and encodes ×0.80–0.85 of the time with
        // spinning on and those graphs on one thread (bench/sessions.ts, same run, interleaved).
        extra: { session: { intra_op: { allow_spinning: '0' } } },
        ...(opts.profilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {}),
      });
      return { ...adaptSession(session, (v) => new ort.Tensor(v.dtype, v.data, v.dims)), endProfiling: () => session.endProfiling() };
    },
  };
}
