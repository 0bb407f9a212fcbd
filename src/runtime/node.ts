// onnxruntime-node adapter (the only file that imports onnxruntime-node).
import ort from 'onnxruntime-node';

import { adaptSession } from './session.js';
import type { InferenceSession, Runtime, RuntimeOptions, SessionOptions } from './types.js';

export function nodeRuntime(opts: RuntimeOptions = {}): Runtime {
  return {
    name: `onnxruntime-node (${opts.threads ?? 'default'} threads)`,
    async createSession(model: Uint8Array, sopts: SessionOptions = {}): Promise<InferenceSession> {
      const threads = sopts.small ? 1 : opts.threads;
      const session = await ort.InferenceSession.create(model, {
        graphOptimizationLevel: 'all',
        ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
        ...(opts.profilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {}),
      });
      return { ...adaptSession(session, (v) => new ort.Tensor(v.dtype, v.data, v.dims)), endProfiling: () => session.endProfiling() };
    },
  };
}
