// MS-SSIM (Wang, Simoncelli & Bovik 2003) on 8-bit RGB, the convention of pytorch_msssim and
// CompressAI's published results (and training/hicodec_train/metrics.py): 11-tap Gaussian window
// (σ = 1.5, "valid" filtering), five scales weighted 0.0448 … 0.1333, 2×2 average pooling with
// replicate padding of odd sizes, computed per channel and averaged over R, G, B.
import type { RgbImage } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';

export const MS_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333] as const;
const WIN = (() => {
  const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5)));
  const s = g.reduce((a, b) => a + b, 0);
  return Float64Array.from(g, (v) => v / s);
})();

interface Plane {
  w: number;
  h: number;
  d: Float64Array;
}

/** Separable 11×11 Gaussian filter, valid region only. */
function filter(p: Plane): Plane {
  const { w, h, d } = p;
  const ow = w - 10;
  const oh = h - 10;
  const tmp = new Float64Array(ow * h);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < 11; k++) s += WIN[k]! * d[row + x + k]!;
      tmp[y * ow + x] = s;
    }
  }
  const out = new Float64Array(ow * oh);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < 11; k++) s += WIN[k]! * tmp[(y + k) * ow + x]!;
      out[y * ow + x] = s;
    }
  }
  return { w: ow, h: oh, d: out };
}

function mul(a: Plane, b: Plane): Plane {
  return { w: a.w, h: a.h, d: a.d.map((v, i) => v * b.d[i]!) };
}

/** Mean SSIM and mean contrast-structure term of one channel at one scale. */
function ssimCs(x: Plane, y: Plane): [number, number] {
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  const mx = filter(x);
  const my = filter(y);
  const sxx = filter(mul(x, x));
  const syy = filter(mul(y, y));
  const sxy = filter(mul(x, y));
  let ssim = 0;
  let cs = 0;
  const n = mx.d.length;
  for (let i = 0; i < n; i++) {
    const ux = mx.d[i]!;
    const uy = my.d[i]!;
    const vx = sxx.d[i]! - ux * ux;
    const vy = syy.d[i]! - uy * uy;
    const cov = sxy.d[i]! - ux * uy;
    const c = (2 * cov + c2) / (vx + vy + c2);
    cs += c;
    ssim += ((2 * ux * uy + c1) / (ux * ux + uy * uy + c1)) * c;
  }
  return [ssim / n, cs / n];
}

function pool(p: Plane): Plane {
  const w = Math.ceil(p.w / 2);
  const h = Math.ceil(p.h / 2);
  const d = new Float64Array(w * h);
  const at = (x: number, y: number) => p.d[Math.min(y, p.h - 1) * p.w + Math.min(x, p.w - 1)]!;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) d[y * w + x] = (at(2 * x, 2 * y) + at(2 * x + 1, 2 * y) + at(2 * x, 2 * y + 1) + at(2 * x + 1, 2 * y + 1)) / 4;
  }
  return { w, h, d };
}

function channel(img: RgbImage, c: number): Plane {
  const d = new Float64Array(img.width * img.height);
  for (let i = 0; i < d.length; i++) d[i] = img.data[3 * i + c]!;
  return { w: img.width, h: img.height, d };
}

/** MS-SSIM in [0, 1]; needs both sides larger than 160 pixels. */
export function msSsim(a: RgbImage, b: RgbImage): number {
  if (a.width !== b.width || a.height !== b.height) throw new CodecError('E_INVALID_OPTION', 'MS-SSIM needs images of the same size');
  if (Math.min(a.width, a.height) <= 160) throw new CodecError('E_INVALID_OPTION', 'MS-SSIM needs images larger than 160 pixels on each side');
  let total = 0;
  for (let c = 0; c < 3; c++) {
    let x = channel(a, c);
    let y = channel(b, c);
    let prod = 1;
    for (let s = 0; s < MS_WEIGHTS.length; s++) {
      const [ssim, cs] = ssimCs(x, y);
      const last = s === MS_WEIGHTS.length - 1;
      prod *= Math.max(0, last ? ssim : cs) ** MS_WEIGHTS[s]!;
      if (!last) {
        x = pool(x);
        y = pool(y);
      }
    }
    total += prod;
  }
  return total / 3;
}
