// What the codec does with one image: the token grid the decoder attends over, where the bits go
// (real code lengths under the shipped integer tables, per latent position and per channel), the
// reconstruction error, and receptive fields (theoretical from the model's layer list, effective
// measured by perturbation). Pure computation; src/explain/render.ts draws it.
import type { Classifier } from '../classify/classifier.js';
import { channelIds, type Codec, type RgbImage } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';
import { symbolBits } from '../entropy/rans.js';
import type { TensorData } from '../runtime/types.js';
import { attentionAt, topChannels, type AttentionAtPoint, type FeatureStage } from './maps.js';

export type { AttentionAtPoint, FeatureStage } from './maps.js';

/** Channels shown per encoder stage. */
export const FEATURE_CHANNELS = 8;

export interface ConvLayer {
  readonly name?: string;
  readonly kernel: number;
  readonly stride: number;
  readonly dilation?: number;
}

export interface RfStep {
  readonly name: string;
  /** Receptive field size in input pixels (one side). */
  readonly size: number;
  /** Distance in input pixels between neighbouring outputs (the cumulative stride). */
  readonly jump: number;
}

/** Theoretical receptive field after each layer: r ← r + (k − 1)·d·j, j ← j·s. */
export function receptiveFields(layers: readonly ConvLayer[]): RfStep[] {
  let size = 1;
  let jump = 1;
  return layers.map((l, i) => {
    size += (l.kernel - 1) * (l.dilation ?? 1) * jump;
    jump *= l.stride;
    return { name: l.name ?? `layer ${i}`, size, jump };
  });
}

/** The theoretical receptive field at the end of each encoder stage (the last layer of each
 *  cumulative stride), along the main path: a parallel linear `shortcut` (v5's 16×16 patch
 *  transform) sees only its own patch, inside the main path's field, and is left out. */
export function stageFields(layers: readonly ConvLayer[]): RfStep[] {
  const main = receptiveFields(layers.filter((l) => !(l.name ?? '').startsWith('shortcut')));
  return main.filter((s, i) => i === main.length - 1 || main[i + 1]!.jump !== s.jump);
}

export interface Explanation {
  readonly quality: number;
  readonly bytes: number;
  readonly zBytes: number;
  readonly yBytes: number;
  readonly decoded: RgbImage;
  readonly psnr: number;
  /** Latent grid (padded image / 16) and the part of it that covers the image. */
  readonly tokens: { readonly gridW: number; readonly gridH: number; readonly coverW: number; readonly coverH: number; readonly channels: number; readonly patch: number };
  /** Bits per y position (row-major gridH × gridW) and per z position (grid / 4). */
  readonly bitsY: Float64Array;
  readonly bitsZ: Float64Array;
  readonly zGrid: { readonly w: number; readonly h: number; readonly patch: number };
  readonly bitsPerChannelY: Float64Array;
  readonly bitsPerChannelZ: Float64Array;
  readonly totalBitsY: number;
  readonly totalBitsZ: number;
  /** Mean absolute error over RGB per pixel (0..255). */
  readonly error: Float32Array;
  readonly point: { readonly x: number; readonly y: number };
  readonly receptiveField: {
    readonly theoretical: readonly RfStep[] | null;
    /** Side, in pixels, of the square around the point holding 95% of the latent response energy
     *  to a perturbation of the point (the "projective field": by translation equivariance, the
     *  same extent as the pixels that influence one latent). */
    readonly effective: number;
    /** The same per encoder stage (/2, /4, /8 when the model exports stage features, and /16). */
    readonly effectivePerStage: readonly { readonly stride: number; readonly size: number }[];
  };
  /** Encoder stage features (/2, /4, /8 and y at /16), top channels by energy; null when the
   *  model package has no explain outputs. */
  readonly features: readonly FeatureStage[] | null;
  /** Decoder attention of the point's token, per block at /16 and /8 and per head; null when the
   *  model package has no explain outputs. */
  readonly attention: readonly AttentionAtPoint[] | null;
  /** Where the classifier's class token attends (last block, mean of heads) over the token grid
   *  (pooled by `pooled` for big images), and what it concluded; null without a classifier. */
  readonly classAttention: { readonly classifier: string; readonly label: string; readonly probability: number; readonly gridW: number; readonly gridH: number; readonly pooled: number; readonly map: Float32Array } | null;
}

export interface ExplainOptions {
  readonly quality?: number;
  /** Point of interest in image pixels (default: the centre). */
  readonly point?: { x: number; y: number };
  /** A classifier for the codec's model: adds where its class token attends. */
  readonly classifier?: Classifier;
}

function sumGrid(bits: Float64Array, channels: number, plane: number): { perPos: Float64Array; perChannel: Float64Array } {
  const perPos = new Float64Array(plane);
  const perChannel = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let s = 0;
    for (let i = 0; i < plane; i++) {
      const b = bits[c * plane + i]!;
      perPos[i] = perPos[i]! + b;
      s += b;
    }
    perChannel[c] = s;
  }
  return { perPos, perChannel };
}

/** An explain output the manifest promises. */
function need(out: Readonly<Record<string, TensorData>>, name: string): TensorData {
  const t = out[name];
  if (!t) throw new CodecError('E_MODEL_INTEGRITY', `the manifest lists explain output ${name} but the network has none`);
  return t;
}

/** Side, in pixels, of the square around the point's position holding 95% of the response energy
 *  of a [C, h, w] difference map at `stride`. */
function extent95(base: Float32Array, pert: Float32Array, w: number, h: number, stride: number, p: { x: number; y: number }): number {
  const plane = w * h;
  const channels = base.length / plane;
  const energy = new Float64Array(plane);
  for (let c = 0; c < channels; c++) for (let i = 0; i < plane; i++) energy[i] = energy[i]! + (pert[c * plane + i]! - base[c * plane + i]!) ** 2;
  const total = energy.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const cx = Math.min(w - 1, Math.floor(p.x / stride));
  const cy = Math.min(h - 1, Math.floor(p.y / stride));
  for (let r = 0; r < Math.max(h, w); r++) {
    let s = 0;
    for (let y = Math.max(0, cy - r); y <= Math.min(h - 1, cy + r); y++) for (let x = Math.max(0, cx - r); x <= Math.min(w - 1, cx + r); x++) s += energy[y * w + x]!;
    if (s >= 0.95 * total) return (2 * r + 1) * stride;
  }
  return Math.max(h, w) * stride;
}

/** Effective receptive fields by perturbation: g_a(image with a 5×5 bump at p) − g_a(image), at
 *  every stage the model exports (stage features) and at y. */
async function effectiveRfs(codec: Codec, image: RgbImage, p: { x: number; y: number }, base: Awaited<ReturnType<Codec['analyzeExplained']>>, stages: readonly { name: string; stride: number }[], yStride: number): Promise<{ stride: number; size: number }[]> {
  const bumped = { ...image, data: image.data.slice() };
  for (let dy = -2; dy <= 2; dy++) {
    for (let dx = -2; dx <= 2; dx++) {
      const x = p.x + dx;
      const y = p.y + dy;
      if (x < 0 || y < 0 || x >= image.width || y >= image.height) continue;
      for (let c = 0; c < 3; c++) {
        const i = (y * image.width + x) * 3 + c;
        bumped.data[i] = bumped.data[i]! < 128 ? bumped.data[i]! + 64 : bumped.data[i]! - 64;
      }
    }
  }
  const pert = await codec.analyzeExplained(bumped);
  const out = stages.map((st) => {
    const b = need(base.extras, st.name);
    const q = need(pert.extras, st.name);
    const [, , h, w] = b.dims as [number, number, number, number];
    return { stride: st.stride, size: extent95(b.data as Float32Array, q.data as Float32Array, w, h, st.stride, p) };
  });
  out.push({ stride: yStride, size: extent95(base.y, pert.y, base.wy, base.hy, yStride, p) });
  return out;
}

export async function explainImage(codec: Codec, image: RgbImage, opts: ExplainOptions = {}): Promise<Explanation> {
  const point = opts.point ?? { x: Math.floor(image.width / 2), y: Math.floor(image.height / 2) };
  if (!(point.x >= 0 && point.y >= 0 && point.x < image.width && point.y < image.height)) {
    throw new CodecError('E_INVALID_OPTION', `point ${point.x},${point.y} is outside the ${image.width}×${image.height} image`);
  }
  const pkg = codec.modelPackage;
  const { latent } = pkg.manifest;
  // g_a runs once for the encoding and the feature maps (and once more for the perturbation)
  const base = await codec.analyzeExplained(image);
  const { bytes, stats } = await codec.encodeAnalyzed(image, base, { quality: opts.quality ?? 75 });
  const sym = await codec.decodeSymbols(bytes);
  const cls = opts.classifier ? await opts.classifier.classify(codec, bytes) : undefined;
  // parse once: the symbols are already decoded; fetch the attention outputs with x̂
  const { image: decoded, extras: attn } = await codec.synthesizeExplained(sym);
  const ex = pkg.manifest.explain;
  const gridW = Math.ceil(image.width / latent.pad_multiple) * (latent.pad_multiple / latent.stride);
  const gridH = Math.ceil(image.height / latent.pad_multiple) * (latent.pad_multiple / latent.stride);
  const y = sumGrid(symbolBits(sym.q, sym.k, pkg.yTables), latent.channels, gridW * gridH);
  const zc = latent.hyper_channels;
  const zPlane = sym.zHat.length / zc;
  const z = sumGrid(symbolBits(sym.zHat, channelIds(sym.zHat.length, zc), pkg.zTables), zc, zPlane);
  const error = new Float32Array(image.width * image.height);
  let se = 0;
  for (let i = 0; i < error.length; i++) {
    let e = 0;
    for (let c = 0; c < 3; c++) {
      const d = image.data[3 * i + c]! - decoded.data[3 * i + c]!;
      e += Math.abs(d);
      se += d * d;
    }
    error[i] = e / 3;
  }
  const layers = (pkg.manifest as unknown as { layers?: { g_a?: ConvLayer[] } }).layers?.g_a;
  const eff = await effectiveRfs(codec, image, point, base, ex?.features ?? [], latent.stride);
  const cover = (s: number) => [Math.ceil(image.width / s), Math.ceil(image.height / s)] as const;
  const features = ex
    ? [
        ...ex.features.map((f) => topChannels(need(base.extras, f.name), `g_a /${f.stride}`, f.stride, ...cover(f.stride), FEATURE_CHANNELS)),
        topChannels({ dtype: 'float32', dims: [1, latent.channels, base.hy, base.wy], data: base.y }, 'g_a /16 (y)', latent.stride, ...cover(latent.stride), FEATURE_CHANNELS),
      ]
    : null;
  const attention = ex
    ? ex.attention.map((a) => {
        const gw = (gridW * latent.stride) / a.stride;
        const gh = (gridH * latent.stride) / a.stride;
        return attentionAt(need(attn, a.name), a, gw, gh, Math.floor(point.x / a.stride), Math.floor(point.y / a.stride));
      })
    : null;
  return {
    quality: stats.quality, bytes: stats.bytes, zBytes: stats.zBytes, yBytes: stats.yBytes, decoded,
    psnr: se === 0 ? Infinity : 10 * Math.log10((255 * 255 * 3 * error.length) / se),
    tokens: { gridW, gridH, coverW: Math.ceil(image.width / latent.stride), coverH: Math.ceil(image.height / latent.stride), channels: latent.channels, patch: latent.stride },
    bitsY: y.perPos, bitsZ: z.perPos, zGrid: { w: gridW / 4, h: gridH / 4, patch: latent.hyper_stride },
    bitsPerChannelY: y.perChannel, bitsPerChannelZ: z.perChannel,
    totalBitsY: y.perChannel.reduce((a, b) => a + b, 0), totalBitsZ: z.perChannel.reduce((a, b) => a + b, 0),
    error, point,
    receptiveField: { theoretical: layers ? stageFields(layers) : null, effective: eff[eff.length - 1]!.size, effectivePerStage: eff },
    features, attention,
    classAttention: cls && opts.classifier
      ? { classifier: opts.classifier.id, label: cls.top.label, probability: cls.top.probability, gridW: cls.attention.width, gridH: cls.attention.height, pooled: cls.grid.pooled, map: cls.attention.data }
      : null,
  };
}

/** The attention blocks of an explanation grouped by stage stride (/16 first), for the panels. */
export function attentionByStride(e: Explanation): Map<number, AttentionAtPoint[]> {
  const by = new Map<number, AttentionAtPoint[]>();
  for (const a of e.attention ?? []) by.set(a.stride, [...(by.get(a.stride) ?? []), a]);
  return by;
}

/** A few lines for the terminal. */
export function summaryText(e: Explanation, width: number, height: number): string {
  const t = e.tokens;
  const rf = e.receptiveField.theoretical;
  return [
    `${width}×${height} → ${t.coverW}×${t.coverH} = ${(t.coverW * t.coverH).toLocaleString('en')} tokens of ${t.channels} values (grid ${t.gridW}×${t.gridH} after padding to /64); each token stands for a ${t.patch}×${t.patch} patch`,
    `quality ${e.quality}: ${e.bytes} bytes = ${((8 * e.bytes) / (width * height)).toFixed(4)} bpp, PSNR ${e.psnr.toFixed(2)} dB`,
    `bits: y ${Math.round(e.totalBitsY)} (${((100 * e.totalBitsY) / (e.totalBitsY + e.totalBitsZ)).toFixed(1)}%), z ${Math.round(e.totalBitsZ)}; streams ${8 * e.yBytes} + ${8 * e.zBytes} bits`,
    rf ? `theoretical receptive field per encoder stage: ${rf.map((s) => `${s.name} ${s.size}×${s.size} px (stride ${s.jump})`).join(', ')}` : 'theoretical receptive field: the model manifest has no layer list',
    `effective receptive field at (${e.point.x}, ${e.point.y}) (95% of the response to a 5×5 perturbation): ${e.receptiveField.effectivePerStage.map((s) => `/${s.stride} ~${s.size}×${s.size} px`).join(', ')}`,
    ...(e.features ? [`encoder features: ${e.features.map((f) => `${f.name} ${f.w}×${f.h}×${f.channels} (top channel ${f.top[0]?.channel})`).join(', ')}`] : ['encoder features: this model package has no explain outputs']),
    ...(e.attention
      ? e.attention.map((a) => {
          const d = a.meanDistance;
          const win = a.window * a.stride;
          return `attention /${a.stride} block ${a.block}${a.shift ? ' (shifted)' : ''}: ${a.heads} heads look ${Math.round(Math.min(...d))}–${Math.round(Math.max(...d))} px away on average from the point's token (window ${win}×${win} px${rf ? `; the encoder's receptive field is ${rf[rf.length - 1]!.size}×${rf[rf.length - 1]!.size} px` : ''})`;
        })
      : ['attention maps: this model package has no explain outputs']),
    ...(e.classAttention
      ? [(() => {
          const c = e.classAttention;
          let best = 0;
          for (let i = 1; i < c.map.length; i++) if (c.map[i]! > c.map[best]!) best = i;
          const cell = t.patch * c.pooled;
          return `classifier ${c.classifier}: looks like ${c.label} (${(100 * c.probability).toFixed(1)}%), from the latent alone; its class token attends most to the ${cell}×${cell} patch at (${(best % c.gridW) * cell}, ${Math.floor(best / c.gridW) * cell})`;
        })()]
      : []),
  ].join('\n');
}
