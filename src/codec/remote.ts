// A TileEngine in another thread: the codec's tiles go to workers (worker_threads in Node, Web
// Workers in browsers) over a message port. The arrays of each call are transferred, not copied.
import { CodecError, ERROR_CODES, type ErrorCode } from '../core/errors.js';
import type { TileEngine, TileSymbols, ZRegion } from './engine.js';
import type { MeanSide } from './helper.js';

/** The part of MessagePort / Worker / parentPort both sides use. */
export interface Port {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
}

type Method = 'analyze' | 'hyperAnalyze' | 'encodeLatent' | 'decodeLatent' | 'synthesize' | 'refine' | 'preview' | 'meanStart' | 'meanPush' | 'meanFinish' | 'dispose';

interface Request {
  readonly id: number;
  readonly method: Method;
  readonly args: unknown[];
}

interface Reply {
  readonly id: number;
  readonly result?: unknown;
  readonly error?: { code?: string; message: string };
}

/** The ArrayBuffers under the typed arrays of a value (one level into objects and arrays). */
function buffers(v: unknown, out: ArrayBuffer[] = [], depth = 0): ArrayBuffer[] {
  if (ArrayBuffer.isView(v)) {
    const b = v.buffer;
    if (b instanceof ArrayBuffer && !out.includes(b)) out.push(b);
  } else if (v && typeof v === 'object' && depth < 2) {
    for (const x of Object.values(v)) buffers(x, out, depth + 1);
  }
  return out;
}

/** The caller's side: forwards each method to the worker behind `port`. Feed it every message
 *  the port receives through `receive`. */
export class RemoteEngine implements TileEngine, MeanSide {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private failure: unknown;

  /** `busy(true)` when a call starts with none in flight, `busy(false)` when the last one ends
   *  (Node: keep the process alive only while a worker has work). */
  constructor(private readonly port: Port, private readonly terminate: () => Promise<unknown> | void, private readonly busy?: (b: boolean) => void) {}

  private settle(id: number) {
    const p = this.pending.get(id);
    this.pending.delete(id);
    if (p && this.pending.size === 0) this.busy?.(false);
    return p;
  }

  receive(msg: Reply): void {
    const p = this.settle(msg.id);
    if (!p) return;
    if (msg.error) {
      const code = msg.error.code;
      p.reject(code && (ERROR_CODES as readonly string[]).includes(code) ? new CodecError(code as ErrorCode, msg.error.message) : new Error(msg.error.message));
    } else {
      p.resolve(msg.result);
    }
  }

  /** Whether the worker died (fail()): every later call fails. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** The worker died: every call in flight and every later one fails. */
  fail(e: unknown): void {
    this.failure = e;
    const all = [...this.pending.values()];
    this.pending.clear();
    this.busy?.(false);
    for (const p of all) p.reject(e);
  }

  private call<T>(method: Method, args: unknown[]): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      if (this.pending.size === 0) this.busy?.(true);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.port.postMessage({ id, method, args } satisfies Request, buffers(args));
    });
  }

  analyze(x: Float32Array, h: number, w: number): Promise<Float32Array> {
    return this.call('analyze', [x, h, w]);
  }

  hyperAnalyze(yG: Float32Array, lh: number, lw: number): Promise<Float32Array> {
    return this.call('hyperAnalyze', [yG, lh, lw]);
  }

  /** A worker parses whole tiles in its own thread: `helper` does not apply. */
  encodeLatent(yG: Float32Array, lh: number, lw: number, z: ZRegion, rdo?: Float32Array) {
    return this.call<{ z: Uint8Array; y: Uint8Array }>('encodeLatent', rdo ? [yG, lh, lw, z, rdo] : [yG, lh, lw, z]);
  }

  decodeLatent(y: Uint8Array, lh: number, lw: number, z: ZRegion, channels?: number): Promise<TileSymbols> {
    // the y stream is a view into the whole file: send a copy, never the file's buffer
    return this.call('decodeLatent', channels === undefined ? [y.slice(), lh, lw, z] : [y.slice(), lh, lw, z, channels]);
  }

  refine(muH: Float32Array, yHatG: Float32Array, lh: number, lw: number): Promise<Float32Array> {
    return this.call('refine', [muH, yHatG, lh, lw]);
  }

  preview(scale: number, yHat: Float32Array, channels: number, lh: number, lw: number): Promise<Float32Array> {
    return this.call('preview', [scale, yHat, channels, lh, lw]);
  }

  synthesize(yHat: Float32Array, lh: number, lw: number): Promise<Float32Array> {
    return this.call('synthesize', [yHat, lh, lw]);
  }

  meanStart(id: number, from: ZRegion | Float32Array, lh: number, lw: number, slices: number, withMu: boolean): Promise<Float32Array | undefined> {
    return this.call('meanStart', [id, from, lh, lw, slices, withMu]);
  }

  meanPush(id: number, q: Int32Array): Promise<Float32Array | undefined> {
    return this.call('meanPush', [id, q]);
  }

  meanFinish(id: number): Promise<{ yHatG: Float32Array; muH?: Float32Array }> {
    return this.call('meanFinish', [id]);
  }

  async dispose(): Promise<void> {
    try {
      if (!this.failure) await this.call('dispose', []);
    } finally {
      await this.terminate();
    }
  }
}

/** The worker's side: runs requests arriving on `port` against `engine`, one at a time. */
export function serveEngine(port: Port, engine: Promise<TileEngine & MeanSide>): (msg: Request) => Promise<void> {
  let queue = Promise.resolve();
  return (msg: Request) => {
    queue = queue.then(async () => {
      let reply: Reply;
      try {
        const e = await engine;
        const fn = (e[msg.method] as (...a: unknown[]) => Promise<unknown>).bind(e);
        reply = { id: msg.id, result: await fn(...msg.args) };
      } catch (err) {
        const e = err as { code?: string; message?: string };
        reply = { id: msg.id, error: { ...(e?.code ? { code: e.code } : {}), message: e?.message ?? String(err) } };
      }
      port.postMessage(reply, buffers(reply.result));
    });
    return queue;
  };
}
