// PSNR over 8-bit RGB (all channels pooled), as in training/hicodec_train/metrics.py.
import type { RgbImage } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';

export function mse(a: RgbImage, b: RgbImage): number {
  if (a.width !== b.width || a.height !== b.height || a.data.length !== b.data.length) {
    throw new CodecError('E_INVALID_OPTION', `Expected images of the same size but received ${a.width}×${a.height} and ${b.width}×${b.height}`);
  }
  let s = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i]! - b.data[i]!;
    s += d * d;
  }
  return s / a.data.length;
}

/** Peak signal-to-noise ratio in dB (Infinity for identical images). */
export function psnr(a: RgbImage, b: RgbImage): number {
  const e = mse(a, b);
  return e === 0 ? Infinity : 10 * Math.log10((255 * 255) / e);
}
