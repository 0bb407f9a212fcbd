// onnxruntime-web adapter (the only file that imports onnxruntime-web): wasm with threads, and
// WebGPU for the float networks when the environment has an adapter. Integer-only networks (the
// scale-index network, which decides the parsing path) always run on wasm, never on a GPU.
// In a browser without a WebGPU adapter the plain wasm build is loaded, not the JSEP one
// (ort-builds.ts): half the download, and ONNX Runtime starts about three times faster.
import type * as Ort from 'onnxruntime-web';

import { ORT_BUILDS, type OrtBuild } from './ort-builds.js';
import { adaptSession } from './session.js';
import type { InferenceSession, Runtime, RuntimeOptions, SessionOptions } from './types.js';

export interface WebRuntimeOptions extends RuntimeOptions {
  /** Try WebGPU for float networks (default true in a browser with `navigator.gpu`). */
  readonly webgpu?: boolean;
  /** Where the .wasm files are served from (browser builds; Node finds them itself). */
  readonly wasmPaths?: string;
}

export interface WebRuntime extends Runtime {
  /** The onnxruntime-web build in use: 'webgpu' (JSEP) only when WebGPU has an adapter. */
  readonly build: OrtBuild;
  /** The files that build loads from `wasmPaths` (its glue and its .wasm), ort-builds.ts. */
  readonly files: readonly string[];
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

/** Node resolves both entries to onnxruntime-web's Node build (wasm only); `onnxruntime-web/wasm`
 *  there is the browser bundle, which cannot load its .wasm. */
const inNode = () => typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

/** onnxruntime-web in `build` (each entry is loaded once, with its own `env`). */
function loadOrt(build: OrtBuild): Promise<typeof Ort> {
  return build === 'webgpu' || inNode() ? import('onnxruntime-web') : import('onnxruntime-web/wasm');
}

export async function webRuntime(opts: WebRuntimeOptions = {}): Promise<WebRuntime> {
  const gpu = opts.webgpu !== false && (await hasWebGpuAdapter());
  const build: OrtBuild = gpu ? 'webgpu' : 'wasm';
  const ort = await loadOrt(build);
  // numThreads is global to onnxruntime-web and must be set before the first session.
  if (opts.threads) ort.env.wasm.numThreads = opts.threads;
  if (opts.wasmPaths) ort.env.wasm.wasmPaths = opts.wasmPaths;
  const threads = ort.env.wasm.numThreads ?? 'default';
  return {
    name: `onnxruntime-web (${gpu ? 'webgpu + ' : ''}wasm, ${threads} thread${threads === 1 ? '' : 's'})`,
    build,
    files: ORT_BUILDS[build],
    async createSession(model: Uint8Array, sopts: SessionOptions = {}): Promise<InferenceSession> {
      const providers = gpu && !sopts.integerOnly ? ['webgpu', 'wasm'] : ['wasm'];
      const session = await ort.InferenceSession.create(model, { executionProviders: providers, graphOptimizationLevel: 'all' });
      return adaptSession(session, (v) => new ort.Tensor(v.dtype, v.data, v.dims));
    },
  };
}
