// Bjøntegaard deltas with piecewise cubic Hermite interpolation (PCHIP, Fritsch–Carlson slopes
// as in SciPy's PchipInterpolator), integrated exactly over the overlapping quality interval.
import { CodecError } from '../core/errors.js';

/** PCHIP slopes at the knots (x strictly increasing). */
function pchipSlopes(x: number[], y: number[]): number[] {
  const n = x.length;
  const h = x.slice(1).map((v, i) => v - x[i]!);
  const delta = h.map((hi, i) => (y[i + 1]! - y[i]!) / hi);
  if (n === 2) return [delta[0]!, delta[0]!];
  const d = new Array<number>(n).fill(0);
  for (let k = 1; k < n - 1; k++) {
    const a = delta[k - 1]!;
    const b = delta[k]!;
    if (a === 0 || b === 0 || Math.sign(a) !== Math.sign(b)) continue;
    const w1 = 2 * h[k]! + h[k - 1]!;
    const w2 = h[k]! + 2 * h[k - 1]!;
    d[k] = (w1 + w2) / (w1 / a + w2 / b); // weighted harmonic mean, as SciPy's pchip
  }
  const end = (h0: number, h1: number, m0: number, m1: number) => {
    let s = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
    if (Math.sign(s) !== Math.sign(m0)) s = 0;
    else if (Math.sign(m0) !== Math.sign(m1) && Math.abs(s) > Math.abs(3 * m0)) s = 3 * m0;
    return s;
  };
  d[0] = end(h[0]!, h[1]!, delta[0]!, delta[1]!);
  d[n - 1] = end(h[n - 2]!, h[n - 3]!, delta[n - 2]!, delta[n - 3]!);
  return d;
}

/** ∫_lo^hi of the PCHIP interpolant through (x, y), lo/hi inside [min x, max x]. */
export function pchipIntegral(xs: readonly number[], ys: readonly number[], lo: number, hi: number): number {
  const order = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]!);
  const x = order.map((i) => xs[i]!);
  const y = order.map((i) => ys[i]!);
  for (let i = 1; i < x.length; i++) if (!(x[i]! > x[i - 1]!)) throw new CodecError('E_INVALID_OPTION', 'PCHIP needs distinct x values');
  const d = pchipSlopes(x, y);
  // Hermite cubic on [x_k, x_k+1] in t ∈ [0, 1]; integrate its antiderivative between t0 and t1.
  const segInt = (k: number, t0: number, t1: number) => {
    const h = x[k + 1]! - x[k]!;
    const F = (t: number) => {
      const t2 = t * t;
      const t3 = t2 * t;
      const t4 = t3 * t;
      const h00 = t4 / 2 - t3 + t; // ∫(2t³ − 3t² + 1)
      const h10 = t4 / 4 - (2 * t3) / 3 + t2 / 2; // ∫(t³ − 2t² + t)
      const h01 = -t4 / 2 + t3; // ∫(−2t³ + 3t²)
      const h11 = t4 / 4 - t3 / 3; // ∫(t³ − t²)
      return h * (h00 * y[k]! + h10 * h * d[k]! + h01 * y[k + 1]! + h11 * h * d[k + 1]!);
    };
    return F(t1) - F(t0);
  };
  let total = 0;
  for (let k = 0; k < x.length - 1; k++) {
    const a = Math.max(lo, x[k]!);
    const b = Math.min(hi, x[k + 1]!);
    if (b <= a) continue;
    const h = x[k + 1]! - x[k]!;
    total += segInt(k, (a - x[k]!) / h, (b - x[k]!) / h);
  }
  return total;
}

export interface RdCurve {
  readonly bpp: readonly number[];
  readonly quality: readonly number[]; // PSNR (dB) or another quality measure
}

function overlap(a: RdCurve, b: RdCurve): [number, number] | undefined {
  const lo = Math.max(Math.min(...a.quality), Math.min(...b.quality));
  const hi = Math.min(Math.max(...a.quality), Math.max(...b.quality));
  return hi > lo ? [lo, hi] : undefined;
}

/** Average bitrate difference (%) of `test` against `anchor` at equal quality; negative = fewer
 *  bits. undefined when the curves do not overlap in quality. */
export function bdRate(anchor: RdCurve, test: RdCurve): number | undefined {
  const o = overlap(anchor, test);
  if (!o) return undefined;
  const [lo, hi] = o;
  const ia = pchipIntegral(anchor.quality, anchor.bpp.map(Math.log), lo, hi);
  const ib = pchipIntegral(test.quality, test.bpp.map(Math.log), lo, hi);
  return (Math.exp((ib - ia) / (hi - lo)) - 1) * 100;
}

/** Average quality difference of `test` against `anchor` at equal rate (over log-rate). */
export function bdQuality(anchor: RdCurve, test: RdCurve): number | undefined {
  const la = anchor.bpp.map(Math.log);
  const lb = test.bpp.map(Math.log);
  const lo = Math.max(Math.min(...la), Math.min(...lb));
  const hi = Math.min(Math.max(...la), Math.max(...lb));
  if (!(hi > lo)) return undefined;
  const ia = pchipIntegral(la, anchor.quality, lo, hi);
  const ib = pchipIntegral(lb, test.quality, lo, hi);
  return (ib - ia) / (hi - lo);
}
