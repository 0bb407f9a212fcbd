// The per-tile work of the codec on ONNX Runtime sessions: analysis (g_a) of a padded pixel
// region, entropy coding and parsing of one tile's latent (hyperprior + channel context), and
// synthesis (g_s) of a latent region. The parsing path (ẑ, table indices, stream lengths) is
// integer-only; see docs/MODEL.md and docs/determinism.md.
import type { TileStreams } from '../bitstream/container.js';
import { CodecError } from '../core/errors.js';
import { decodeValues, encodeValues, RansDecoder } from '../entropy/rans.js';
import type { CdfTable } from '../entropy/tables.js';
import { narrowInput, narrowOutput } from '../model/narrow.js';
import { type ModelPackage, type NetworkRole, NETWORK_ROLES } from '../model/package.js';
import type { InferenceSession, Runtime, TensorData } from '../runtime/types.js';
import { chooseSymbols } from './effort.js';
import type { Helper, MeanChain, MeanSide } from './helper.js';
import { cropPlanar, type Rect } from './tiles.js';

/** The parsed latent of one tile: transmitted symbols, their table indices, and ŷ in the gained
 *  domain *before* the model's refinement, with μ_h when the model refines (the codec refines
 *  across tiles, each with a halo: refine.ts), all planar [channels, lh, lw]. */
export interface TileSymbols {
  readonly zHat: Int32Array;
  readonly k: Uint8Array;
  readonly q: Int32Array;
  readonly yHatG: Float32Array;
  readonly muH?: Float32Array;
}

/** ẑ around a tile: the tile's ẑ rectangle grown by the model's hyper halo (clipped to the ẑ
 *  grid), planar [Nz, h, w], and where the tile sits in it (ẑ units). */
export interface ZRegion {
  readonly zHat: Int32Array;
  readonly h: number;
  readonly w: number;
  readonly tile: Rect;
}

/** The work of one tile. The codec runs it on its own sessions or hands it to workers. */
export interface TileEngine {
  /** g_a on planar RGB [3, h, w] (h, w multiples of 16) → y [M, h/16, w/16] (no gain). */
  analyze(x: Float32Array, h: number, w: number): Promise<Float32Array>;
  /** h_a on a gained latent region [M, lh, lw] (multiples of 4) → z [Nz, lh/4, lw/4], not rounded. */
  hyperAnalyze(yG: Float32Array, lh: number, lw: number): Promise<Float32Array>;
  /** Codes a tile: its ẑ (the tile part of `z`) and its gained latent y_g [M, lh, lw]; with
   *  `rdo` (one distortion weight per channel, effort.ts) the symbols are chosen for rate and
   *  distortion instead of rounded. */
  encodeLatent(yG: Float32Array, lh: number, lw: number, z: ZRegion, rdo?: Float32Array, helper?: boolean): Promise<TileStreams>;
  /** Parses a tile's y stream back to its symbols and ŷ_g, given the ẑ around it. With `channels`
   *  (the end of a context slice) it stops reading there: the first slices only, ŷ_g without the
   *  refinement (a reduced-size decode, scale.ts). `helper` (both; default true): the float half
   *  of parsing may run on the engine's helper thread (SessionEngine), false keeps it here. */
  decodeLatent(y: Uint8Array, lh: number, lw: number, z: ZRegion, channels?: number, helper?: boolean): Promise<TileSymbols>;
  /** The refinement (LRP) on a latent region: (μ_h, ŷ_g) of the channels it covers (the model's
   *  refineChannels, planar [R, lh, lw]) → those channels refined. */
  refine(muH: Float32Array, yHatG: Float32Array, lh: number, lw: number): Promise<Float32Array>;
  /** The preview head of 1/`scale` size on ŷ [channels, lh, lw] → RGB [3, 16·lh/scale, 16·lw/scale]. */
  preview(scale: number, yHat: Float32Array, channels: number, lh: number, lw: number): Promise<Float32Array>;
  /** g_s on ŷ [M, lh, lw] → RGB [3, 16·lh, 16·lw] (float, not clamped). */
  synthesize(yHat: Float32Array, lh: number, lw: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

const f32 = (dims: number[], data: Float32Array): TensorData => ({ dtype: 'float32', dims, data });
/** Hyper/context graphs smaller than this run on one thread. hic-base-v6, Kodak q75, 2 threads:
 *  with hyper_mean, hyper_scale, refine and the two largest slice graphs (≥ 256 kB) on two threads
 *  decode took 116.4 ms against 125.5 with all of them on one, and 118.5 with every graph on two
 *  (one interleaved run, medians of 24 images; spinning off in both). */
const SMALL_GRAPH_BYTES = 256_000;

/** Channel of every element of a planar [channels, …] tensor of n elements (z's table ids). */
export function channelIds(n: number, channels: number): Uint16Array {
  const ids = new Uint16Array(n);
  for (let c = 0; c < channels; c++) ids.fill(c, (c * n) / channels, ((c + 1) * n) / channels);
  return ids;
}

/** Decodes the ẑ stream of a tile ([channels, h, w], channel c with z table c). */
export function decodeZ(stream: Uint8Array, channels: number, h: number, w: number, tables: readonly CdfTable[]): Int32Array {
  const n = channels * h * w;
  const ids = channelIds(n, channels);
  return decodeValues(stream, ids, tables);
}

export class SessionEngine implements TileEngine, MeanSide {
  /** Sessions by network name, created on first use: an encoder never builds the synthesis
   *  session, a decoder never builds the analysis ones. */
  private readonly open = new Map<string, Promise<InferenceSession>>();
  /** Graphs narrowed to the first k latent channels, by 'name@k' (model/narrow.ts), and for each k
   *  whether the float half of a parse reading k channels runs on them. */
  private readonly narrowGraphs = new Map<string, Uint8Array>();
  private readonly narrowable = new Map<number, boolean>();
  private readonly chains = new Map<number, MeanChain>();
  /** The context slices as [start, channels] (one slice of M without a context model). */
  private readonly sliceParts: readonly (readonly [number, number])[];
  /** The mean chains' calls, in order (with no helper they interleave with the integer half). */
  private meanQueue: Promise<unknown> = Promise.resolve();
  private nextChain = 1;

  private constructor(
    private readonly model: ModelPackage,
    private readonly runtime: Runtime,
    /** Where the float half of parsing runs (MeanSide); this engine itself when there is none. */
    private readonly helper?: Helper,
  ) {
    const ctx = model.context;
    this.sliceParts = ctx ? ctx.slices.map((c, i) => [ctx.starts[i]!, c] as const) : [[0, model.manifest.latent.channels] as const];
  }

  /** `helper`: a MeanSide in another thread that takes the float half of parsing (disposed with
   *  this engine). */
  static async create(model: ModelPackage, runtime: Runtime, helper?: Helper): Promise<SessionEngine> {
    return new SessionEngine(model, runtime, helper);
  }

  /** The graph bytes of a network name and how to run it: integer-only (the parsing path, always
   *  on the CPU), noArena (many calls in a row on pieces of varying size), small (one thread: a
   *  graph under SMALL_GRAPH_BYTES does too little per call for a second thread to pay). */
  private spec(name: string): { bytes: Uint8Array; integerOnly: boolean; small: boolean; noArena: boolean } {
    const narrowed = this.narrowGraphs.get(name);
    if (narrowed) return { ...this.spec(name.slice(0, name.indexOf('@'))), bytes: narrowed };
    const role = (NETWORK_ROLES as readonly string[]).includes(name) ? (name as NetworkRole) : undefined;
    if (role) {
      const bytes = this.model.networks[role];
      const repeated = role !== 'analysis' && role !== 'synthesis';
      return { bytes, integerOnly: role === 'hyper_scale', small: repeated && bytes.length < SMALL_GRAPH_BYTES, noArena: repeated };
    }
    const c = this.model.context;
    const m = /^(scale|mean)_s(\d+)$/.exec(name);
    const p = /^preview_s(\d+)$/.exec(name);
    if (p) {
      const bytes = this.model.previews.find((h) => h.scale === Number(p[1]))?.bytes;
      if (!bytes) throw new CodecError('E_MODEL_INTEGRITY', `the model has no network ${name}`);
      return { bytes, integerOnly: false, small: false, noArena: false };
    }
    const bytes = m ? (m[1] === 'scale' ? c?.scale[Number(m[2])] : c?.mean[Number(m[2])]) : name === 'refine' ? c?.refine : undefined;
    if (!bytes) throw new CodecError('E_MODEL_INTEGRITY', `the model has no network ${name}`);
    return { bytes, integerOnly: m?.[1] === 'scale', small: bytes.length < SMALL_GRAPH_BYTES, noArena: true };
  }

  private session(name: string): Promise<InferenceSession> {
    let s = this.open.get(name);
    if (!s) {
      const { bytes, integerOnly, small, noArena } = this.spec(name);
      s = this.runtime.createSession(bytes, { integerOnly, small, noArena });
      this.open.set(name, s);
      s.catch(() => this.open.delete(name));
    }
    return s;
  }

  /** Runs one network and returns its primary (first) output. */
  async run(name: string, feeds: Record<string, TensorData>): Promise<TensorData> {
    const session = await this.session(name);
    const [primary] = session.outputNames;
    const out = primary === undefined ? {} : await session.run(feeds, [primary]);
    const first = primary === undefined ? undefined : out[primary];
    if (!first) throw new CodecError('E_MODEL_INTEGRITY', `${name} produced no output`);
    return first;
  }

  /** Runs one of the five main networks with every output (explain). */
  async runAll(role: NetworkRole, name: string, input: TensorData): Promise<Record<string, TensorData>> {
    const s = await this.session(role);
    return s.run({ [name]: input }, s.outputNames);
  }

  async analyze(x: Float32Array, h: number, w: number): Promise<Float32Array> {
    const y = await this.run('analysis', { x: f32([1, 3, h, w], x) });
    return y.data as Float32Array;
  }

  async synthesize(yHat: Float32Array, lh: number, lw: number): Promise<Float32Array> {
    const m = this.model.manifest.latent.channels;
    const x = await this.run('synthesis', { y_hat: f32([1, m, lh, lw], yHat) });
    return x.data as Float32Array;
  }

  /** The refinement of the first `refineChannels` channels: μ_h and ŷ_g of those, planar. */
  async refine(muH: Float32Array, yHatG: Float32Array, lh: number, lw: number): Promise<Float32Array> {
    const r = this.model.context!.refineChannels;
    return (await this.run('refine', { mu_h: f32([1, r, lh, lw], muH), yhat_g: f32([1, r, lh, lw], yHatG) })).data as Float32Array;
  }

  async preview(scale: number, yHat: Float32Array, channels: number, lh: number, lw: number): Promise<Float32Array> {
    return (await this.run(`preview_s${scale}`, { y_hat: f32([1, channels, lh, lw], yHat) })).data as Float32Array;
  }

  async hyperAnalyze(yG: Float32Array, lh: number, lw: number): Promise<Float32Array> {
    const m = this.model.manifest.latent.channels;
    return (await this.run('hyper_analysis', { y_g: f32([1, m, lh, lw], yG) })).data as Float32Array;
  }

  /** The hyper-decoder's integer half on the ẑ around a tile, cropped to the tile: the uint8
   *  features of the context models (or, without them, the table indices), planar. */
  private async hyperScale(z: ZRegion): Promise<Uint8Array> {
    const scale = (await this.run('hyper_scale', { z_hat: { dtype: 'int32', dims: this.zDims(z), data: z.zHat } })).data as Uint8Array;
    return this.cropToTile(z, scale);
  }

  /** μ_h (hyper_mean) on the ẑ around a tile, cropped to the tile, planar [M, lh, lw], or of the
   *  first `channels` only when the graphs can be narrowed to them (narrowTo). */
  private async hyperMean(z: ZRegion, channels?: number): Promise<Float32Array> {
    const name = channels !== undefined && this.narrowTo(channels) ? `hyper_mean@${channels}` : 'hyper_mean';
    const mu = (await this.run(name, { z_hat: f32(this.zDims(z), Float32Array.from(z.zHat)) })).data as Float32Array;
    return this.cropToTile(z, mu);
  }

  /**
   * Whether a parse that reads the first k channels (a reduced-size decode) computes μ_h of those
   * k only: hyper_mean with its last convolution cut to k outputs, and the mean nets of the slices
   * read taking a k-channel μ_h (model/narrow.ts; the same μ to the last bit). A 1024-px tile's
   * μ_h for k = 128 of 512 took 12.9 ms against 44.2 (2 threads), and its crop and the memory
   * shrink with it. False for all channels, a model without context slices, or a graph the edit
   * does not know: then μ_h of every channel, as before.
   */
  private narrowTo(k: number): boolean {
    let ok = this.narrowable.get(k);
    if (ok === undefined) {
      const ctx = this.model.context;
      const graphs = new Map<string, Uint8Array | undefined>();
      if (ctx && k < this.model.manifest.latent.channels) {
        graphs.set(`hyper_mean@${k}`, narrowOutput(this.model.networks.hyper_mean, k));
        this.sliceParts.forEach(([s, c], i) => {
          const mean = ctx.mean[i];
          if (mean && s + c <= k) graphs.set(`mean_s${i}@${k}`, narrowInput(mean, 'mu_h', k));
        });
      }
      ok = graphs.size > 0 && [...graphs.values()].every((b) => b !== undefined);
      if (ok) for (const [name, b] of graphs) this.narrowGraphs.set(name, b!);
      this.narrowable.set(k, ok);
    }
    return ok;
  }

  private zDims(z: ZRegion): number[] {
    const zc = this.model.manifest.latent.hyper_channels;
    if (z.zHat.length !== zc * z.h * z.w) throw new CodecError('E_MODEL_INTEGRITY', 'ẑ region has the wrong size');
    return [1, zc, z.h, z.w];
  }

  private cropToTile<T extends Uint8Array | Float32Array>(z: ZRegion, a: T): T {
    const { hyper_stride, stride } = this.model.manifest.latent;
    const r = hyper_stride / stride;
    if (z.tile.x0 === 0 && z.tile.y0 === 0 && z.tile.x1 === z.w && z.tile.y1 === z.h) return a;
    const W = z.w * r;
    const H = z.h * r;
    return cropPlanar(a, a.length / (W * H), W, H, { x0: z.tile.x0 * r, y0: z.tile.y0 * r, x1: z.tile.x1 * r, y1: z.tile.y1 * r }) as T;
  }

  /** How many slices a decode reading `limit` channels takes (whole slices; undefined: all). */
  private slicesFor(limit?: number): number {
    const parts = this.sliceParts;
    const n = limit === undefined || limit >= this.model.manifest.latent.channels ? parts.length : parts.findIndex(([s, c]) => s + c === limit) + 1;
    if (n === 0) throw new CodecError('E_MODEL_INTEGRITY', `${limit} channels is not the end of a context slice`);
    return n;
  }

  /** The channels of the first n slices. */
  private channelsOf(n: number): number {
    const last = this.sliceParts[n - 1];
    if (!last) throw new CodecError('E_MODEL_INTEGRITY', `no slice ${n - 1}`);
    return last[0] + last[1];
  }

  /** μ_h of every channel, or of the first `channels` where the graphs are narrowed to them. */
  private checkMuH(muH: Float32Array, plane: number, channels: number): void {
    const want = channels < this.model.manifest.latent.channels && this.narrowTo(channels) ? channels : this.model.manifest.latent.channels;
    if (muH.length !== want * plane) throw new CodecError('E_MODEL_INTEGRITY', 'mean network output has the wrong size');
  }

  /** μ of slice i: its mean net, or its part of μ_h. */
  private async meanOf(i: number, muH: Float32Array, yHatG: Float32Array, lh: number, lw: number): Promise<Float32Array> {
    const [s, c] = this.sliceParts[i]!;
    const mu = this.model.context ? await this.sliceMean(i, muH, yHatG, s, c, lh, lw) : muH;
    if (mu.length !== c * lh * lw) throw new CodecError('E_MODEL_INTEGRITY', `slice ${i}: mean network output has the wrong size`);
    return mu;
  }

  private queued<T>(f: () => Promise<T>): Promise<T> {
    const p = this.meanQueue.then(f);
    this.meanQueue = p.catch(() => undefined);
    return p;
  }

  meanStart(id: number, from: ZRegion | Float32Array, lh: number, lw: number, slices: number, withMu: boolean): Promise<Float32Array | undefined> {
    return this.queued(async () => {
      const channels = this.channelsOf(slices);
      const muH = from instanceof Float32Array ? from : await this.hyperMean(from, channels);
      this.checkMuH(muH, lh * lw, channels);
      const yHatG = new Float32Array(this.channelsOf(slices) * lh * lw);
      const mu = await this.meanOf(0, muH, yHatG, lh, lw);
      this.chains.set(id, { muH, yHatG, lh, lw, slices, withMu, next: 0, mu });
      return withMu ? mu.slice() : undefined; // a copy: a helper's reply transfers it
    });
  }

  meanPush(id: number, q: Int32Array): Promise<Float32Array | undefined> {
    return this.queued(async () => {
      const ch = this.chains.get(id);
      if (!ch || ch.next >= ch.slices) throw new CodecError('E_MODEL_INTEGRITY', `mean chain ${id}: no slice to take`);
      const plane = ch.lh * ch.lw;
      const s = this.sliceParts[ch.next]![0] * plane;
      if (q.length !== ch.mu.length) throw new CodecError('E_MODEL_INTEGRITY', `slice ${ch.next}: symbols of the wrong size`);
      for (let j = 0; j < q.length; j++) ch.yHatG[s + j] = q[j]! + ch.mu[j]!;
      if (++ch.next === ch.slices) return undefined;
      ch.mu = await this.meanOf(ch.next, ch.muH, ch.yHatG, ch.lh, ch.lw);
      return ch.withMu ? ch.mu.slice() : undefined;
    });
  }

  meanFinish(id: number): Promise<{ yHatG: Float32Array; muH?: Float32Array }> {
    return this.queued(async () => {
      const ch = this.chains.get(id);
      this.chains.delete(id);
      if (!ch) throw new CodecError('E_MODEL_INTEGRITY', `mean chain ${id} was not started`);
      return ch.next === this.sliceParts.length ? { yHatG: ch.yHatG, muH: ch.muH } : { yHatG: ch.yHatG };
    });
  }

  /**
   * The y half of the entropy model, slice by slice: the integer half (hyper_scale, the scale nets)
   * here, the float half (MeanSide: μ_h, the mean nets, ŷ_g) on the helper when there is one,
   * beside it. `symbol(s, c, k, mu)` gives the symbols of the slice of channels s..s+c from their
   * table indices: the decoder reads them from the stream and never waits for a μ (`withMu`
   * false); the encoder chooses them from y_g − μ, and its scale net for a slice runs while the
   * helper computes that slice's μ. `n`: the first n slices (a reduced-size decode); `helper`
   * false: the float half here too.
   */
  private async slices(
    z: ZRegion, lh: number, lw: number, n: number, withMu: boolean, helper: boolean,
    symbol: (s: number, c: number, k: Uint8Array, mu: Float32Array | undefined) => Int32Array,
  ): Promise<{ k: Uint8Array; q: Int32Array; yHatG: Float32Array; muH?: Float32Array }> {
    const ctx = this.model.context;
    const parts = this.sliceParts;
    const mm = this.channelsOf(n);
    const plane = lh * lw;
    const side: MeanSide = (helper && this.helper) || this;
    const id = this.nextChain++;
    const pending: Promise<unknown>[] = [];
    const track = <T>(p: Promise<T>): Promise<T> => {
      p.catch(() => undefined); // awaited below; a failure after an earlier one is not unhandled
      pending.push(p);
      return p;
    };
    // The encoder waits for every μ, and μ_h is the longest step of the float half: with a helper
    // (one ONNX Runtime thread) it runs here on this engine's threads first, and the helper gets
    // μ_h (by transfer) for the slice means (Kodak q75: see docs/MODEL.md, "encode"). The decoder
    // never waits for a μ: the helper computes μ_h from ẑ beside the integer half. A helper takes
    // ẑ by transfer: its own copy (the integer half still reads this one).
    const from = side === this ? z : withMu ? await this.hyperMean(z) : { ...z, zHat: z.zHat.slice() };
    let mu = track(side.meanStart(id, from, lh, lw, n, withMu));
    let finished = false;
    try {
      const scale = await this.hyperScale(z);
      if (scale.length !== this.model.manifest.latent.channels * plane && !ctx) throw new CodecError('E_MODEL_INTEGRITY', 'scale network output has the wrong size');
      const k = new Uint8Array(mm * plane);
      const q = new Int32Array(mm * plane);
      for (let i = 0; i < n; i++) {
        const [s, c] = parts[i]!;
        const ki = ctx ? await this.sliceScale(i, scale, q, s, lh, lw) : scale;
        // table ids are bytes: an id the k array could not hold would be coded as another
        if (!(ki instanceof Uint8Array)) throw new CodecError('E_MODEL_INTEGRITY', `slice ${i}: scale network output is not uint8`);
        if (ki.length !== c * plane) throw new CodecError('E_MODEL_INTEGRITY', `slice ${i}: network output has the wrong size`);
        const mui = withMu ? await mu : undefined;
        const qi = symbol(s, c, ki, mui);
        k.set(ki, s * plane);
        q.set(qi, s * plane);
        mu = track(side.meanPush(id, qi)); // qi goes to the helper
      }
      finished = true;
      const fin = track(side.meanFinish(id));
      await Promise.all(pending); // the chain's first failure, if any
      const { yHatG, muH } = await fin;
      return { k, q, yHatG, ...(muH && ctx?.refine ? { muH } : {}) }; // μ_h for the refinement
    } catch (e) {
      if (!finished) void side.meanFinish(id).catch(() => undefined); // drops the chain
      throw e;
    }
  }

  /** Table indices of slice i (integer-only graph). */
  private async sliceScale(i: number, h: Uint8Array, q: Int32Array, s: number, lh: number, lw: number): Promise<Uint8Array> {
    const ctx = this.model.context!;
    const plane = lh * lw;
    const feeds: Record<string, TensorData> = { h: { dtype: 'uint8', dims: [1, ctx.hidden, lh, lw], data: h } };
    if (i) feeds['q_prev'] = { dtype: 'int32', dims: [1, s, lh, lw], data: q.subarray(0, s * plane) };
    return (await this.run(`scale_s${i}`, feeds)).data as Uint8Array;
  }

  /** μ of slice i (channels s..s+c) from μ_h and the ŷ_g of the slices before. */
  private async sliceMean(i: number, muH: Float32Array, yHatG: Float32Array, s: number, c: number, lh: number, lw: number): Promise<Float32Array> {
    const ctx = this.model.context!;
    const plane = lh * lw;
    const m = muH.length / plane; // M, or the channels read (narrowTo)
    const name = m === this.model.manifest.latent.channels ? `mean_s${i}` : `mean_s${i}@${m}`;
    return ctx.mean[i]
      ? ((await this.run(name, { mu_h: f32([1, m, lh, lw], muH), yhat_prev: f32([1, s, lh, lw], yHatG.subarray(0, s * plane)) })).data as Float32Array)
      : muH.subarray(s * plane, (s + c) * plane);
  }

  /** The tile's own ẑ out of the region around it. */
  private tileZ(z: ZRegion): Int32Array {
    const zc = this.model.manifest.latent.hyper_channels;
    return cropPlanar(z.zHat, zc, z.w, z.h, z.tile);
  }

  async encodeLatent(yG: Float32Array, lh: number, lw: number, z: ZRegion, rdo?: Float32Array, helper = true): Promise<TileStreams> {
    const plane = lh * lw;
    const { yTables, zTables } = this.model;
    const zHat = this.tileZ(z);
    const zIds = channelIds(zHat.length, this.model.manifest.latent.hyper_channels);
    const zStream = encodeValues(zHat, zIds, zTables, 'E_MODEL_INTEGRITY');
    const { q, k } = await this.slices(z, lh, lw, this.sliceParts.length, true, helper, (s, c, k, mu) =>
      chooseSymbols(yG.subarray(s * plane, (s + c) * plane), mu!, k, yTables, plane, rdo?.subarray(s, s + c)));
    // the slices' symbols are planar in stream order: one pass over them codes the whole tile
    return { z: zStream, y: encodeValues(q, k, yTables, 'E_MODEL_INTEGRITY') };
  }

  async decodeLatent(y: Uint8Array, lh: number, lw: number, z: ZRegion, channels?: number, helper = true): Promise<TileSymbols> {
    const { yTables } = this.model;
    const n = this.slicesFor(channels);
    const yDec = new RansDecoder(y);
    const r = await this.slices(z, lh, lw, n, false, helper, (_s, c, k) => {
      const out = new Int32Array(c * lh * lw);
      yDec.getMany(out, k, yTables);
      return out;
    });
    // a stream read only in part cannot be checked for its end
    if (n === this.sliceParts.length) yDec.finish();
    return { zHat: this.tileZ(z), ...r };
  }

  async dispose(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    if (this.helper) await this.helper.dispose();
    await Promise.all(all.map((p) => p.then((s) => s.dispose(), () => undefined)));
  }
}
