// A model package (models/<id>/): manifest, sha256-pinned files, integer tables, gains.
// Loading verifies every file's hash before anything is used.
import { CodecError } from '../core/errors.js';
import { parseTables, type CdfTable } from '../entropy/tables.js';

export interface Manifest {
  readonly id: string;
  readonly format_version: number;
  readonly files: Readonly<Record<string, { sha256: string; bytes: number }>>;
  readonly networks: Readonly<Record<NetworkRole, { file: string }>>;
  readonly latent: {
    channels: number; stride: number; hyper_channels: number; hyper_stride: number; pad_multiple: number;
    /** Pixels of context around a tile for g_a (default 64) and latent positions for g_s (default 8). */
    analysis_halo?: number; synthesis_halo?: number;
    /** ẑ positions around a tile that the hyper-decoder sees (default 2; decides parsing). */
    hyper_halo?: number;
  };
  /** Channel-wise context model (package format 2); absent: hyperprior only. */
  readonly context?: {
    slices: number[]; starts: number[]; hidden_channels: number;
    scale: string[]; mean: (string | null)[]; refine: string | null;
    /** Format 3: the channels the refinement covers, from 0 (default: all). */
    refine_channels?: number;
  };
  /** `lambdas`: the training λ of each anchor (loss λ·255²·MSE + bpp), used by the encoder's effort search. */
  readonly quality: { anchors: number[]; gains_file: string; gains_shape: [number, number]; lambdas?: number[] };
  readonly entropy: { y_tables: { file: string; count: number }; z_tables: { file: string; count: number } };
  /** Explain outputs (extra outputs of analysis.onnx and synthesis.onnx); absent in older packages. */
  readonly explain?: ExplainOutputs;
  /** Shrink-on-load heads (scale.ts); absent: reduced sizes are decoded in full, then downscaled. */
  readonly previews?: { heads: readonly PreviewSpec[] };
  /** MACs per image pixel of each network (export.py); `context_slices`: each context slice's
   *  scale and mean nets, then the LRP (newer packages). */
  readonly macs_per_pixel?: Readonly<Record<string, number | readonly number[] | string>>;
}

/** A preview head: 1/`scale` size from the first `channels` latent channels (the end of a slice). */
export interface PreviewSpec {
  readonly scale: number;
  readonly file: string;
  readonly channels: number;
  readonly halo: number;
  readonly macs_per_pixel?: number;
  readonly validation_psnr_db?: Readonly<Record<string, number>>;
}

export interface ExplainOutputs {
  /** g_a stage features after GDN: [1, channels, H/stride, W/stride]. */
  readonly features: readonly { name: string; stride: number; channels: number }[];
  /** Softmax attention of each Swin block at /16 and /8: [nW, heads, window², window²], windows in
   *  raster order over the token grid padded (bottom, right) to the window and rolled by −shift. */
  readonly attention: readonly { name: string; stride: number; block: number; shift: number; heads: number; window: number }[];
}

export const NETWORK_ROLES = ['analysis', 'hyper_analysis', 'hyper_scale', 'hyper_mean', 'synthesis'] as const;
export type NetworkRole = (typeof NETWORK_ROLES)[number];

/** The graphs of a channel-context model, slice by slice. */
export interface ContextNetworks {
  readonly slices: readonly number[];
  readonly starts: readonly number[];
  readonly hidden: number;
  /** Integer-only: (h, q_prev) → table index of the slice (h alone for the first slice). */
  readonly scale: readonly Uint8Array[];
  /** Float: (μ_h, ŷ_g of the slices before) → μ of the slice; null: μ = μ_h of the slice (the first
   *  slice, and the lean slices of format 3). */
  readonly mean: readonly (Uint8Array | null)[];
  /** Float: (μ_h, ŷ_g) of the first `refineChannels` channels → those refined, after the last slice. */
  readonly refine: Uint8Array | null;
  readonly refineChannels: number;
}

export interface ModelPackage {
  readonly manifest: Manifest;
  readonly networks: Readonly<Record<NetworkRole, Uint8Array>>;
  readonly context: ContextNetworks | null;
  readonly yTables: readonly CdfTable[];
  readonly zTables: readonly CdfTable[];
  /** Gain vectors, one row of `channels` per anchor quality. */
  readonly gains: Float32Array;
  /** Preview heads with their graphs, by scale (none in older packages). */
  readonly previews: readonly (PreviewSpec & { bytes: Uint8Array })[];
}

/** Reads a file of the package by name (Node: fs; web: fetch). */
export type FileSource = (name: string) => Promise<Uint8Array>;

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // WebCrypto wants an ArrayBuffer-backed view; package files are never shared memory.
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

export async function loadPackage(read: FileSource): Promise<ModelPackage> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(await read('manifest.json'))) as Manifest;
  } catch (e) {
    throw new CodecError('E_MODEL_INTEGRITY', 'model manifest is missing or not JSON', { cause: e });
  }
  if (![1, 2, 3].includes(manifest.format_version)) throw new CodecError('E_UNSUPPORTED_VERSION', `model format ${manifest.format_version}`);
  const files = new Map<string, Uint8Array>();
  await Promise.all(
    Object.entries(manifest.files).map(async ([name, meta]) => {
      const bytes = await read(name);
      if (bytes.length !== meta.bytes || (await sha256Hex(bytes)) !== meta.sha256) {
        throw new CodecError('E_MODEL_INTEGRITY', `${manifest.id}/${name}: sha256 mismatch`);
      }
      files.set(name, bytes);
    }),
  );
  const get = (name: string): Uint8Array => {
    const b = files.get(name);
    if (!b) throw new CodecError('E_MODEL_INTEGRITY', `${name} is not pinned in the manifest`);
    return b;
  };
  const networks = {} as Record<NetworkRole, Uint8Array>;
  for (const role of NETWORK_ROLES) networks[role] = get(manifest.networks[role].file);
  const g = get(manifest.quality.gains_file);
  const [rows, cols] = manifest.quality.gains_shape;
  if (g.length !== rows * cols * 4 || cols !== manifest.latent.channels || rows !== manifest.quality.anchors.length) {
    throw new CodecError('E_MODEL_INTEGRITY', 'gains file does not match the manifest');
  }
  const gains = new Float32Array(rows * cols);
  const dv = new DataView(g.buffer, g.byteOffset, g.byteLength);
  for (let i = 0; i < gains.length; i++) gains[i] = dv.getFloat32(4 * i, true);
  const yTables = parseTables(get(manifest.entropy.y_tables.file));
  const zTables = parseTables(get(manifest.entropy.z_tables.file));
  if (zTables.length !== manifest.latent.hyper_channels || yTables.length > 256) {
    throw new CodecError('E_MODEL_INTEGRITY', 'table counts do not match the manifest');
  }
  let context: ContextNetworks | null = null;
  const c = manifest.context;
  if (c) {
    const m = manifest.latent.channels;
    const v3 = manifest.format_version === 3;
    const refineChannels = v3 && c.refine_channels !== undefined ? c.refine_channels : m;
    const ok = Array.isArray(c.slices) && c.slices.length > 0 && c.slices.length === c.scale.length && c.slices.length === c.mean.length &&
      c.slices.every((n, i) => Number.isInteger(n) && n > 0 && c.starts[i] === c.slices.slice(0, i).reduce((a, b) => a + b, 0)) &&
      c.slices.reduce((a, b) => a + b, 0) === m && c.mean[0] === null &&
      // format 2: every slice after the first has a mean graph; format 3 may leave lean slices without one
      c.mean.slice(1).every((f) => typeof f === 'string' || (v3 && f === null)) &&
      c.slices.some((n, i) => c.starts[i]! + n === refineChannels); // the end of a slice
    if (!ok) throw new CodecError('E_MODEL_INTEGRITY', 'the manifest\'s context section is inconsistent');
    context = {
      slices: c.slices, starts: c.starts, hidden: c.hidden_channels, scale: c.scale.map(get),
      mean: c.mean.map((f) => (f ? get(f) : null)), refine: c.refine ? get(c.refine) : null, refineChannels,
    };
  }
  const previews = (manifest.previews?.heads ?? []).map((h) => {
    const ends = c ? c.slices.map((n, i) => c.starts[i]! + n) : [manifest.latent.channels];
    if (![2, 4, 8].includes(h.scale) || !ends.includes(h.channels) || !Number.isInteger(h.halo) || h.halo < 0) {
      throw new CodecError('E_MODEL_INTEGRITY', `preview head ${h.file}: scale, channels or halo out of range`);
    }
    return { ...h, bytes: get(h.file) };
  });
  return { manifest, networks, context, yTables, zTables, gains, previews };
}

/** ŷ = ŷ_g / gain, planar [m, …], into `out` (a new array, or ŷ_g itself to divide in place:
 *  a decode that has no further use for ŷ_g saves a copy of the latent). */
export function ungain(yHatG: Float32Array, gain: Float32Array, m: number, out: Float32Array = new Float32Array(yHatG.length)): Float32Array {
  const plane = yHatG.length / m;
  for (let c = 0; c < m; c++) {
    const g = gain[c]!;
    for (let i = c * plane, end = i + plane; i < end; i++) out[i] = yHatG[i]! / g;
  }
  return out;
}

/** Gain vector for a quality in [0, 100]: geometric interpolation between the anchors. */
export function gainForQuality(pkg: ModelPackage, quality: number): Float32Array {
  const anchors = pkg.manifest.quality.anchors;
  const m = pkg.manifest.latent.channels;
  const q = Math.min(Math.max(quality, anchors[0]!), anchors[anchors.length - 1]!);
  let i = 0;
  while (i < anchors.length - 2 && q >= anchors[i + 1]!) i++;
  const t = (q - anchors[i]!) / (anchors[i + 1]! - anchors[i]!);
  const out = new Float32Array(m);
  for (let c = 0; c < m; c++) {
    const a = pkg.gains[i * m + c]!;
    const b = pkg.gains[(i + 1) * m + c]!;
    out[c] = Math.exp((1 - t) * Math.log(a) + t * Math.log(b));
  }
  return out;
}

/** The part of a package that the float half of parsing runs (engine.ts MeanSide: hyper_mean and
 *  the slice mean nets), for a helper thread: ~4 MB of hic-base-v6's 14, with nothing to read or
 *  verify again. The other networks are empty and the tables absent: it can run nothing else. */
export function meanHalf(model: ModelPackage): ModelPackage {
  const none = new Uint8Array(0);
  const networks = Object.fromEntries(NETWORK_ROLES.map((r) => [r, r === 'hyper_mean' ? model.networks[r] : none])) as Record<NetworkRole, Uint8Array>;
  const context = model.context ? { ...model.context, scale: [], refine: null } : null;
  return { manifest: model.manifest, networks, context, yTables: [], zTables: [], gains: new Float32Array(0), previews: [] };
}
