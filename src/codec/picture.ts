// A picture as the codec takes and gives it: checks, the split into colour planes and alpha (gray
// replicated to RGB), the join back, the metadata chunks, and the padded planar float region the
// analysis transform reads.
import type { ColorMode, OptionalChunk } from '../bitstream/container.js';
import { CodecError } from '../core/errors.js';
import type { DecodedPicture, ImageMetadata, Picture, RgbImage } from './codec.js';
import { rectHeight, rectWidth, type Rect } from './tiles.js';

export function checkImage(image: Picture, maxPixels: number): 1 | 2 | 3 | 4 {
  const { width: w, height: h } = image;
  const ch = image.channels ?? 3;
  if (![1, 2, 3, 4].includes(ch)) throw new CodecError('E_INVALID_OPTION', `Expected 1, 2, 3 or 4 for channels but received ${String(ch)}`);
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1 || image.data?.length !== w * h * ch) {
    throw new CodecError('E_INVALID_OPTION', `Expected an image with width·height·${ch} bytes but received ${w}×${h} with ${image.data?.length}`);
  }
  if (w > 65535 || h > 65535 || w * h > maxPixels) throw new CodecError('E_LIMIT_EXCEEDED', `${w}×${h} exceeds the pixel limit`);
  return ch;
}

/** A picture split for coding: the colour planes as RGB (gray replicated), the colour mode, and
 *  the alpha plane unless it is absent or fully opaque. */
export function splitPicture(p: Picture): { rgb: RgbImage; color: ColorMode; alpha?: Uint8Array } {
  const ch = p.channels ?? 3;
  if (ch === 3) return { rgb: p, color: 'rgb' };
  const n = p.width * p.height;
  const rgb = new Uint8Array(n * 3);
  const alpha = ch === 2 || ch === 4 ? new Uint8Array(n) : undefined;
  let opaque = true;
  for (let i = 0; i < n; i++) {
    if (ch <= 2) {
      const g = p.data[i * ch]!;
      rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g;
    } else {
      rgb[3 * i] = p.data[4 * i]!;
      rgb[3 * i + 1] = p.data[4 * i + 1]!;
      rgb[3 * i + 2] = p.data[4 * i + 2]!;
    }
    if (alpha) {
      alpha[i] = p.data[i * ch + ch - 1]!;
      if (alpha[i] !== 255) opaque = false;
    }
  }
  return { rgb: { width: p.width, height: p.height, data: rgb }, color: ch <= 2 ? 'gray' : 'rgb', ...(alpha && !opaque ? { alpha } : {}) };
}

/** The decoded RGB back to the picture's own channels: gray as the mean of R, G, B; alpha appended. */
export function joinPicture(rgb: RgbImage, color: ColorMode, alpha: Uint8Array | undefined, metadata: ImageMetadata): DecodedPicture {
  const n = rgb.width * rgb.height;
  if (color === 'rgb' && !alpha) return { ...rgb, channels: 3, metadata };
  const ch = ((color === 'gray' ? 1 : 3) + (alpha ? 1 : 0)) as 1 | 2 | 3 | 4;
  const out = new Uint8Array(n * ch);
  for (let i = 0; i < n; i++) {
    const r = rgb.data[3 * i]!;
    const g = rgb.data[3 * i + 1]!;
    const b = rgb.data[3 * i + 2]!;
    if (color === 'gray') {
      out[i * ch] = Math.round((r + g + b) / 3);
    } else {
      out[i * ch] = r;
      out[i * ch + 1] = g;
      out[i * ch + 2] = b;
    }
    if (alpha) out[i * ch + ch - 1] = alpha[i]!;
  }
  return { width: rgb.width, height: rgb.height, channels: ch, data: out, metadata };
}

export function metadataChunks(m: ImageMetadata | undefined, alpha: Uint8Array | undefined): Partial<Record<OptionalChunk, Uint8Array>> {
  const out: Partial<Record<OptionalChunk, Uint8Array>> = {};
  if (m?.icc?.length) out.ICCP = m.icc;
  if (m?.exif?.length) out.EXIF = m.exif;
  if (m?.xmp?.length) out['XMP '] = m.xmp;
  if (alpha) out.ALPH = alpha;
  return out;
}

/** The padded image's pixels in `r` (padded-image coordinates; edge replicate beyond the image)
 *  as planar float [3, h, w] in [0, 1]. */
export function planarRegion(img: RgbImage, r: Rect): Float32Array {
  const rw = rectWidth(r);
  const rh = rectHeight(r);
  const out = new Float32Array(3 * rw * rh);
  const { width: w, height: h, data } = img;
  const plane = rw * rh;
  const inside = Math.max(0, Math.min(rw, w - r.x0)); // columns before the right edge's replicas
  for (let y = 0; y < rh; y++) {
    const row = Math.min(r.y0 + y, h - 1) * w;
    const d0 = y * rw;
    for (let x = 0, s = (row + r.x0) * 3; x < inside; x++, s += 3) {
      out[d0 + x] = UNIT[data[s]!]!;
      out[plane + d0 + x] = UNIT[data[s + 1]!]!;
      out[2 * plane + d0 + x] = UNIT[data[s + 2]!]!;
    }
    for (let x = inside; x < rw; x++) {
      const s = (row + Math.min(r.x0 + x, w - 1)) * 3;
      out[d0 + x] = UNIT[data[s]!]!;
      out[plane + d0 + x] = UNIT[data[s + 1]!]!;
      out[2 * plane + d0 + x] = UNIT[data[s + 2]!]!;
    }
  }
  return out;
}

/** v/255 for every byte v, as float32: a lookup instead of a division per sample (same values). */
const UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);
