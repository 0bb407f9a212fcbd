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
  readonly outputNames: readonly string[];
  run(feeds: Record<string, T>, fetches: readonly string[]): Promise<Record<string, T>>;
  release(): Promise<void>;
}

export function adaptSession<T extends OrtTensor>(session: OrtSession<T>, tensor: (t: TensorData) => T): InferenceSession {
  return {
    outputNames: session.outputNames,
    async run(feeds, fetches = session.outputNames) {
      const inputs: Record<string, T> = {};
      for (const [k, v] of Object.entries(feeds)) inputs[k] = tensor(v);
      const unknown = fetches.find((n) => !session.outputNames.includes(n));
      if (unknown !== undefined) throw new CodecError('E_MODEL_INTEGRITY', `the network has no output ${unknown}`);
      // Only the fetched outputs are copied out (explain outputs stay inside the runtime).
      const out = await session.run(inputs, fetches);
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
