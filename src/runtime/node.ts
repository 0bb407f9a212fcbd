// onnxruntime-node adapter (the only file that imports onnxruntime-node).
import ort from 'onnxruntime-node';

import { CodecError } from '../core/errors.js';
import type { InferenceSession, Runtime, RuntimeOptions, TensorData } from './types.js';

function toTensorData(t: ort.Tensor): TensorData {
  if (t.type !== 'float32' && t.type !== 'int32' && t.type !== 'uint8') {
    throw new CodecError('E_MODEL_INTEGRITY', `unexpected output type ${t.type}`);
  }
  return { dtype: t.type, dims: t.dims, data: t.data as Float32Array | Int32Array | Uint8Array };
}

export function nodeRuntime(opts: RuntimeOptions = {}): Runtime {
  return {
    name: `onnxruntime-node (${opts.threads ?? 'default'} threads)`,
    async createSession(model: Uint8Array): Promise<InferenceSession> {
      const session = await ort.InferenceSession.create(model, {
        graphOptimizationLevel: 'all',
        ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
      });
      return {
        async run(feeds) {
          const inputs: Record<string, ort.Tensor> = {};
          for (const [k, v] of Object.entries(feeds)) inputs[k] = new ort.Tensor(v.dtype, v.data, v.dims);
          const out = await session.run(inputs);
          const res: Record<string, TensorData> = {};
          for (const [k, v] of Object.entries(out)) res[k] = toTensorData(v);
          return res;
        },
        dispose: () => session.release(),
      };
    },
  };
}
