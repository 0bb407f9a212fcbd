// The one interface every ONNX Runtime adapter implements. Only src/runtime/node.ts imports
// onnxruntime-node and only src/runtime/web.ts imports onnxruntime-web.

export type DType = 'float32' | 'int32' | 'uint8';
export type TypedArrayOf<D extends DType> = D extends 'float32' ? Float32Array : D extends 'int32' ? Int32Array : Uint8Array;

export interface TensorData {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: Float32Array | Int32Array | Uint8Array;
}

export interface InferenceSession {
  /** The graph's output names in order; the first is the network's primary output. */
  readonly outputNames: readonly string[];
  /** Runs the graph and returns the outputs named in `fetches` (default: all). */
  run(feeds: Readonly<Record<string, TensorData>>, fetches?: readonly string[]): Promise<Record<string, TensorData>>;
  /** Ends profiling and writes the profile (when the runtime profiles). */
  endProfiling?(): void;
  dispose(): Promise<void>;
}

export interface RuntimeOptions {
  /** Intra-op threads (default: runtime's choice). */
  readonly threads?: number;
  /** Write ONNX Runtime's per-operator profile of every session to files with this prefix
   *  (onnxruntime-node; benchmarks only). */
  readonly profilePrefix?: string;
  /** Give the codec `reclaim` (onnxruntime-node: V8's collection, made callable by setting V8's
   *  --expose-gc flag at run time, a process-wide change; default off in the library, on in the
   *  CLI): pictures of more than 4 tiles then free their pieces' leftovers as they go. */
  readonly reclaim?: boolean;
}

export interface SessionOptions {
  /** The network uses integer ops only and decides the parsing path: run it on the CPU. */
  readonly integerOnly?: boolean;
  /** So little work per call that a second thread costs more than it gives: one thread. */
  readonly small?: boolean;
  /** Run many times in a row on inputs of varying size (hyper-decoder, channel context): no
   *  memory arena kept at its largest call. */
  readonly noArena?: boolean;
}

export interface Runtime {
  /** Backend and thread count, for logs and benchmarks. */
  readonly name: string;
  createSession(model: Uint8Array, opts?: SessionOptions): Promise<InferenceSession>;
  /** Frees now what a tile's work left unreferenced (tensors, crops), where the platform allows
   *  it; the codec calls it after each tile of a picture of many tiles (codec.ts, RECLAIM_TILES). */
  reclaim?(): void;
}
