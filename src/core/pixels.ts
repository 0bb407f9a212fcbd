// Interleaved pixel conversions between pictures (1–4 channels) and RGBA (canvas ImageData,
// wasm codecs).
import type { Picture, RgbImage } from '../codec/codec.js';

/** RGBA of a picture of any channel count (gray replicated; alpha 255 where there is none). */
export function rgbToRgba(img: Picture): Uint8ClampedArray {
  const ch = img.channels ?? 3;
  const n = img.width * img.height;
  const d = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    const s = i * ch;
    const g = img.data[s]!;
    d[4 * i] = g;
    d[4 * i + 1] = ch >= 3 ? img.data[s + 1]! : g;
    d[4 * i + 2] = ch >= 3 ? img.data[s + 2]! : g;
    d[4 * i + 3] = ch === 2 || ch === 4 ? img.data[s + ch - 1]! : 255;
  }
  return d;
}

/** Drops alpha. With `opaqueOnly`, returns undefined when any pixel is not fully opaque. */
export function rgbaToRgb(width: number, height: number, rgba: ArrayLike<number>, opaqueOnly = false): RgbImage | undefined {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < rgba.length; i += 3, j += 4) {
    if (opaqueOnly && rgba[j + 3] !== 255) return undefined;
    data[i] = rgba[j]!;
    data[i + 1] = rgba[j + 1]!;
    data[i + 2] = rgba[j + 2]!;
  }
  return { width, height, data };
}

/** RGBA pixels as a picture: RGB when every pixel is opaque, else RGBA. */
export function rgbaToPicture(width: number, height: number, rgba: ArrayLike<number>): Picture {
  return rgbaToRgb(width, height, rgba, true) ?? { width, height, channels: 4, data: Uint8Array.from(rgba) };
}
