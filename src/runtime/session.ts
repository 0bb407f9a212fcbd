// The InferenceSession adapter shared by the onnxruntime-node and onnxruntime-web back ends (both
// expose onnxruntime-common's API; each adapter passes its own package's Tensor class).
import { CodecError } from '../core/errors.js';
import type { InferenceSession, TensorData } from './types.js';

interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

interface OrtSession<T extends OrtTensor> {
  run(feeds: Record<string, T>): Promise<Record<string, T>>;
  release(): Promise<void>;
}

export function adaptSession<T extends OrtTensor>(session: OrtSession<T>, tensor: (t: TensorData) => T): InferenceSession {
  return {
    async run(feeds) {
      const inputs: Record<string, T> = {};
      for (const [k, v] of Object.entries(feeds)) inputs[k] = tensor(v);
      const out = await session.run(inputs);
      const res: Record<string, TensorData> = {};
      for (const [k, t] of Object.entries(out)) {
        if (t.type !== 'float32' && t.type !== 'int32' && t.type !== 'uint8') throw new CodecError('E_MODEL_INTEGRITY', `unexpected output type ${t.type}`);
        res[k] = { dtype: t.type, dims: t.dims, data: t.data as Float32Array | Int32Array | Uint8Array };
      }
      return res;
    },
    dispose: () => session.release(),
  };
}
