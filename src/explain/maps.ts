// Encoder feature maps and decoder attention maps from the model's explain outputs (pure array
// code: the tensors come from Codec.analyzeExplained / Codec.synthesizeExplained).
import { CodecError } from '../core/errors.js';
import type { TensorData } from '../runtime/types.js';

export interface FeatureChannel {
  readonly channel: number;
  /** Mean square activation over the part of the map that covers the image. */
  readonly energy: number;
  /** The channel's map cropped to the image: w × h, row-major. */
  readonly map: Float32Array;
}

export interface FeatureStage {
  readonly name: string;
  readonly stride: number;
  readonly channels: number;
  readonly w: number;
  readonly h: number;
  /** The channels with the most energy, highest first. */
  readonly top: readonly FeatureChannel[];
}

/**
 * The `count` channels of a [1, C, Hp, Wp] map with the most energy over its top-left w × h part
 * (the part that covers the image; the rest is padding).
 */
export function topChannels(t: TensorData, name: string, stride: number, w: number, h: number, count: number): FeatureStage {
  const [n, c, hp, wp] = t.dims as [number, number, number, number];
  if (t.dims.length !== 4 || n !== 1 || w > wp || h > hp || !(t.data instanceof Float32Array)) {
    throw new CodecError('E_MODEL_INTEGRITY', `${name}: unexpected feature tensor ${t.dims.join('×')}`);
  }
  const plane = hp * wp;
  const energy = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let y = 0; y < h; y++) {
      const row = ch * plane + y * wp;
      for (let x = 0; x < w; x++) s += t.data[row + x]! ** 2;
    }
    energy[ch] = s / (w * h);
  }
  const order = Array.from(energy.keys()).sort((a, b) => energy[b]! - energy[a]! || a - b);
  const top = order.slice(0, Math.min(count, c)).map((ch) => {
    const map = new Float32Array(w * h);
    for (let y = 0; y < h; y++) map.set(t.data.subarray(ch * plane + y * wp, ch * plane + y * wp + w), y * w);
    return { channel: ch, energy: energy[ch]!, map };
  });
  return { name, stride, channels: c, w, h, top };
}

export interface AttentionSpec {
  readonly name: string;
  readonly stride: number;
  readonly block: number;
  readonly shift: number;
  readonly heads: number;
  readonly window: number;
}

export interface AttentionAtPoint extends AttentionSpec {
  /** Token grid of the stage (padded image / stride) and the query token in it. */
  readonly gridW: number;
  readonly gridH: number;
  readonly query: { readonly x: number; readonly y: number };
  /** Per head: the query's attention weights over the token grid (gridW × gridH, row-major). */
  readonly maps: readonly Float32Array[];
  /** Per head: the sum of the query's row (1 for a softmax; weights on window padding included). */
  readonly rowSums: readonly number[];
  /** Per head: Σ weight · distance between token centres, in image pixels. */
  readonly meanDistance: readonly number[];
  /** Per head: weight on tokens that only pad the grid to a multiple of the window. */
  readonly paddingWeight: readonly number[];
}

const mod = (a: number, m: number) => ((a % m) + m) % m;

/**
 * The attention row of the token (qx, qy) in one Swin block, for every head, mapped back from
 * (rolled, padded) windows onto the token grid.
 */
export function attentionAt(t: TensorData, spec: AttentionSpec, gridW: number, gridH: number, qx: number, qy: number): AttentionAtPoint {
  const ws = spec.window;
  const n = ws * ws;
  const gw = Math.ceil(gridW / ws) * ws;
  const gh = Math.ceil(gridH / ws) * ws;
  const nwx = gw / ws;
  const nw = nwx * (gh / ws);
  const [d0, d1, d2, d3] = t.dims;
  if (t.dims.length !== 4 || d0 !== nw || d1 !== spec.heads || d2 !== n || d3 !== n || !(t.data instanceof Float32Array)) {
    throw new CodecError('E_MODEL_INTEGRITY', `${spec.name}: attention tensor ${t.dims.join('×')}, expected ${nw}×${spec.heads}×${n}×${n}`);
  }
  if (!(qx >= 0 && qy >= 0 && qx < gridW && qy < gridH)) throw new CodecError('E_INVALID_OPTION', `token ${qx},${qy} is outside the ${gridW}×${gridH} grid`);
  // Position in the rolled grid (the block rolled the tokens by −shift before windowing).
  const r = mod(qy - spec.shift, gh);
  const c = mod(qx - spec.shift, gw);
  const r0 = Math.floor(r / ws) * ws;
  const c0 = Math.floor(c / ws) * ws;
  const win = (r0 / ws) * nwx + c0 / ws;
  const qi = (r - r0) * ws + (c - c0);
  const maps: Float32Array[] = [];
  const rowSums: number[] = [];
  const meanDistance: number[] = [];
  const paddingWeight: number[] = [];
  for (let h = 0; h < spec.heads; h++) {
    const off = ((win * spec.heads + h) * n + qi) * n;
    const map = new Float32Array(gridW * gridH);
    let sum = 0;
    let dist = 0;
    let pad = 0;
    for (let m = 0; m < n; m++) {
      const w = t.data[off + m]!;
      const ky = mod(r0 + Math.floor(m / ws) + spec.shift, gh);
      const kx = mod(c0 + (m % ws) + spec.shift, gw);
      sum += w;
      dist += w * Math.hypot(kx - qx, ky - qy) * spec.stride;
      if (ky < gridH && kx < gridW) map[ky * gridW + kx] = map[ky * gridW + kx]! + w;
      else pad += w;
    }
    maps.push(map);
    rowSums.push(sum);
    meanDistance.push(dist);
    paddingWeight.push(pad);
  }
  const { name, stride, block, shift, heads, window } = spec; // not the manifest's other fields
  return { name, stride, block, shift, heads, window, gridW, gridH, query: { x: qx, y: qy }, maps, rowSums, meanDistance, paddingWeight };
}
