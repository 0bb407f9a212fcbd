// Tile geometry (FORMAT.md, "Tiles"): which latent positions each tile owns, and the regions the
// analysis and synthesis transforms run on (the tile plus a halo, clipped to the image).
import { tileGrid } from '../bitstream/container.js';

export const STRIDE = 16;
export const PAD = 64;

const ceilTo = (v: number, m: number) => Math.ceil(v / m) * m;

/** A rectangle [x0, x1) × [y0, y1) on some grid. */
export interface Rect {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

export const rectWidth = (r: Rect) => r.x1 - r.x0;
export const rectHeight = (r: Rect) => r.y1 - r.y0;

export interface Tile {
  readonly index: number;
  /** The tile's pixels in the image (clipped to the image). */
  readonly pixels: Rect;
  /** The latent positions (stride 16) the tile owns, on the grid of the image padded to /64. */
  readonly latent: Rect;
}

export interface Layout {
  readonly width: number;
  readonly height: number;
  readonly tileSize: number;
  /** Latent grid of the padded image. */
  readonly wy: number;
  readonly hy: number;
  readonly cols: number;
  readonly rows: number;
  readonly tiles: readonly Tile[];
}

export function layout(width: number, height: number, tileSize: number): Layout {
  const { cols, rows } = tileGrid(width, height, tileSize);
  const wy = ceilTo(width, PAD) / STRIDE;
  const hy = ceilTo(height, PAD) / STRIDE;
  const tl = tileSize / STRIDE;
  const tiles: Tile[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      tiles.push({
        index: tiles.length,
        pixels: { x0: c * tileSize, y0: r * tileSize, x1: Math.min(width, (c + 1) * tileSize), y1: Math.min(height, (r + 1) * tileSize) },
        latent: { x0: c * tl, y0: r * tl, x1: Math.min(wy, (c + 1) * tl), y1: Math.min(hy, (r + 1) * tl) },
      });
    }
  }
  return { width, height, tileSize, wy, hy, cols, rows, tiles };
}

/** The side of the analysis transform's blocks for a picture (Codec.analyze): `block`, or the whole
 *  picture in one block when its padded area is at most that of an inner block with its halo on
 *  every side, the most pixels any block of a bigger picture takes; so memory keeps its bound and a
 *  small picture does not pay for halos (hic-base-v7, Kodak q75 encode ×0.88: one 768×512 block
 *  against 576×512 and 320×512; docs/MODEL.md, "encode"). */
export function analysisBlock(width: number, height: number, block: number, halo: number): number {
  const w = ceilTo(width, PAD);
  const h = ceilTo(height, PAD);
  return w * h <= (block + 2 * halo) ** 2 ? Math.max(block, ceilTo(Math.max(w, h), 128)) : block;
}

/** `r` grown by `halo` on every side, clipped to [0, w) × [0, h). */
export function grow(r: Rect, halo: number, w: number, h: number): Rect {
  return { x0: Math.max(0, r.x0 - halo), y0: Math.max(0, r.y0 - halo), x1: Math.min(w, r.x1 + halo), y1: Math.min(h, r.y1 + halo) };
}

type Planar = Float32Array | Int32Array | Uint8Array;

/** Copies the planar [channels, rect] block out of a planar [channels, h, w] tensor. */
export function cropPlanar<T extends Planar>(src: T, channels: number, w: number, h: number, r: Rect): T {
  const rw = rectWidth(r);
  const rh = rectHeight(r);
  // whole rows are one run per channel, the whole plane one copy: a subarray per row costs more
  // than the copy on an untiled image (192 channels × 32 rows)
  if (rw === w && rh === h) return src.slice(0, channels * w * h) as T;
  const out = new (src.constructor as new (n: number) => T)(channels * rw * rh);
  for (let c = 0; c < channels; c++) {
    if (rw === w) {
      const s = c * w * h + r.y0 * w;
      out.set(src.subarray(s, s + rw * rh), c * rw * rh);
      continue;
    }
    for (let y = 0; y < rh; y++) {
      const s = c * w * h + (r.y0 + y) * w + r.x0;
      out.set(src.subarray(s, s + rw), (c * rh + y) * rw);
    }
  }
  return out;
}

/** Writes the block `inner` (relative to the planar [channels, src] tensor `src`) into the planar
 *  [channels, h, w] tensor `dst` at `at`. */
export function pastePlanar<T extends Planar>(dst: T, w: number, h: number, at: Rect, src: T, srcRect: Rect, channels: number): void {
  const sw = rectWidth(srcRect);
  const sh = rectHeight(srcRect);
  const rw = rectWidth(at);
  const rows = at.y1 - at.y0;
  for (let c = 0; c < channels; c++) {
    if (rw === w && sw === w) { // whole rows on both sides: one run per channel
      const s = (c * sh + (at.y0 - srcRect.y0)) * sw;
      dst.set(src.subarray(s, s + rows * w), c * w * h + at.y0 * w);
      continue;
    }
    for (let y = at.y0; y < at.y1; y++) {
      const s = (c * sh + (y - srcRect.y0)) * sw + (at.x0 - srcRect.x0);
      dst.set(src.subarray(s, s + rw), c * w * h + y * w + at.x0);
    }
  }
}

/** Writes the pixels `px` (image coordinates) of the planar float region x ([3, rh, rw], origin
 *  (ox, oy) in image coordinates) into the interleaved 8-bit image `out` of width `w`. */
export function toRgb(out: Uint8Array, w: number, px: Rect, x: Float32Array, rw: number, rh: number, ox: number, oy: number): void {
  // = Math.round(clamp(v, 0, 1) · 255): v·255 of a float32 is exact in a double, so +0.5 and
  // truncation round exactly as Math.round does; NaN stores 0 as before. Row by row, one channel
  // at a time: this loop is a visible part of a decode.
  const P = rw * rh;
  const n = px.x1 - px.x0;
  for (let ch = 0; ch < 3; ch++) {
    for (let yy = px.y0; yy < px.y1; yy++) {
      let s = ch * P + (yy - oy) * rw + (px.x0 - ox);
      let d = (yy * w + px.x0) * 3 + ch;
      for (let i = 0; i < n; i++, s++, d += 3) {
        const v = x[s]! * 255 + 0.5;
        out[d] = v >= 255 ? 255 : v > 0 ? v | 0 : 0;
      }
    }
  }
}
