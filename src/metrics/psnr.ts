// PSNR over 8-bit samples. psnr()/mse() pool every interleaved sample as given (for RgbImage: R, G
// and B, as in training/hicodec_train/metrics.py); colorPsnr()/colorMse() compare the colour of two
// pictures of any channel layout and leave alpha out (it is coded losslessly; counting it would
// flatter the figure).
import type { Picture, RgbImage } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';

function sameSize(a: RgbImage, b: RgbImage, samples: boolean): void {
  if (a.width !== b.width || a.height !== b.height || (samples && a.data.length !== b.data.length)) {
    throw new CodecError('E_INVALID_OPTION', `Expected images of the same size but received ${a.width}×${a.height} and ${b.width}×${b.height}`);
  }
}

export function mse(a: RgbImage, b: RgbImage): number {
  sameSize(a, b, true);
  let s = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i]! - b.data[i]!;
    s += d * d;
  }
  return s / a.data.length;
}

/** Peak signal-to-noise ratio in dB (Infinity for identical images). */
export function psnr(a: RgbImage, b: RgbImage): number {
  return toDb(mse(a, b));
}

/** MSE of the colour planes only: R, G, B (gray is compared as gray, or replicated against RGB);
 *  the alpha of gray + alpha and RGBA pictures is left out. The two pictures may differ in layout
 *  (an RGBA input whose alpha was dropped as fully opaque against its RGB decoding). */
export function colorMse(a: Picture, b: Picture): number {
  sameSize(a, b, false);
  const ca = a.channels ?? 3;
  const cb = b.channels ?? 3;
  if (a.data.length !== a.width * a.height * ca || b.data.length !== b.width * b.height * cb) {
    throw new CodecError('E_INVALID_OPTION', `Expected width·height·channels samples but received ${a.data.length} and ${b.data.length}`);
  }
  const colours = Math.max(ca <= 2 ? 1 : 3, cb <= 2 ? 1 : 3);
  let s = 0;
  for (let i = 0; i < a.width * a.height; i++) {
    for (let c = 0; c < colours; c++) {
      const d = a.data[i * ca + (ca <= 2 ? 0 : c)]! - b.data[i * cb + (cb <= 2 ? 0 : c)]!;
      s += d * d;
    }
  }
  return s / (a.width * a.height * colours);
}

/** PSNR in dB of the colour planes only (see colorMse): what a lossy codec changed. */
export function colorPsnr(a: Picture, b: Picture): number {
  return toDb(colorMse(a, b));
}

const toDb = (e: number) => (e === 0 ? Infinity : 10 * Math.log10((255 * 255) / e));
