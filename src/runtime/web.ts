// onnxruntime-web adapter (the only file that imports onnxruntime-web): wasm with threads, and
// WebGPU for the float networks when the environment has an adapter. Integer-only networks (the
// scale-index network, which decides the parsing path) always run on wasm, never on a GPU.
import * as ort from 'onnxruntime-web';

import { adaptSession } from './session.js';
import type { InferenceSession, Runtime, RuntimeOptions, SessionOptions } from './types.js';

export interface WebRuntimeOptions extends RuntimeOptions {
  /** Try WebGPU for float networks (default true in a browser with `navigator.gpu`). */
  readonly webgpu?: boolean;
  /** Where the .wasm files are served from (browser builds; Node finds them itself). */
  readonly wasmPaths?: string;
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
    name: `onnxruntime-web (${gpu ? 'webgpu + ' : ''}wasm, ${threads} thread${threads === 1 ? '' : 's'})`,
    async createSession(model: Uint8Array, sopts: SessionOptions = {}): Promise<InferenceSession> {
      const providers = gpu && !sopts.integerOnly ? ['webgpu', 'wasm'] : ['wasm'];
      const session = await ort.InferenceSession.create(model, { executionProviders: providers, graphOptimizationLevel: 'all' });
      return adaptSession(session, (v) => new ort.Tensor(v.dtype, v.data, v.dims));
    },
  };
}
