// encode()/decode(): pad, run the networks, apply gains, entropy-code, pack — and back.
// The parsing path (ẑ, table indices k, stream lengths) is integer-only; see docs/MODEL.md.
import { parseContainer, writeContainer, DEFAULT_MAX_PIXELS } from '../bitstream/container.js';
import { CodecError } from '../core/errors.js';
import { decodeValues, encodeValues } from '../entropy/rans.js';
import { gainForQuality, type ModelPackage, type NetworkRole, NETWORK_ROLES } from '../model/package.js';
import type { InferenceSession, Runtime, TensorData } from '../runtime/types.js';

/** 8-bit RGB, row-major, interleaved (length = width · height · 3). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export interface EncodeOptions {
  /** 0..100, higher is better (default 75). Ignored when a rate target is given. */
  readonly quality?: number;
  /** Largest bits per pixel allowed: picks the highest quality whose stream fits. */
  readonly targetBpp?: number;
  /** Largest file size in bytes allowed (container included): as targetBpp. */
  readonly targetBytes?: number;
}

export interface EncodeStats {
  readonly quality: number;
  readonly bytes: number;
  readonly bpp: number;
  readonly zBytes: number;
  readonly yBytes: number;
  /** Qualities tried by a rate-target search (each costs the hyper networks and the coder, not g_a). */
  readonly searched: readonly number[];
  /** False when even quality 0 is larger than the target (the quality-0 stream is returned). */
  readonly targetMet: boolean;
}

/** The transmitted symbols of a stream and the table index of each y symbol (integer path only). */
export interface Symbols {
  readonly width: number;
  readonly height: number;
  readonly quality: number;
  readonly zHat: Int32Array;
  readonly k: Uint8Array;
  readonly q: Int32Array;
}

export interface CodecOptions {
  readonly model: ModelPackage;
  readonly runtime: Runtime;
  /** Largest width × height accepted by decode() (default 2^27). */
  readonly maxPixels?: number;
}

function checkQuality(q: unknown): number {
  if (typeof q !== 'number' || !Number.isFinite(q) || q < 0 || q > 100 || !Number.isInteger(q)) {
    throw new CodecError('E_INVALID_OPTION', `Expected an integer between 0 and 100 for quality but received ${String(q)}`);
  }
  return q;
}

const ceilTo = (v: number, m: number) => Math.ceil(v / m) * m;

/** The channel of every element of a planar [channels, …] tensor of n elements (z's table ids). */
export function channelIds(n: number, channels: number): Uint16Array {
  const ids = new Uint16Array(n);
  for (let c = 0; c < channels; c++) ids.fill(c, (c * n) / channels, ((c + 1) * n) / channels);
  return ids;
}

function targetBytesOf(opts: EncodeOptions, image: RgbImage): number | undefined {
  const { targetBpp, targetBytes } = opts;
  if (targetBpp !== undefined && targetBytes !== undefined) {
    throw new CodecError('E_INVALID_OPTION', 'Expected at most one of targetBpp and targetBytes but received both');
  }
  if (targetBytes !== undefined) {
    if (typeof targetBytes !== 'number' || !Number.isInteger(targetBytes) || targetBytes < 1) {
      throw new CodecError('E_INVALID_OPTION', `Expected a positive integer for targetBytes but received ${String(targetBytes)}`);
    }
    return targetBytes;
  }
  if (targetBpp !== undefined) {
    if (typeof targetBpp !== 'number' || !Number.isFinite(targetBpp) || targetBpp <= 0) {
      throw new CodecError('E_INVALID_OPTION', `Expected a positive number for targetBpp but received ${String(targetBpp)}`);
    }
    return Math.floor((targetBpp * image.width * image.height) / 8);
  }
  return undefined;
}

/** Edge-replicated, padded planar float image in [0, 1]. */
function toPaddedPlanar(img: RgbImage, hp: number, wp: number): Float32Array {
  const out = new Float32Array(3 * hp * wp);
  const { width: w, height: h, data } = img;
  for (let y = 0; y < hp; y++) {
    const sy = Math.min(y, h - 1);
    for (let x = 0; x < wp; x++) {
      const s = (sy * w + Math.min(x, w - 1)) * 3;
      const d = y * wp + x;
      out[d] = data[s]! / 255;
      out[hp * wp + d] = data[s + 1]! / 255;
      out[2 * hp * wp + d] = data[s + 2]! / 255;
    }
  }
  return out;
}

export class Codec {
  private constructor(
    private readonly model: ModelPackage,
    private readonly sessions: Readonly<Record<NetworkRole, InferenceSession>>,
    private readonly maxPixels: number,
    /** The runtime's description (backend, threads). */
    readonly backend: string,
  ) {}

  static async create(opts: CodecOptions): Promise<Codec> {
    const sessions = {} as Record<NetworkRole, InferenceSession>;
    try {
      for (const role of NETWORK_ROLES) {
        sessions[role] = await opts.runtime.createSession(opts.model.networks[role], { integerOnly: role === 'hyper_scale' });
      }
    } catch (e) {
      await Promise.all(Object.values(sessions).map((s) => s.dispose()));
      throw e;
    }
    return new Codec(opts.model, sessions, opts.maxPixels ?? DEFAULT_MAX_PIXELS, opts.runtime.name);
  }

  get modelId(): string {
    return this.model.manifest.id;
  }

  /** The model package this codec runs (manifest, tables, gains). */
  get modelPackage(): ModelPackage {
    return this.model;
  }

  async dispose(): Promise<void> {
    await Promise.all(Object.values(this.sessions).map((s) => s.dispose()));
  }

  /** Runs one network and returns its primary (first) output; explain outputs are not fetched. */
  private async run(role: NetworkRole, name: string, input: TensorData): Promise<TensorData> {
    return (await this.runExplained(role, name, input, false)).primary;
  }

  /** Runs one network: its primary (first) output, and with `extras` every other output too. */
  private async runExplained(role: NetworkRole, name: string, input: TensorData, extras: boolean): Promise<{ primary: TensorData; extras: Record<string, TensorData> }> {
    const session = this.sessions[role];
    const [primary, ...rest] = session.outputNames;
    const out = primary === undefined ? {} : await session.run({ [name]: input }, extras ? session.outputNames : [primary]);
    const first = primary === undefined ? undefined : out[primary];
    if (!first) throw new CodecError('E_MODEL_INTEGRITY', `${role} produced no output`);
    return { primary: first, extras: extras ? Object.fromEntries(rest.map((n) => [n, out[n]!])) : {} };
  }

  /** ẑ → (table index per y element, μ_g). The index path is integer-only. */
  private async hyperSynthesis(zHat: Int32Array, dims: number[]): Promise<{ k: Uint8Array; mu: Float32Array }> {
    const k = await this.run('hyper_scale', 'z_hat', { dtype: 'int32', dims, data: zHat });
    const mu = await this.run('hyper_mean', 'z_hat', { dtype: 'float32', dims, data: Float32Array.from(zHat) });
    return { k: k.data as Uint8Array, mu: mu.data as Float32Array };
  }

  /** Runs the analysis transform g_a once (padded to /64): y as [channels, hy, wy], no gain. */
  async analyze(image: RgbImage): Promise<{ y: Float32Array; hy: number; wy: number }> {
    const { y, hy, wy } = await this.analyzeWith(image, false);
    return { y, hy, wy };
  }

  /** analyze() plus the encoder's explain outputs (stage features, when the model exports them). */
  async analyzeExplained(image: RgbImage): Promise<{ y: Float32Array; hy: number; wy: number; extras: Record<string, TensorData> }> {
    return this.analyzeWith(image, true);
  }

  private async analyzeWith(image: RgbImage, extras: boolean): Promise<{ y: Float32Array; hy: number; wy: number; extras: Record<string, TensorData> }> {
    const { width: w, height: h } = image;
    if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1 || image.data?.length !== w * h * 3) {
      throw new CodecError('E_INVALID_OPTION', `Expected an RGB image with width·height·3 bytes but received ${w}×${h} with ${image.data?.length}`);
    }
    if (w > 65535 || h > 65535 || w * h > this.maxPixels) throw new CodecError('E_LIMIT_EXCEEDED', `${w}×${h} exceeds the pixel limit`);
    const { latent } = this.model.manifest;
    const hp = ceilTo(h, latent.pad_multiple);
    const wp = ceilTo(w, latent.pad_multiple);
    const { primary: y, extras: ex } = await this.runExplained('analysis', 'x', { dtype: 'float32', dims: [1, 3, hp, wp], data: toPaddedPlanar(image, hp, wp) }, extras);
    return { y: y.data as Float32Array, hy: hp / latent.stride, wy: wp / latent.stride, extras: ex };
  }

  /** Gain, hyperprior, quantization and entropy coding of an analysed image at one quality. */
  private async codeAt(a: { y: Float32Array; hy: number; wy: number }, w: number, h: number, quality: number) {
    const m = this.model.manifest.latent.channels;
    const gain = gainForQuality(this.model, quality);
    const plane = a.hy * a.wy;
    const yg = new Float32Array(a.y.length);
    for (let c = 0; c < m; c++) for (let i = 0; i < plane; i++) yg[c * plane + i] = a.y[c * plane + i]! * gain[c]!;
    const z = await this.run('hyper_analysis', 'y_g', { dtype: 'float32', dims: [1, m, a.hy, a.wy], data: yg });
    const zHat = Int32Array.from(z.data as Float32Array, (v) => Math.round(v));
    const { k, mu } = await this.hyperSynthesis(zHat, z.dims as number[]);
    const q = new Int32Array(yg.length);
    for (let i = 0; i < q.length; i++) q[i] = Math.round(yg[i]! - mu[i]!);
    const zStream = encodeValues(zHat, this.zTableIds(zHat.length), this.model.zTables);
    const yStream = encodeValues(q, k, this.model.yTables);
    const bytes = writeContainer({ modelId: this.modelId, width: w, height: h, quality, chunks: { ZHAT: zStream, YHAT: yStream } });
    return { bytes, zBytes: zStream.length, yBytes: yStream.length };
  }

  private zTableIds(n: number): Uint16Array {
    return channelIds(n, this.model.manifest.latent.hyper_channels);
  }

  /**
   * Encodes an 8-bit RGB image. With `targetBytes`/`targetBpp`, returns the highest quality whose
   * stream fits (binary search over the integer qualities; g_a runs once).
   */
  async encode(image: RgbImage, opts: EncodeOptions = {}): Promise<{ bytes: Uint8Array; stats: EncodeStats }> {
    const target = targetBytesOf(opts, image);
    if (target === undefined) checkQuality(opts.quality ?? 75);
    return this.encodeAnalyzed(image, await this.analyze(image), opts);
  }

  /** encode() from the result of analyze()/analyzeExplained() of the same image (g_a is not run again). */
  async encodeAnalyzed(image: RgbImage, a: { y: Float32Array; hy: number; wy: number }, opts: EncodeOptions = {}): Promise<{ bytes: Uint8Array; stats: EncodeStats }> {
    const target = targetBytesOf(opts, image);
    const quality = target === undefined ? checkQuality(opts.quality ?? 75) : 0;
    const { latent } = this.model.manifest;
    if (a.hy !== ceilTo(image.height, latent.pad_multiple) / latent.stride || a.wy !== ceilTo(image.width, latent.pad_multiple) / latent.stride || a.y.length !== latent.channels * a.hy * a.wy) {
      throw new CodecError('E_INVALID_OPTION', `the analysis (${a.wy}×${a.hy}) is not of this ${image.width}×${image.height} image`);
    }
    const { width: w, height: h } = image;
    const finish = (r: { bytes: Uint8Array; zBytes: number; yBytes: number }, q: number, searched: number[], targetMet: boolean) => ({
      bytes: r.bytes,
      stats: { quality: q, bytes: r.bytes.length, bpp: (8 * r.bytes.length) / (w * h), zBytes: r.zBytes, yBytes: r.yBytes, searched, targetMet },
    });
    if (target === undefined) return finish(await this.codeAt(a, w, h, quality), quality, [], true);
    // Rate grows with quality (gains interpolate monotonically between the anchors): find the
    // largest q with size(q) <= target.
    const searched: number[] = [];
    let lo = 0;
    let hi = 100;
    let best: { r: Awaited<ReturnType<Codec['codeAt']>>; q: number } | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      searched.push(mid);
      const r = await this.codeAt(a, w, h, mid);
      if (r.bytes.length <= target) {
        best = { r, q: mid };
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (best) return finish(best.r, best.q, searched, true);
    return finish(await this.codeAt(a, w, h, 0), 0, searched, false);
  }

  /** Parses a stream down to its symbols (no synthesis): the integer, bit-exact part of decoding. */
  async decodeSymbols(bytes: Uint8Array): Promise<Symbols & { mu: Float32Array }> {
    const c = parseContainer(bytes, { maxPixels: this.maxPixels });
    if (c.modelId !== this.modelId) throw new CodecError('E_UNKNOWN_MODEL', `stream needs model ${c.modelId}; this codec has ${this.modelId}`);
    const { latent } = this.model.manifest;
    const hp = ceilTo(c.height, latent.pad_multiple);
    const wp = ceilTo(c.width, latent.pad_multiple);
    const hz = hp / latent.hyper_stride;
    const wz = wp / latent.hyper_stride;
    const zc = latent.hyper_channels;
    const zHat = decodeValues(c.chunks.ZHAT, this.zTableIds(zc * hz * wz), this.model.zTables);
    const { k, mu } = await this.hyperSynthesis(zHat, [1, zc, hz, wz]);
    const m = latent.channels;
    if (k.length !== m * (hp / latent.stride) * (wp / latent.stride)) throw new CodecError('E_MODEL_INTEGRITY', 'scale network output has the wrong size');
    const q = decodeValues(c.chunks.YHAT, k, this.model.yTables);
    return { width: c.width, height: c.height, quality: c.quality, zHat, k, q, mu };
  }

  async decode(bytes: Uint8Array): Promise<RgbImage> {
    return this.synthesize(await this.decodeSymbols(bytes));
  }

  /** ŷ = (q + μ)/gain → g_s → 8-bit RGB, cropped: the float half of decoding, from parsed symbols. */
  async synthesize(c: Symbols & { mu: Float32Array }): Promise<RgbImage> {
    return (await this.synthesizeWith(c, false)).image;
  }

  /** synthesize() plus the decoder's explain outputs (attention weights, when the model exports them). */
  async synthesizeExplained(c: Symbols & { mu: Float32Array }): Promise<{ image: RgbImage; extras: Record<string, TensorData> }> {
    return this.synthesizeWith(c, true);
  }

  private async synthesizeWith(c: Symbols & { mu: Float32Array }, extras: boolean): Promise<{ image: RgbImage; extras: Record<string, TensorData> }> {
    const { q, mu } = c;
    const { latent } = this.model.manifest;
    const hp = ceilTo(c.height, latent.pad_multiple);
    const wp = ceilTo(c.width, latent.pad_multiple);
    const m = latent.channels;
    const hy = hp / latent.stride;
    const wy = wp / latent.stride;
    const gain = gainForQuality(this.model, c.quality);
    const plane = hy * wy;
    const yHat = new Float32Array(q.length);
    for (let ch = 0; ch < m; ch++) {
      for (let i = 0; i < plane; i++) yHat[ch * plane + i] = (q[ch * plane + i]! + mu[ch * plane + i]!) / gain[ch]!;
    }
    const { primary: x, extras: ex } = await this.runExplained('synthesis', 'y_hat', { dtype: 'float32', dims: [1, m, hy, wy], data: yHat }, extras);
    const xd = x.data as Float32Array;
    const out = new Uint8Array(c.width * c.height * 3);
    const P = hp * wp;
    for (let yy = 0; yy < c.height; yy++) {
      for (let xx = 0; xx < c.width; xx++) {
        const s = yy * wp + xx;
        const d = (yy * c.width + xx) * 3;
        for (let ch = 0; ch < 3; ch++) out[d + ch] = Math.round(Math.min(1, Math.max(0, xd[ch * P + s]!)) * 255);
      }
    }
    return { image: { width: c.width, height: c.height, data: out }, extras: ex };
  }
}
