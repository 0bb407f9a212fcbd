// Encoder effort (EncodeOptions.effort, `hic encode --effort 0..9`): encoder time spent on a better
// choice of what is transmitted. The bitstream and the decoder are unchanged: a stream made at any
// effort is an ordinary stream, and effort 0 is the plain encoder, byte for byte. Three tools:
//
// 1. RDOQ (effort ≥ 1, no extra network run): each symbol is round(r), r = y_g − μ, or its
//    neighbour toward zero, or 0, whichever minimises bits(q | T_k) + w·(q − r)², with the exact
//    code length under the shipped integer table (escape included). Slices are decided in coding
//    order inside the encoder's own slice loop (engine.ts), so the context graphs of slice i run on
//    the symbols chosen for slices < i, as the decoder will. The weight comes from the training
//    loss λ·255²·MSE + bpp (docs/MODEL.md, "Encoder effort").
// 2. Decoder matching (effort ≥ 2): the amortised g_a does not give the latent that the decoder
//    maps closest to the image. A step y ← y + β·(y₀ − g_a(g_s(y))) (y₀ = g_a(x), unquantised y)
//    moves y so that g_a sees the decoded image where it saw x; each step costs one g_s and one g_a.
//    It pays at high rates, where quantisation no longer hides the encoder's error, so the number
//    of steps grows with λ.
// 3. Selection (effort ≥ 5): candidate streams (effort 0's own, chain latents around the scheduled
//    step, neighbouring qualities ±3, ±6), each decoded with the real decoder; the one kept needs the
//    fewest bits at equal PSNR: the smallest ln(bytes) − s·PSNR, s the slope of the model's RD
//    curve (ln-rate per dB) at the requested quality. (With a rate target: the best PSNR that fits.)
//    The training loss J = bits + λ·255²·SSE/3 as the criterion made BD-rate worse than no
//    selection (it prices a dB by the image's MSE); a neighbouring quality kept is stored as such
//    in the file (stats.quality says which).
import { CodecError } from '../core/errors.js';
import type { CdfTable } from '../entropy/tables.js';
import { PRECISION } from '../entropy/tables.js';
import { gainForQuality, type ModelPackage } from '../model/package.js';
import type { Analysis, EncodeOptions, EncodeStats, Picture, RgbImage, Symbols, WorkOptions } from './codec.js';

export const MAX_EFFORT = 9;
/** The effort of an encode that names none: RDOQ, which costs ~3% more encoder time and bought
 *  −4.2% BD-rate on cid22-val (41 photos, hic-base-v7; docs/MODEL.md, "Encoder effort"). */
export const DEFAULT_EFFORT = 1;

export function checkEffort(e: unknown): number {
  if (typeof e !== 'number' || !Number.isInteger(e) || e < 0 || e > MAX_EFFORT) {
    throw new CodecError('E_INVALID_OPTION', `Expected an integer 0..${MAX_EFFORT} for effort but received ${String(e)}`);
  }
  return e;
}

interface Level {
  /** Rate–distortion optimised symbols. */
  readonly rdoq: boolean;
  /** Most decoder-matching steps (at the highest λ; fewer at lower λ, see stepsFor). */
  readonly steps: number;
  /** Selection: the chain latents measured, as offsets from the scheduled step n (none: take
   *  chain[n] unmeasured). */
  readonly around: readonly number[];
  /** Quality offsets measured on y₀ when n = 0 (low λ, where decoder matching does not pay). */
  readonly low: readonly number[];
  /** Quality offsets measured on the best chain latent when n ≥ 1. */
  readonly high: readonly number[];
}

const L = (rdoq: boolean, steps: number, around: readonly number[] = [], low: readonly number[] = [], high: readonly number[] = []): Level => ({ rdoq, steps, around, low, high });
/** Tuned on cid22-val, measured on Kodak: docs/MODEL.md, "Encoder effort". */
const LEVELS: readonly Level[] = [
  L(false, 0), L(true, 0), L(true, 1), L(true, 2), L(true, 3),
  L(true, 3, [-1, 0], [3]), L(true, 3, [-1, 0], [-3, 3]), L(true, 3, [-1, 0], [-3, 3], [3]),
  L(true, 3, [-1, 0], [-3, 3], [-3, 3]), L(true, 3, [-1, 0], [-6, -3, 3, 6], [-3, 3]),
];

// The constants below were tuned on hic-base-v4; on hic-base-v5 the levels measured −5.1% (1),
// −5.8% (2), −6.3% (5) and −6.9% (9) BD-rate (bench/results/effort-2026-12-01-v5.md).

/** Slope of hic-base-v4's mean RD curve, ln(bpp) per dB of PSNR, at qualities 0, 25, …, 100
 *  (cid22-val, 4 images, effort 0: the segment slopes were 0.20, 0.23, 0.33, 0.60). */
const SLOPE = [0.2, 0.22, 0.28, 0.45, 0.7];
/** The selection's measure of a stream of `bytes` decoded at `psnr` dB, asked for at `quality`:
 *  ln(bytes) − s·PSNR, lower is better (a difference of d is a rate change of e^d − 1 at equal PSNR). */
export function rdCost(bytes: number, psnr: number, quality: number): number {
  const t = Math.min(Math.max(quality, 0), 100) / 25;
  const i = Math.min(Math.floor(t), SLOPE.length - 2);
  return Math.log(bytes) - (SLOPE[i]! + (t - i) * (SLOPE[i + 1]! - SLOPE[i]!)) * psnr;
}

/** Decoder-matching step size (tuned on cid22-val: 0.25–1 all help, 0.5 best per step). */
const BETA = 0.5;
/** Decoder-matching steps by λ: none below λ 0.0025 (quality ≈ 44 on hic-base-v4), then one more
 *  at 0.01 (≈ 70) and 0.03 (≈ 90). */
const STEP_LAMBDAS = [0.0025, 0.01, 0.03];

/** Median over channels of the pixel SSE ([0, 1] scale) added per element by a unit move of the
 *  ungained latent y, measured with g_s on 3 cid22-val crops (±1 random moves, qualities 38–87:
 *  0.002–0.003). KAPPA scales it to the loss's price of RDOQ's moves toward zero. On hic-base-v4
 *  (6 cid22-val images) 12 → −1.34%, 16 → −1.43%, 24 → −1.28% BD-rate of effort 1 against 0; on
 *  hic-base-v7, whose decoder takes small moves of the latent more lightly, 41 cid22-val photos at
 *  9 qualities: 4 → −4.24%, 6 → −3.92%, 16 → −2.05% (12 photos: 2 → −2.71%, 8 → −3.13%). */
const SENSITIVITY = 0.0025;
const KAPPA = 4;
/** Channels weigh by their gain: w_c = w·(g_c/ĝ)^GAIN_EXPONENT. A unit move of the gained latent
 *  is a move of 1/g_c in y, which would call for (ĝ/g_c)² (exponent −2); measured on hic-base-v7
 *  (41 cid22-val photos, 9 qualities, κ 4, BD-rate of effort 1 against 0): −2 → +3.74%, −1 →
 *  −2.05%, 0 (one weight for all, as before) → −4.24%, 0.5 → −4.64%, 1 → −4.78%, 2 → −4.72%. The
 *  channels the model gains finely are the ones whose error shows. */
const GAIN_EXPONENT = 1;

/** λ of a quality, interpolated between the anchors' trained λ like the gains (geometric), or
 *  undefined for a package that does not list them. */
export function lambdaForQuality(pkg: ModelPackage, quality: number): number | undefined {
  const { anchors, lambdas } = pkg.manifest.quality;
  if (!lambdas || lambdas.length !== anchors.length) return undefined;
  const q = Math.min(Math.max(quality, anchors[0]!), anchors[anchors.length - 1]!);
  let i = 0;
  while (i < anchors.length - 2 && q >= anchors[i + 1]!) i++;
  const t = (q - anchors[i]!) / (anchors[i + 1]! - anchors[i]!);
  return Math.exp((1 - t) * Math.log(lambdas[i]!) + t * Math.log(lambdas[i + 1]!));
}

/** RDOQ's distortion weight per channel (gained domain) at a quality, or undefined at effort 0
 *  (plain rounding). w = κ·λ·255²·s/(3·ĝ²): the loss's weight on the SSE of a move of the gained
 *  latent, with ĝ the median gain, times (g_c/ĝ)^GAIN_EXPONENT for channel c. Validates `effort`. */
export function rdoWeights(pkg: ModelPackage, quality: number, effort: unknown): Float32Array | undefined {
  if (!LEVELS[checkEffort(effort === undefined ? DEFAULT_EFFORT : effort)]!.rdoq) return undefined;
  const gains = gainForQuality(pkg, quality);
  const g = Array.from(gains).sort((a, b) => a - b)[gains.length >> 1]!;
  const lambda = lambdaForQuality(pkg, quality) ?? 0.0035; // the middle anchor of hic-base-v4
  const w = (KAPPA * lambda * 255 * 255 * SENSITIVITY) / (3 * g * g);
  return Float32Array.from(gains, (gc) => w * (gc / g) ** GAIN_EXPONENT);
}

const bitCache = new WeakMap<CdfTable, Float64Array>();

/** Code length in bits of every in-range symbol of a table, then of the escape symbol alone. */
function bitsOf(t: CdfTable): Float64Array {
  let b = bitCache.get(t);
  if (!b) {
    b = new Float64Array(t.n + 1);
    for (let s = 0; s <= t.n; s++) b[s] = PRECISION - Math.log2(t.cum[s + 1]! - t.cum[s]!);
    bitCache.set(t, b);
  }
  return b;
}

/** Exact code length of `v` under `t` (escape and bypass bits included), as rans.ts writes it. */
function symbolCost(t: CdfTable, b: Float64Array, v: number): number {
  const s = v - t.offset;
  if (s >= 0 && s < t.n) return b[s]!;
  const u = s < 0 ? 2 * (-s - 1) + 1 : 2 * (s - t.n);
  return b[t.n]! + 5 + (31 - Math.clz32(u));
}

/**
 * The symbols of one slice ([channels, plane] planar): round(y_g − μ), or with `weights` (one per
 * channel of the slice) the RDOQ choice among round(r), its neighbour toward zero and 0.
 */
export function chooseSymbols(
  yG: Float32Array, mu: Float32Array, k: Uint8Array, tables: readonly CdfTable[], plane: number, weights?: ArrayLike<number>,
): Int32Array {
  const out = new Int32Array(mu.length);
  if (!weights) {
    // floor(r + ½): Math.round but where r + ½ is inexact (r within an ulp below a half, or |r| ≥
    // 2^52), there the neighbour as near; 6× faster in V8 (Math.round: 9 ns a value). Only the
    // encoder's choice: every stream stays valid
    for (let j = 0; j < out.length; j++) out[j] = Math.floor(yG[j]! - mu[j]! + 0.5);
    return out;
  }
  for (let c = 0, j = 0; c < out.length / plane; c++) {
    const w = weights[c]!;
    for (let e = 0; e < plane; e++, j++) {
      const r = yG[j]! - mu[j]!;
      const q0 = Math.round(r);
      const t = tables[k[j]!];
      if (q0 === 0 || t === undefined) {
        out[j] = q0; // an unknown table fails in the coder, as at effort 0
        continue;
      }
      const b = bitsOf(t);
      let best = q0;
      let cost = symbolCost(t, b, q0) + w * (q0 - r) ** 2;
      const q1 = q0 - Math.sign(q0);
      const c1 = symbolCost(t, b, q1) + w * (q1 - r) ** 2;
      if (c1 < cost) {
        best = q1;
        cost = c1;
      }
      if (q1 !== 0 && symbolCost(t, b, 0) + w * r * r < cost) best = 0;
      out[j] = best;
    }
  }
  return out;
}

type Encoded = { bytes: Uint8Array; stats: EncodeStats };

/** What the search needs of a Codec (its public methods). */
export interface EffortCodec {
  readonly modelPackage: ModelPackage;
  analyze(image: RgbImage, opts?: WorkOptions & { tileSize?: number }): Promise<Analysis>;
  encodeAnalyzed(image: Picture, a: Analysis, opts?: EncodeOptions): Promise<Encoded>;
  decodeSymbols(bytes: Uint8Array, opts?: WorkOptions): Promise<Symbols>;
  synthesize(s: Symbols, opts?: WorkOptions & { tileSize?: number }): Promise<RgbImage>;
}

function sse(a: RgbImage, b: RgbImage): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += (a.data[i]! - b.data[i]!) ** 2;
  return s / (255 * 255);
}

/** Decoder-matching steps at λ (capped by the level). */
function stepsFor(lambda: number, level: Level): number {
  return Math.min(level.steps, STEP_LAMBDAS.filter((l) => lambda >= l).length);
}

/**
 * Encodes `image` (its colour planes `rgb`) at the effort in `opts`: effort 0–1 is one analysis
 * and one coding pass; 2–4 add decoder-matching steps; 5–9 measure candidates with the real
 * decoder. `tileSize` is the coding tile size. Only the first analysis and coding report progress.
 */
export async function encodeWithEffort(codec: EffortCodec, image: Picture, rgb: RgbImage, opts: EncodeOptions, target: number | undefined, tileSize: number): Promise<Encoded> {
  const level = LEVELS[checkEffort(opts.effort === undefined ? DEFAULT_EFFORT : opts.effort)]!;
  const a0 = await codec.analyze(rgb, { ...opts, tileSize });
  if (!level.steps) return codec.encodeAnalyzed(image, a0, opts);
  const { onProgress: _, ...quiet } = opts;
  const work: WorkOptions = opts.signal ? { signal: opts.signal } : {};
  const pkg = codec.modelPackage;
  const select = level.around.length > 0;
  // a rate target's quality (and λ) is known after its search
  const first = target !== undefined ? await codec.encodeAnalyzed(image, a0, opts) : undefined;
  const lambda = lambdaForQuality(pkg, first?.stats.quality ?? opts.quality ?? 75);
  if (lambda === undefined || first?.stats.targetMet === false) return first ?? codec.encodeAnalyzed(image, a0, opts);
  const n = stepsFor(lambda, level);
  const around = level.around.map((d) => Math.max(0, n + d));
  const picks = !select ? [n] : n === 0 ? [0] : [...new Set(first ? [0, ...around] : around)];
  // the latent chain y_0 … y_max (continuous: g_s of the unquantised y, whatever the quality)
  const gain = gainForQuality(pkg, 100);
  const plane = a0.hy * a0.wy;
  const chain: Analysis[] = [a0];
  while (chain.length <= Math.max(...picks)) {
    const prev = chain[chain.length - 1]!.y;
    const yHatG = Float32Array.from(prev, (v, i) => v * gain[Math.floor(i / plane)]!);
    const none = { zHat: new Int32Array(0), k: new Uint8Array(0), q: new Int32Array(0) };
    const decoded = await codec.synthesize({ width: rgb.width, height: rgb.height, quality: 100, yHatG, ...none }, { ...work, tileSize });
    const back = (await codec.analyze(decoded, { ...work, tileSize })).y;
    chain.push({ ...a0, y: Float32Array.from(prev, (v, i) => v + BETA * (a0.y[i]! - back[i]!)) });
  }
  if (!select) {
    if (n === 0) return first ?? codec.encodeAnalyzed(image, a0, opts);
    const last = await codec.encodeAnalyzed(image, chain[n]!, first ? quiet : opts);
    return first && !last.stats.targetMet ? first : last;
  }
  // selection: the fewest bits at equal PSNR (the RD curve's slope), or with a rate target the
  // best PSNR that fits
  const measure = async (r: Encoded) => {
    const d = sse(rgb, await codec.synthesize(await codec.decodeSymbols(r.bytes, work), { ...work, tileSize }));
    const psnr = 10 * Math.log10((3 * rgb.width * rgb.height) / Math.max(d, 1e-9));
    return { r, cost: !r.stats.targetMet ? Infinity : target === undefined ? rdCost(r.bytes.length, psnr, opts.quality ?? 75) : d };
  };
  // effort 0's own stream is a candidate: selection is never worse than effort 0 by its measure
  let best = { ...(await measure(await codec.encodeAnalyzed(image, a0, { ...(first ? quiet : opts), effort: 0 }))), a: a0 };
  for (const i of picks) {
    const c = await measure(i === 0 && first ? first : await codec.encodeAnalyzed(image, chain[i]!, quiet));
    if (c.cost < best.cost) best = { ...c, a: chain[i]! };
  }
  for (const dq of target !== undefined ? [] : n === 0 ? level.low : level.high) {
    const q = (opts.quality ?? 75) + dq;
    if (q < 0 || q > 100) continue;
    const c = await measure(await codec.encodeAnalyzed(image, best.a, { ...quiet, quality: q }));
    if (c.cost < best.cost) best = { ...c, a: best.a };
  }
  return best.r;
}
