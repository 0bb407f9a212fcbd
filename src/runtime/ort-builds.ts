// onnxruntime-web's browser builds and the files each one loads from env.wasm.wasmPaths: read by
// the runtime adapter (web.ts), which picks the build, and by the page's build
// (web/vite.config.ts), which serves the files under ort/ and lists them in precache.json.

export type OrtBuild = 'webgpu' | 'wasm';

export const ORT_BUILDS: Readonly<Record<OrtBuild, readonly string[]>> = Object.freeze({
  /** WebGPU (JSEP) and wasm: only where WebGPU has an adapter (its wasm is 28 MB). */
  webgpu: Object.freeze(['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm']),
  /** wasm only: half the download (14 MB) and a third of the start-up time of the JSEP build. */
  wasm: Object.freeze(['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']),
});
