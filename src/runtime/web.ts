// onnxruntime-web adapter (the only file that imports onnxruntime-web): wasm with threads, and
// WebGPU for the float networks when the environment has an adapter. Integer-only networks (the
// scale-index network, which decides the parsing path) always run on wasm, never on a GPU.
import * as ort from 'onnxruntime-web';

import { CodecError } from '../core/errors.js';
import type { InferenceSession, Runtime, RuntimeOptions, SessionOptions, TensorData } from './types.js';

export interface WebRuntimeOptions extends RuntimeOptions {
  /** Try WebGPU for float networks (default true in a browser with `navigator.gpu`). */
  readonly webgpu?: boolean;
  /** Where the .wasm files are served from (browser builds; Node finds them itself). */
  readonly wasmPaths?: string;
}

function toTensorData(t: ort.Tensor): TensorData {
  if (t.type !== 'float32' && t.type !== 'int32' && t.type !== 'uint8') {
    throw new CodecError('E_MODEL_INTEGRITY', `unexpected output type ${t.type}`);
  }
  return { dtype: t.type, dims: t.dims, data: t.data as Float32Array | Int32Array | Uint8Array };
}

async function hasWebGpuAdapter(): Promise<boolean> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) != null;
  } catch {
    return false;
  }
}

export async function webRuntime(opts: WebRuntimeOptions = {}): Promise<Runtime> {
  // numThreads is global to onnxruntime-web and must be set before the first session.
  if (opts.threads) ort.env.wasm.numThreads = opts.threads;
  if (opts.wasmPaths) ort.env.wasm.wasmPaths = opts.wasmPaths;
  const gpu = opts.webgpu !== false && (await hasWebGpuAdapter());
  const threads = ort.env.wasm.numThreads ?? 'default';
  return {
    name: `onnxruntime-web (${gpu ? 'webgpu + ' : ''}wasm, ${threads} threads)`,
    async createSession(model: Uint8Array, sopts: SessionOptions = {}): Promise<InferenceSession> {
      const providers = gpu && !sopts.integerOnly ? ['webgpu', 'wasm'] : ['wasm'];
      const session = await ort.InferenceSession.create(model, { executionProviders: providers, graphOptimizationLevel: 'all' });
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
