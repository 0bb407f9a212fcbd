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

/** Mean SSIM and mean contrast-structure term of one channel at one scale. The five local
 *  moments (μx, μy, E[x²], E[y²], E[xy]) come from one separable 11×11 Gaussian pass ("valid"). */
function ssimCs(x: Plane, y: Plane): [number, number] {
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  const { w, h } = x;
  const ow = w - 10;
  const oh = h - 10;
  // horizontal pass: 5 moment planes of ow × h
  const hx = new Float64Array(ow * h);
  const hy = new Float64Array(ow * h);
  const hxx = new Float64Array(ow * h);
  const hyy = new Float64Array(ow * h);
  const hxy = new Float64Array(ow * h);
  const xd = x.d;
  const yd = y.d;
  for (let r = 0; r < h; r++) {
    const row = r * w;
    for (let c = 0; c < ow; c++) {
      let sx = 0;
      let sy = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let k = 0; k < 11; k++) {
        const g = WIN[k]!;
        const a = xd[row + c + k]!;
        const b = yd[row + c + k]!;
        sx += g * a;
        sy += g * b;
        sxx += g * a * a;
        syy += g * b * b;
        sxy += g * a * b;
      }
      const o = r * ow + c;
      hx[o] = sx;
      hy[o] = sy;
      hxx[o] = sxx;
      hyy[o] = syy;
      hxy[o] = sxy;
    }
  }
  let ssim = 0;
  let cs = 0;
  for (let r = 0; r < oh; r++) {
    for (let c = 0; c < ow; c++) {
      let ux = 0;
      let uy = 0;
      let exx = 0;
      let eyy = 0;
      let exy = 0;
      for (let k = 0; k < 11; k++) {
        const g = WIN[k]!;
        const o = (r + k) * ow + c;
        ux += g * hx[o]!;
        uy += g * hy[o]!;
        exx += g * hxx[o]!;
        eyy += g * hyy[o]!;
        exy += g * hxy[o]!;
      }
      const vx = exx - ux * ux;
      const vy = eyy - uy * uy;
      const cov = exy - ux * uy;
      const v = (2 * cov + c2) / (vx + vy + c2);
      cs += v;
      ssim += ((2 * ux * uy + c1) / (ux * ux + uy * uy + c1)) * v;
    }
  }
  const n = ow * oh;
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
