// encode()/decode(): tiles, the networks, gains, entropy coding, the container — and back.
// The per-tile work lives in engine.ts (in this thread, or in workers); this file schedules it,
// assembles the latent and the pixels, and owns the options and the rate search.
import { DEFAULT_MAX_PIXELS, MAX_TILE, TILE_UNIT, parseContainer, writeContainer, type ColorMode, type Container, type OptionalChunk } from '../bitstream/container.js';
import { decodeAlpha, encodeAlpha } from './alpha.js';
import { CodecError } from '../core/errors.js';
import { gainForQuality, ungain, type ModelPackage } from '../model/package.js';
import type { Runtime, TensorData } from '../runtime/types.js';
import { encodeWithEffort, rdoWeights } from './effort.js';
import { decodeZ, SessionEngine, type TileEngine, type ZRegion } from './engine.js';
import { helps, type Helper } from './helper.js';
import { aborted, inTiles, offsetProgress, quiet, type Reclaiming, reclaiming, schedule } from './schedule.js';
import { analysisBlock, cropPlanar, grow, layout, pastePlanar, PAD, rectHeight, rectWidth, STRIDE, toRgb, type Layout, type Rect, type Tile } from './tiles.js';
import { type BandSink, checkScale, downscale, previewHead, PreviewRows, type Scale } from './scale.js';
import { refineTiles } from './refine.js';
import { refineTiny } from './tiny.js';
import { checkImage, joinPicture, metadataChunks, planarRegion, splitPicture } from './picture.js';

export { splitPicture } from './picture.js';

export { channelIds, type TileEngine, type TileSymbols } from './engine.js';

/** 8-bit RGB, row-major, interleaved (length = width · height · 3). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** 8-bit gray (1), gray + alpha (2), RGB (3) or RGBA (4), row-major, interleaved. An RgbImage is a
 *  Picture with 3 channels. */
export interface Picture extends RgbImage {
  readonly channels?: 1 | 2 | 3 | 4;
}

/** Metadata carried through a .hic file unchanged (FORMAT.md, optional chunks). */
export interface ImageMetadata {
  /** ICC profile: the pixels are in its colour space (never converted). */
  readonly icc?: Uint8Array;
  /** Exif (TIFF structure), orientation already applied to the pixels and reset to 1. */
  readonly exif?: Uint8Array;
  /** XMP packet (UTF-8). */
  readonly xmp?: Uint8Array;
}

/** What decode() returns: the picture as encoded (gray, alpha) and its metadata. */
export interface DecodedPicture extends Picture {
  readonly channels: 1 | 2 | 3 | 4;
  readonly metadata: ImageMetadata;
}

/** Progress of a long call: `done` of `total` coding tiles in the current stage (schedule.ts). A
 *  reduced-size decode alternates 'parsing' and 'synthesis' (the heads) band by band of tile rows,
 *  each stage's `done` counting on from where it was. */
export interface Progress {
  readonly stage: 'analysis' | 'coding' | 'parsing' | 'synthesis';
  readonly done: number;
  readonly total: number;
}

export interface WorkOptions {
  /** Called after every tile of every stage. */
  readonly onProgress?: (p: Progress) => void;
  /** Aborts between tiles with E_ABORTED. */
  readonly signal?: AbortSignal;
}

export interface DecodeOptions extends WorkOptions {
  /** 1 (default), or 2, 4, 8 ("1/2", "1/4", "1/8"): decode at that fraction of the size (scale.ts). */
  readonly scale?: Scale | string;
}

export interface EncodeOptions extends WorkOptions {
  /** 0..100, higher is better (default 75). Not allowed together with a rate target. */
  readonly quality?: number;
  /** Largest bits per pixel allowed: picks the highest quality whose stream fits. */
  readonly targetBpp?: number;
  /** Largest file size in bytes allowed (container included): as targetBpp. */
  readonly targetBytes?: number;
  /** Tile size in pixels, a multiple of 128 (default: the codec's, 1024). */
  readonly tileSize?: number;
  /** Stored as they are in their own chunks (FORMAT.md). */
  readonly metadata?: ImageMetadata;
  /** 0..9 (default 1, DEFAULT_EFFORT): encoder time spent on a better stream of the same format
   *  (effort.ts); 0 is plain rounding. */
  readonly effort?: number;
}

export interface EncodeStats {
  readonly quality: number;
  readonly bytes: number;
  readonly bpp: number;
  readonly zBytes: number;
  readonly yBytes: number;
  /** Bytes of the alpha chunk (0 when the picture has no alpha or it is fully opaque). */
  readonly alphaBytes: number;
  /** Bytes of the ICC, Exif and XMP chunks together. */
  readonly metadataBytes: number;
  readonly color: ColorMode;
  readonly tiles: number;
  readonly tileSize: number;
  /** Qualities tried by a rate-target search (each costs the hyper networks and the coder, not g_a). */
  readonly searched: readonly number[];
  /** False when even quality 0 is larger than the target (the quality-0 stream is returned). */
  readonly targetMet: boolean;
}

/** The transmitted symbols of a stream on the global latent grid (planar), their table indices
 *  and ŷ in the gained domain: the integer, bit-exact part of decoding and its float result. */
export interface Symbols {
  readonly width: number;
  readonly height: number;
  readonly quality: number;
  readonly zHat: Int32Array;
  readonly k: Uint8Array;
  readonly q: Int32Array;
  readonly yHatG: Float32Array;
}

/** An analysis of an image: y on the global latent grid, planar [channels, hy, wy], no gain. */
export interface Analysis {
  readonly y: Float32Array;
  readonly hy: number;
  readonly wy: number;
}

export interface CodecOptions {
  readonly model: ModelPackage;
  readonly runtime: Runtime;
  /** Largest width × height accepted (default 2^27). */
  readonly maxPixels?: number;
  /** Default tile size for encoding (pixels, multiple of 128; default 1024). */
  readonly tileSize?: number;
  /** Engines that take tiles instead of the codec's own sessions (e.g. worker threads); the codec
   *  disposes of them with itself. */
  readonly engines?: readonly TileEngine[];
  /** A MeanSide in another thread (e.g. a worker: node/index.ts) that takes the float half of
   *  parsing beside this thread's integer half (engine.ts), when the codec runs its tiles on its
   *  own sessions; disposed with the codec. */
  readonly helper?: Helper;
}

export const DEFAULT_TILE_SIZE = 1024;

/** Largest block side for the analysis transform (pixels): bounds the encoder's memory (24 MP,
 *  one engine: 921 MB peak with 512, 1.36 GB with 768, 1.74 GB with 1024; same bytes). */
const ANALYSIS_BLOCK = 512;
const DEFAULT_ANALYSIS_HALO = 64;
/** Latent positions around a tile for g_s: 4 keeps the tiled output within ±1–2 of the untiled
 *  one (8: ±1 on fewer pixels; 0: seams of up to 87 levels), bench/tiles.ts. */
const DEFAULT_SYNTHESIS_HALO = 4;
/** ẑ positions around a tile for the hyper-decoder (normative, FORMAT.md): covers the receptive
 *  field of h_s (±1¾ ẑ), so a tile's table indices and μ_h are those of the whole image. */
const DEFAULT_HYPER_HALO = 2;
/** y positions around a tile for h_a (encoder only): covers its receptive field (±13 y). */
const HYPER_ANALYSIS_HALO = 16;

function checkQuality(q: unknown): number {
  if (typeof q !== 'number' || !Number.isFinite(q) || q < 0 || q > 100 || !Number.isInteger(q)) {
    throw new CodecError('E_INVALID_OPTION', `Expected an integer between 0 and 100 for quality but received ${String(q)}`);
  }
  return q;
}

export function checkTileSize(t: unknown): number {
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 128 || t > MAX_TILE || t % 128 !== 0) {
    throw new CodecError('E_INVALID_OPTION', `Expected a multiple of 128 between 128 and ${MAX_TILE - TILE_UNIT} for tileSize but received ${String(t)}`);
  }
  return t;
}

function targetBytesOf(opts: EncodeOptions, image: RgbImage): number | undefined {
  const { targetBpp, targetBytes, quality } = opts;
  if (targetBpp !== undefined && targetBytes !== undefined) {
    throw new CodecError('E_INVALID_OPTION', 'Expected at most one of targetBpp and targetBytes but received both');
  }
  if ((targetBpp !== undefined || targetBytes !== undefined) && quality !== undefined) {
    throw new CodecError('E_INVALID_OPTION', 'Expected either quality or a rate target but received both');
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

/** The planar [m, rect] block of the analysis' y times each channel's gain. */
function gainedBlock(a: Analysis, m: number, gain: ArrayLike<number>, rect: Rect): Float32Array {
  const yG = cropPlanar(a.y, m, a.wy, a.hy, rect);
  const plane = rectWidth(rect) * rectHeight(rect);
  for (let c = 0; c < m; c++) {
    const g = gain[c]!;
    for (let j = c * plane, end = j + plane; j < end; j++) yG[j] = yG[j]! * g;
  }
  return yG;
}

export class Codec {
  private constructor(
    private readonly model: ModelPackage,
    private readonly runtime: Runtime,
    private readonly maxPixels: number,
    private readonly tileSize: number,
    private readonly workers: readonly TileEngine[],
    private own: SessionEngine | undefined,
    /** The runtime's description (backend, threads). */
    readonly backend: string,
  ) {}

  static async create(opts: CodecOptions): Promise<Codec> {
    const tile = checkTileSize(opts.tileSize ?? DEFAULT_TILE_SIZE);
    const workers = opts.engines ?? [];
    if (workers.length) await opts.helper?.dispose(); // the workers parse whole tiles themselves
    const own = workers.length ? undefined : await SessionEngine.create(opts.model, opts.runtime, opts.helper);
    const name = workers.length ? `${opts.runtime.name}, ${workers.length} worker${workers.length === 1 ? '' : 's'}` : opts.runtime.name;
    return new Codec(opts.model, opts.runtime, opts.maxPixels ?? DEFAULT_MAX_PIXELS, tile, workers, own, name);
  }

  get modelId(): string {
    return this.model.manifest.id;
  }

  /** The model package this codec runs (manifest, tables, gains). */
  get modelPackage(): ModelPackage {
    return this.model;
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.workers, ...(this.own ? [this.own] : [])].map((e) => e.dispose()));
  }

  /** This thread's sessions (created on first use when the tiles go to workers). */
  private async ownEngine(): Promise<SessionEngine> {
    this.own ??= await SessionEngine.create(this.model, this.runtime);
    return this.own;
  }

  private async engines(): Promise<readonly TileEngine[]> {
    return this.workers.length ? this.workers : [await this.ownEngine()];
  }

  private reclaiming<O extends WorkOptions>(opts: O, L: Layout, codingTiles = L.tiles.length): O & Reclaiming {
    return reclaiming(opts, L.tileSize, codingTiles, this.runtime);
  }

  private halos(): { analysis: number; synthesis: number } {
    const l = this.model.manifest.latent;
    return { analysis: l.analysis_halo ?? DEFAULT_ANALYSIS_HALO, synthesis: l.synthesis_halo ?? DEFAULT_SYNTHESIS_HALO };
  }

  /** Runs the analysis transform g_a block by block (each with its halo): y on the global grid.
   *  y does not depend on the blocks (the halo covers g_a's receptive field), so they are chosen
   *  for memory: at most ANALYSIS_BLOCK pixels a side, whatever the coding tiles are. */
  async analyze(image: RgbImage, opts: WorkOptions & { tileSize?: number } = {}): Promise<Analysis> {
    checkImage(image, this.maxPixels);
    const halo = this.halos().analysis;
    const L = layout(image.width, image.height, analysisBlock(image.width, image.height, Math.min(ANALYSIS_BLOCK, checkTileSize(opts.tileSize ?? this.tileSize)), halo));
    const coding = layout(image.width, image.height, checkTileSize(opts.tileSize ?? this.tileSize)).tiles.length;
    const m = this.model.manifest.latent.channels;
    const y = new Float32Array(m * L.hy * L.wy);
    await schedule(await this.engines(), L.tiles.length, async (e, i) => {
      const t = L.tiles[i]!;
      // pixel region = the tile's latent area ×16, grown by the halo, clipped to the padded image
      const px = grow({ x0: t.latent.x0 * STRIDE, y0: t.latent.y0 * STRIDE, x1: t.latent.x1 * STRIDE, y1: t.latent.y1 * STRIDE }, halo, L.wy * STRIDE, L.hy * STRIDE);
      const yr = await e.analyze(planarRegion(image, px), rectHeight(px), rectWidth(px));
      const lat = { x0: px.x0 / STRIDE, y0: px.y0 / STRIDE, x1: px.x1 / STRIDE, y1: px.y1 / STRIDE };
      if (yr.length !== m * rectWidth(lat) * rectHeight(lat)) throw new CodecError('E_MODEL_INTEGRITY', 'analysis output has the wrong size');
      pastePlanar(y, L.wy, L.hy, t.latent, yr, lat, m);
    }, inTiles(this.reclaiming(opts, L, coding), coding, L.tiles.length), 'analysis');
    return { y, hy: L.hy, wy: L.wy };
  }

  /** The whole-image analysis with the encoder's explain outputs (stage features), untiled. */
  async analyzeExplained(image: RgbImage): Promise<Analysis & { extras: Record<string, TensorData> }> {
    checkImage(image, this.maxPixels);
    const hp = Math.ceil(image.height / PAD) * PAD;
    const wp = Math.ceil(image.width / PAD) * PAD;
    const out = await (await this.ownEngine()).runAll('analysis', 'x', { dtype: 'float32', dims: [1, 3, hp, wp], data: planarRegion(image, { x0: 0, y0: 0, x1: wp, y1: hp }) });
    const [first, ...rest] = Object.keys(out);
    return { y: out[first!]!.data as Float32Array, hy: hp / STRIDE, wy: wp / STRIDE, extras: Object.fromEntries(rest.map((n) => [n, out[n]!])) };
  }

  /** The ẑ rectangle of a tile, and the region around it the hyper-decoder runs on (FORMAT.md). */
  private zRegion(zHat: Int32Array, L: Layout, t: Tile): ZRegion {
    const { hyper_channels: zc, hyper_halo } = this.model.manifest.latent;
    const r = this.zRatio();
    const zw = L.wy / r;
    const zh = L.hy / r;
    const own = { x0: t.latent.x0 / r, y0: t.latent.y0 / r, x1: t.latent.x1 / r, y1: t.latent.y1 / r };
    const reg = grow(own, hyper_halo ?? DEFAULT_HYPER_HALO, zw, zh);
    return { zHat: cropPlanar(zHat, zc, zw, zh, reg), h: rectHeight(reg), w: rectWidth(reg), tile: { x0: own.x0 - reg.x0, y0: own.y0 - reg.y0, x1: own.x1 - reg.x0, y1: own.y1 - reg.y0 } };
  }

  private zRatio(): number {
    const { hyper_stride, stride } = this.model.manifest.latent;
    return hyper_stride / stride;
  }

  /** Gain, hyperprior, context and entropy coding of every tile at one quality: ẑ of every tile
   *  first (h_a on the tile's y_g with a halo), then each tile's streams. */
  private async codeAt(a: Analysis, L: Layout, quality: number, opts: EncodeOptions, color: ColorMode, extra: Partial<Record<OptionalChunk, Uint8Array>>) {
    const { channels: m, hyper_channels: zc } = this.model.manifest.latent;
    const rdo = rdoWeights(this.model, quality, opts.effort);
    const gain = gainForQuality(this.model, quality);
    const r = this.zRatio();
    const zHat = new Int32Array((zc * L.wy * L.hy) / (r * r));
    const engines = await this.engines();
    await schedule(engines, L.tiles.length, async (e, i) => {
      const t = L.tiles[i]!;
      const reg = grow(t.latent, HYPER_ANALYSIS_HALO, L.wy, L.hy);
      const z = await e.hyperAnalyze(gainedBlock(a, m, gain, reg), rectHeight(reg), rectWidth(reg));
      const zr = { x0: reg.x0 / r, y0: reg.y0 / r, x1: reg.x1 / r, y1: reg.y1 / r };
      if (z.length !== zc * rectWidth(zr) * rectHeight(zr)) throw new CodecError('E_MODEL_INTEGRITY', 'hyper-analysis output has the wrong size');
      const own = { x0: t.latent.x0 / r, y0: t.latent.y0 / r, x1: t.latent.x1 / r, y1: t.latent.y1 / r };
      pastePlanar(zHat, L.wy / r, L.hy / r, own, Int32Array.from(z, (v) => Math.round(v)), zr, zc);
    }, quiet(this.reclaiming(opts, L)), 'coding'); // the second pass reports the tiles
    const tiles = await schedule(engines, L.tiles.length, (e, i) => {
      const t = L.tiles[i]!;
      return e.encodeLatent(gainedBlock(a, m, gain, t.latent), rectHeight(t.latent), rectWidth(t.latent), this.zRegion(zHat, L, t), rdo?.slice(), helps(L));
    }, this.reclaiming(opts, L), 'coding');
    const bytes = writeContainer({ modelId: this.modelId, width: L.width, height: L.height, quality, color, tileSize: L.tileSize, tiles, extra });
    return { bytes, zBytes: tiles.reduce((s, t) => s + t.z.length, 0), yBytes: tiles.reduce((s, t) => s + t.y.length, 0) };
  }

  /**
   * Encodes an 8-bit picture (gray, gray + alpha, RGB or RGBA): the colour through the networks,
   * alpha losslessly in its own chunk, metadata as given. With `targetBytes`/`targetBpp`, returns
   * the highest quality whose file fits (binary search over the integer qualities; g_a runs once).
   * Pictures of at most 8×8 pixels are coded up to 4 times, against the model's corner error (tiny.ts).
   */
  async encode(image: Picture, opts: EncodeOptions = {}): Promise<{ bytes: Uint8Array; stats: EncodeStats }> {
    checkImage(image, this.maxPixels);
    const target = targetBytesOf(opts, image);
    if (target === undefined) checkQuality(opts.quality ?? 75);
    const tileSize = checkTileSize(opts.tileSize ?? this.tileSize);
    const code = async (p: Picture, o: EncodeOptions) => this.encodeAnalyzed(p, await this.analyze(splitPicture(p).rgb, { ...o, tileSize }), o);
    return refineTiny(image, opts, target, await encodeWithEffort(this, image, splitPicture(image).rgb, opts, target, tileSize), code, (bytes, o) => this.decode(bytes, o));
  }

  /** encode() from the result of analyze()/analyzeExplained() of the same image (g_a is not run again). */
  async encodeAnalyzed(image: Picture, a: Analysis, opts: EncodeOptions = {}): Promise<{ bytes: Uint8Array; stats: EncodeStats }> {
    checkImage(image, this.maxPixels);
    const { color, alpha } = splitPicture(image);
    const extra = metadataChunks(opts.metadata, alpha ? encodeAlpha(alpha, image.width, image.height) : undefined);
    const alphaBytes = extra.ALPH?.length ?? 0;
    const metadataBytes = (extra.ICCP?.length ?? 0) + (extra.EXIF?.length ?? 0) + (extra['XMP ']?.length ?? 0);
    const target = targetBytesOf(opts, image);
    const quality = target === undefined ? checkQuality(opts.quality ?? 75) : 0;
    const L = layout(image.width, image.height, checkTileSize(opts.tileSize ?? this.tileSize));
    if (a.hy !== L.hy || a.wy !== L.wy || a.y.length !== this.model.manifest.latent.channels * a.hy * a.wy) {
      throw new CodecError('E_INVALID_OPTION', `the analysis (${a.wy}×${a.hy}) is not of this ${image.width}×${image.height} image`);
    }
    const { width: w, height: h } = image;
    type Coded = Awaited<ReturnType<Codec['codeAt']>>;
    const finish = (r: Coded, q: number, searched: number[], targetMet: boolean) => ({
      bytes: r.bytes,
      stats: { quality: q, bytes: r.bytes.length, bpp: (8 * r.bytes.length) / (w * h), zBytes: r.zBytes, yBytes: r.yBytes, alphaBytes, metadataBytes, color, tiles: L.tiles.length, tileSize: L.tileSize, searched, targetMet },
    });
    const code = (q: number) => this.codeAt(a, L, q, opts, color, extra);
    if (target === undefined) return finish(await code(quality), quality, [], true);
    // Rate grows with quality (gains interpolate monotonically between the anchors): find the
    // largest q with size(q) <= target.
    const searched: number[] = [];
    let [lo, hi] = [0, 100];
    let best: { r: Coded; q: number } | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      searched.push(mid);
      const r = await code(mid);
      if (r.bytes.length <= target) [best, lo] = [{ r, q: mid }, mid + 1];
      else hi = mid - 1;
    }
    if (best) return finish(best.r, best.q, searched, true);
    return finish(await code(0), 0, searched, false);
  }

  private parse(bytes: Uint8Array) {
    const c = parseContainer(bytes, { maxPixels: this.maxPixels });
    if (c.modelId !== this.modelId) throw new CodecError('E_UNKNOWN_MODEL', `stream needs model ${c.modelId}; this codec has ${this.modelId}`);
    if (c.formatVersion === 1 && this.model.context) throw new CodecError('E_CORRUPT', `format version 1 cannot carry ${this.modelId}'s channel context`);
    // Version 1 is one tile covering the image.
    const tileSize = c.tileSize || Math.max(PAD, Math.ceil(Math.max(c.width, c.height) / PAD) * PAD);
    return { c, L: layout(c.width, c.height, tileSize) };
  }

  /** ẑ of every tile of a parsed stream (cheap, this thread) on the global ẑ grid. */
  private parseZ(c: Container, L: Layout, opts: WorkOptions): Int32Array {
    const { hyper_channels: zc } = this.model.manifest.latent;
    const r = this.zRatio();
    const zHat = new Int32Array((zc * L.hy * L.wy) / (r * r));
    L.tiles.forEach((t, i) => {
      aborted(opts.signal);
      const own = { x0: t.latent.x0 / r, y0: t.latent.y0 / r, x1: t.latent.x1 / r, y1: t.latent.y1 / r };
      const z = decodeZ(c.tiles[i]!.z, zc, rectHeight(own), rectWidth(own), this.model.zTables);
      pastePlanar(zHat, L.wy / r, L.hy / r, own, z, own, zc);
    });
    return zHat;
  }

  /** Parses the first `channels` channels (whole context slices, no refinement) tile row by tile
   *  row into the rows `sink` opens, telling it when each tile row is in (a reduced-size decode:
   *  scale.ts, PreviewRows). */
  private async parseBands(c: Container, L: Layout, opts: WorkOptions, channels: number, sink: BandSink): Promise<void> {
    const zHat = this.parseZ(c, L, opts);
    const work = this.reclaiming(opts, L);
    const engines = await this.engines();
    // a band is a barrier: with several engines (workers), enough tile rows that each has two tiles
    const per = Math.max(1, Math.ceil((2 * engines.length) / L.cols));
    for (let row = 0; row < L.rows; row += per) {
      const tiles = L.tiles.slice(row * L.cols, Math.min(L.rows, row + per) * L.cols);
      const { y0 } = tiles[0]!.latent;
      const { y1 } = tiles[tiles.length - 1]!.latent;
      const { data, top } = sink.open(y0, y1);
      await schedule(engines, tiles.length, async (e, i) => {
        const t = tiles[i]!;
        const s = await e.decodeLatent(c.tiles[t.index]!.y, rectHeight(t.latent), rectWidth(t.latent), this.zRegion(zHat, L, t), channels, helps(L));
        const at = { ...t.latent, y0: t.latent.y0 - top, y1: t.latent.y1 - top };
        pastePlanar(data, L.wy, y1 - top, at, s.yHatG, at, channels);
      }, offsetProgress(work, row * L.cols, L.tiles.length), 'parsing');
      await sink.done(y1);
    }
  }

  /** Parses every tile of a stream (no synthesis): ẑ of all tiles first (cheap, this thread),
   *  then each tile's y; returns ŷ_g, ẑ and, with `symbols`, q and k, on the global grids. */
  private async parseTiles({ c, L }: { c: Container; L: Layout }, opts: WorkOptions, symbols: boolean) {
    const m = this.model.manifest.latent.channels;
    const n = m * L.hy * L.wy;
    const zHat = this.parseZ(c, L, opts);
    let yHatG: Float32Array = new Float32Array(n);
    const refines = !!this.model.context?.refine;
    // μ_h only for the channels the refinement reads (v6: 192 of 384)
    const rc = this.model.context?.refineChannels ?? m;
    const muH = refines ? new Float32Array((rc * n) / m) : undefined;
    const all = symbols ? { q: new Int32Array(n), k: new Uint8Array(n) } : undefined;
    await schedule(await this.engines(), L.tiles.length, async (e, i) => {
      const t = L.tiles[i]!;
      const s = await e.decodeLatent(c.tiles[i]!.y, rectHeight(t.latent), rectWidth(t.latent), this.zRegion(zHat, L, t), undefined, helps(L));
      pastePlanar(yHatG, L.wy, L.hy, t.latent, s.yHatG, t.latent, m);
      if (muH && s.muH) pastePlanar(muH, L.wy, L.hy, t.latent, s.muH, t.latent, rc); // its first rc channels
      if (all) {
        pastePlanar(all.q, L.wy, L.hy, t.latent, s.q, t.latent, m);
        pastePlanar(all.k, L.wy, L.hy, t.latent, s.k, t.latent, m);
      }
    }, this.reclaiming(opts, L), 'parsing');
    if (muH) yHatG = await refineTiles(await this.engines(), yHatG, muH, rc, L, this.reclaiming(opts, L));
    return { c, L, yHatG, zHat, all };
  }

  /** Parses a stream down to its symbols (no synthesis): the integer, bit-exact part of decoding. */
  async decodeSymbols(bytes: Uint8Array, opts: WorkOptions = {}): Promise<Symbols> {
    const { c, yHatG, zHat, all } = await this.parseTiles(this.parse(bytes), opts, true);
    return { width: c.width, height: c.height, quality: c.quality, zHat, k: all!.k, q: all!.q, yHatG };
  }

  /** Whether the model decodes 1/s sizes with a preview head (else: full decode, then downscale). */
  hasPreview(s: Scale | string): boolean {
    return previewHead(this.model, checkScale(s)) !== undefined;
  }

  /** Decodes a stream to the picture it was made from (gray, alpha) and its metadata; with
   *  `scale`, at 1/2, 1/4 or 1/8 of the size (scale.ts). */
  async decode(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<DecodedPicture> {
    const s = checkScale(opts.scale);
    const head = previewHead(this.model, s);
    const { c, L } = this.parse(bytes);
    const full = c.extra.ALPH ? decodeAlpha(c.extra.ALPH, c.width, c.height) : undefined; // a corrupt plane fails first
    const alpha = full && downscale(full, c.width, c.height, 1, s).data;
    let rgb: RgbImage;
    if (head) {
      const rows = new PreviewRows(await this.engines(), this.model, c.quality, L, s, opts);
      await this.parseBands(c, L, opts, head.channels, rows);
      rgb = rows.result();
    } else {
      const whole = await this.synthesizeTiles((await this.parseTiles({ c, L }, opts, false)).yHatG, c.quality, L, opts, true);
      rgb = downscale(whole.data, whole.width, whole.height, 3, s);
    }
    const m = c.extra;
    return joinPicture(rgb, c.color, alpha, { ...(m.ICCP ? { icc: m.ICCP.slice() } : {}), ...(m.EXIF ? { exif: m.EXIF.slice() } : {}), ...(m['XMP '] ? { xmp: m['XMP '].slice() } : {}) });
  }

  /** ŷ = ŷ_g/gain (in place when the caller has no further use for ŷ_g) → g_s tile by tile (each
   *  with its halo) → 8-bit RGB, cropped. */
  private async synthesizeTiles(yHatG: Float32Array, quality: number, L: Layout, opts: WorkOptions & { halo?: number }, inPlace = false): Promise<RgbImage> {
    const m = this.model.manifest.latent.channels;
    const yHat = ungain(yHatG, gainForQuality(this.model, quality), m, inPlace ? yHatG : undefined);
    const out = new Uint8Array(L.width * L.height * 3);
    const halo = opts.halo ?? this.halos().synthesis;
    await schedule(await this.engines(), L.tiles.length, async (e, i) => {
      const t = L.tiles[i]!;
      const reg = grow(t.latent, halo, L.wy, L.hy);
      const x = await e.synthesize(cropPlanar(yHat, m, L.wy, L.hy, reg), rectHeight(reg), rectWidth(reg));
      const rw = rectWidth(reg) * STRIDE;
      const rh = rectHeight(reg) * STRIDE;
      if (x.length !== 3 * rw * rh) throw new CodecError('E_MODEL_INTEGRITY', 'synthesis output has the wrong size');
      toRgb(out, L.width, t.pixels, x, rw, rh, reg.x0 * STRIDE, reg.y0 * STRIDE);
    }, this.reclaiming(opts, L), 'synthesis');
    return { width: L.width, height: L.height, data: out };
  }

  /** The float half of decoding from parsed symbols (tiled like decode(); `tileSize` and `halo`
   *  (latent positions) override the stream's tiling, for measurements). */
  async synthesize(s: Symbols, opts: WorkOptions & { tileSize?: number; halo?: number } = {}): Promise<RgbImage> {
    return this.synthesizeTiles(s.yHatG, s.quality, layout(s.width, s.height, checkTileSize(opts.tileSize ?? this.tileSize)), opts);
  }

  /** Whole-image synthesis with the decoder's explain outputs (attention weights), untiled. */
  async synthesizeExplained(s: Symbols): Promise<{ image: RgbImage; extras: Record<string, TensorData> }> {
    const m = this.model.manifest.latent.channels;
    const hy = Math.ceil(s.height / PAD) * (PAD / STRIDE);
    const wy = Math.ceil(s.width / PAD) * (PAD / STRIDE);
    const yHat = ungain(s.yHatG, gainForQuality(this.model, s.quality), m);
    const out = await (await this.ownEngine()).runAll('synthesis', 'y_hat', { dtype: 'float32', dims: [1, m, hy, wy], data: yHat });
    const [first, ...rest] = Object.keys(out);
    const img = new Uint8Array(s.width * s.height * 3);
    toRgb(img, s.width, { x0: 0, y0: 0, x1: s.width, y1: s.height }, out[first!]!.data as Float32Array, wy * STRIDE, hy * STRIDE, 0, 0);
    return { image: { width: s.width, height: s.height, data: img }, extras: Object.fromEntries(rest.map((n) => [n, out[n]!])) };
  }
}
