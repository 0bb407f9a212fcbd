// Shrink-on-load: decoding at 1/2, 1/4 or 1/8 of the size.
//
// With a model package that ships preview heads (manifest "previews", training/train_previews.py),
// the decoder reads only the first slices of each tile's y stream (the lowest frequencies: the
// channel context codes them first), skips the refinement and the synthesis transform, and runs a
// small head that maps those channels at /16 straight to pixels at 1/s of the size. Without a head
// for the scale it decodes in full and downscales (the same area average the heads are trained
// against). Output size: ceil(W/s) × ceil(H/s); gray and alpha keep their form (alpha is decoded
// losslessly and area-averaged).
import { CodecError } from '../core/errors.js';
import { outputConvShape } from '../model/narrow.js';
import { gainForQuality, ungain, type Manifest, type ModelPackage, type PreviewSpec } from '../model/package.js';
import type { TileEngine } from './engine.js';
import { offsetProgress, schedule } from './schedule.js';
import { cropPlanar, grow, rectHeight, rectWidth, STRIDE, toRgb, type Layout, type Tile } from './tiles.js';
import type { RgbImage, WorkOptions } from './codec.js';

/** The reduction factor: 1 (full size), 2, 4 or 8. */
export type Scale = 1 | 2 | 4 | 8;

const SCALES: Record<string, Scale> = { '1': 1, '1/1': 1, '1/2': 2, '1/4': 4, '1/8': 8, '0.5': 2, '0.25': 4, '0.125': 8 };

/** A scale from an option: 1, 2, 4 or 8 (the divisor), or the strings "1/2", "1/4", "1/8", "0.5"… */
export function checkScale(v: unknown): Scale {
  if (v === undefined) return 1;
  if (typeof v === 'number' && (v === 1 || v === 2 || v === 4 || v === 8)) return v;
  const s = typeof v === 'string' || typeof v === 'number' ? SCALES[String(v).trim()] : undefined;
  if (s === undefined) throw new CodecError('E_INVALID_OPTION', `Expected 1/2, 1/4 or 1/8 for scale but received ${String(v)}`);
  return s;
}

/** The picture size at 1/s: each side rounded up. */
export function scaledSize(width: number, height: number, s: Scale): { width: number; height: number } {
  return { width: Math.ceil(width / s), height: Math.ceil(height / s) };
}

/** The package's head for 1/s, if it ships one. */
export function previewHead(model: ModelPackage, s: Scale): (PreviewSpec & { bytes: Uint8Array }) | undefined {
  return s === 1 ? undefined : model.previews.find((h) => h.scale === s);
}

/** The networks a decode at 1/s runs, in MACs per image pixel, as a share of a full decode's
 *  (hyper-decoder, the context slices read, the head; against the hyper-decoder, every slice, the
 *  LRP and g_s). Undefined when the manifest does not count the slices one by one. In one thread
 *  the time followed it closely (hic-base-v6 at q75 on Kodak: 1/8 26% of the MACs and 24.7% of the
 *  time, 1/4 33% and 32.6%, bench/results/scale-2026-12-01-v6.md); with the parse's float half on
 *  the helper thread a reduced decode takes less than its share (23.0% and 29.7%,
 *  scale-2026-12-02.md); at 1/2 parsing every channel costs more than its MACs (46%, 51%).
 *  `meanOutput`: MACs per pixel of hyper_mean's last convolution (all M outputs; outputConvShape
 *  in model/narrow.ts): a reduced decode computes μ_h of the channels it reads only, so that part
 *  of h_s_mean counts in proportion (without it, all of h_s_mean counts). */
export function macsShare(manifest: Manifest, head: PreviewSpec, meanOutput?: number): number | undefined {
  const mp = manifest.macs_per_pixel;
  const slices = mp?.['context_slices'];
  const ctx = manifest.context;
  const num = (k: string) => (typeof mp?.[k] === 'number' ? (mp[k] as number) : undefined);
  const [hs, hm, gs] = [num('h_s_scale'), num('h_s_mean'), num('g_s')];
  if (!Array.isArray(slices) || !ctx || slices.length !== ctx.slices.length + 1 || hs === undefined || hm === undefined || gs === undefined || head.macs_per_pixel === undefined) return undefined;
  const read = ctx.starts.findIndex((st, i) => st + ctx.slices[i]! === head.channels) + 1;
  if (read === 0) return undefined;
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const m = manifest.latent.channels;
  const mean = meanOutput !== undefined && meanOutput <= hm && head.channels < m ? hm - meanOutput * (1 - head.channels / m) : hm;
  return (hs + mean + sum(slices.slice(0, read)) + head.macs_per_pixel) / (hs + hm + sum(slices) + gs);
}

/** MACs per image pixel of hyper_mean's last convolution (it runs at the latent's stride), from
 *  the graph; undefined when the decoder would not cut it (model/narrow.ts). */
export function meanOutputMacs(manifest: Manifest, hyperMean: Uint8Array): number | undefined {
  const w = outputConvShape(hyperMean);
  return w && w.length === 4 ? w.reduce((a, b) => a * b, 1) / manifest.latent.stride ** 2 : undefined;
}

/** What decoding at each scale does with a package (hic info, docs); `meanOutput`: see macsShare. */
export function scaleCosts(manifest: Manifest, meanOutput?: number): { scale: Scale; method: 'head' | 'full-then-downscale'; channels: number; macsShare?: number; note: string }[] {
  const m = manifest.latent.channels;
  return ([2, 4, 8] as const).map((s) => {
    const h = manifest.previews?.heads.find((p) => p.scale === s);
    if (!h) return { scale: s, method: 'full-then-downscale', channels: m, note: 'no preview head in the model: full decode, then area downscale' };
    const v = h.validation_psnr_db;
    const share = macsShare(manifest, h, meanOutput);
    return {
      scale: s, method: 'head', channels: h.channels, ...(share === undefined ? {} : { macsShare: Math.round(1000 * share) / 1000 }),
      note: `preview head: reads ${h.channels} of ${m} latent channels, no synthesis transform` +
        (share === undefined ? ` (head ${h.macs_per_pixel ?? '?'} MACs/px)` : `: ${Math.round(100 * share)}% of a full decode's MACs`) +
        (v ? `; validation ${v['preview']} dB, full decode + downscale ${v['full_then_downscale']} dB` : ''),
    };
  });
}

/** Rows of the latent grid as a parse fills them, tile row by tile row (codec.ts parseBands). */
export interface BandSink {
  /** A buffer for ŷ_g of latent rows [y0, y1), planar [channels, y1 − top, wy]: latent row y sits
   *  at y − top; the rows from `top` to y0 are kept from earlier rows. */
  open(y0: number, y1: number): { data: Float32Array; top: number };
  /** Every row before y1 is in. */
  done(y1: number): Promise<void>;
}

/**
 * The preview head tile by tile (each with its halo) on ŷ_g of the first `head.channels`
 * channels as a parse delivers them tile row by tile row (a BandSink): a tile row runs as soon as
 * the rows its halo reaches are in, and rows no later tile row reaches are dropped. So a picture
 * holds its latent a few tile rows at a time: 24 MP at 1/8, 128 channels, about 13 MB where the
 * whole grid took 48. Output: 8-bit RGB at 1/s.
 */
export class PreviewRows implements BandSink {
  private win = new Float32Array(0);
  private top = 0;
  private filled = 0;
  private row = 0;
  private readonly opts: WorkOptions;
  private readonly head: PreviewSpec & { bytes: Uint8Array };
  private readonly gain: Float32Array;
  /** The layout's tiles, row by row. */
  private readonly tileRows: readonly (readonly Tile[])[];
  readonly out: Uint8Array;
  readonly width: number;
  readonly height: number;

  constructor(
    private readonly engines: readonly TileEngine[], model: ModelPackage, quality: number, private readonly L: Layout,
    private readonly s: Scale, opts: WorkOptions,
  ) {
    // signal and progress only: no reclaim between the heads (little is left per tile, a 2.4 MB
    // crop, and a collection costs more), whatever else the caller's options object carries
    this.opts = { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) };
    const head = previewHead(model, s);
    if (!head) throw new CodecError('E_MODEL_INTEGRITY', `the model has no preview head for 1/${s}`);
    this.head = head;
    this.gain = gainForQuality(model, quality);
    this.tileRows = Array.from({ length: L.rows }, (_, i) => L.tiles.slice(i * L.cols, (i + 1) * L.cols));
    ({ width: this.width, height: this.height } = scaledSize(L.width, L.height, s));
    this.out = new Uint8Array(this.width * this.height * 3);
  }

  open(y0: number, y1: number): { data: Float32Array; top: number } {
    if (y0 !== this.filled) throw new CodecError('E_MODEL_INTEGRITY', `latent rows from ${y0} after rows up to ${this.filled}`);
    const { channels: k } = this.head;
    const W = this.L.wy;
    const kept = this.filled - this.top;
    const data = new Float32Array(k * (y1 - this.top) * W);
    for (let c = 0; c < k; c++) data.set(this.win.subarray(c * kept * W, (c + 1) * kept * W), c * (y1 - this.top) * W);
    this.win = data;
    return { data, top: this.top };
  }

  async done(y1: number): Promise<void> {
    const { L, s } = this;
    const { channels: k, halo } = this.head;
    const W = L.wy;
    const rows = y1 - this.top;
    // ŷ = ŷ_g / gain of the new rows, in place, channel by channel
    for (let c = 0; c < k; c++) {
      const part = this.win.subarray((c * rows + this.filled - this.top) * W, (c + 1) * rows * W);
      ungain(part, this.gain.subarray(c, c + 1), 1, part);
    }
    this.filled = y1;
    const r = STRIDE / s; // output pixels per latent position
    while (this.row < L.rows && Math.min(L.hy, this.tileRows[this.row]![0]!.latent.y1 + halo) <= y1) {
      const tiles = this.tileRows[this.row]!;
      await schedule(this.engines, tiles.length, async (e, i) => {
        const t = tiles[i]!;
        const reg = grow(t.latent, halo, W, L.hy);
        const local = { ...reg, y0: reg.y0 - this.top, y1: reg.y1 - this.top };
        const x = await e.preview(s, cropPlanar(this.win, k, W, rows, local), k, rectHeight(reg), rectWidth(reg));
        const rw = rectWidth(reg) * r;
        const rh = rectHeight(reg) * r;
        if (x.length !== 3 * rw * rh) throw new CodecError('E_MODEL_INTEGRITY', 'preview output has the wrong size');
        // tile edges are multiples of 128 px, so of s: the tile's pixels at 1/s, clipped to the picture
        const px = { x0: t.pixels.x0 / s, y0: t.pixels.y0 / s, x1: Math.min(this.width, Math.ceil(t.pixels.x1 / s)), y1: Math.min(this.height, Math.ceil(t.pixels.y1 / s)) };
        toRgb(this.out, this.width, px, x, rw, rh, reg.x0 * r, reg.y0 * r);
      }, offsetProgress(this.opts, this.row * L.cols, L.tiles.length), 'synthesis');
      this.row++;
    }
    // keep the rows the next tile row's halo reaches
    const from = this.row < L.rows ? Math.max(this.top, this.tileRows[this.row]![0]!.latent.y0 - halo) : y1;
    if (from > this.top) {
      this.win = cropPlanar(this.win, k, W, rows, { x0: 0, x1: W, y0: from - this.top, y1: rows });
      this.top = from;
    }
  }

  /** Latent rows held now (those a tile row still to run reaches). */
  get rowsHeld(): number {
    return this.filled - this.top;
  }

  result(): RgbImage {
    if (this.row < this.L.rows) throw new CodecError('E_MODEL_INTEGRITY', `preview: ${this.L.rows - this.row} tile rows not decoded`);
    return { width: this.width, height: this.height, data: this.out };
  }
}

/** Area downscale by s of interleaved 8-bit pixels with `ch` channels; edge blocks average the
 *  pixels they have. */
export function downscale(data: Uint8Array, width: number, height: number, ch: number, s: Scale): { width: number; height: number; data: Uint8Array } {
  const { width: w, height: h } = scaledSize(width, height, s);
  if (s === 1) return { width, height, data };
  const out = new Uint8Array(w * h * ch);
  const acc = new Float64Array(ch);
  for (let by = 0; by < h; by++) {
    const y1 = Math.min(height, (by + 1) * s);
    for (let bx = 0; bx < w; bx++) {
      const x1 = Math.min(width, (bx + 1) * s);
      acc.fill(0);
      for (let y = by * s; y < y1; y++) for (let x = bx * s; x < x1; x++) for (let c = 0; c < ch; c++) acc[c] = acc[c]! + data[(y * width + x) * ch + c]!;
      const n = (y1 - by * s) * (x1 - bx * s);
      for (let c = 0; c < ch; c++) out[(by * w + bx) * ch + c] = Math.round(acc[c]! / n);
    }
  }
  return { width: w, height: h, data: out };
}
