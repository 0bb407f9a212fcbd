// Interleaved RGB ↔ RGBA conversions (canvas ImageData, wasm codecs).
import type { RgbImage } from '../codec/codec.js';

/** RGBA with alpha 255. */
export function rgbToRgba(img: RgbImage): Uint8ClampedArray {
  const d = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0, j = 0; i < img.data.length; i += 3, j += 4) {
    d[j] = img.data[i]!;
    d[j + 1] = img.data[i + 1]!;
    d[j + 2] = img.data[i + 2]!;
    d[j + 3] = 255;
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
