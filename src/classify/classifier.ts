// Recognition without decoding: a Vision Transformer reads the decoded latent ŷ of a .hic (entropy
// decoding and the hyper networks only — no synthesis transform) and names what the picture
// shows. A classifier package names the codec model whose latent it reads; any other model's
// stream is refused. Grids larger than MAX_GRID tokens a side are average-pooled down (the ViT's
// position embedding is resized to any grid; it was trained on 16×16 tokens = 256×256 pixels).
// A classifier knows only its classes (the shipped one: 5 kinds of flower); a top-1 probability
// under the threshold is answered UNKNOWN rather than the nearest of them.
import { inspectContainer } from '../bitstream/container.js';
import type { Codec, Symbols } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';
import { gainForQuality, ungain, type FileSource } from '../model/package.js';
import type { InferenceSession, Runtime } from '../runtime/types.js';

export const MAX_GRID = 32;
/** The answer when the top-1 probability is under the threshold. */
export const UNKNOWN = 'unknown';
/** Default threshold: a top-1 probability under 0.6 is UNKNOWN. Shipped flower ViT at quality 50:
 *  of 148 tf_flowers validation photos (every 5th) 69.6% are answered, 71.8% of those right (66.2%
 *  right when every photo is answered); of the 24 Kodak photos 8 are unknown (kodim23's parrots:
 *  tulips 0.51) but 16 are still named a flower (dandelion up to 0.93): a softmax over 5 classes
 *  is a weak detector of other pictures, so the help says what the classifier knows. */
export const DEFAULT_THRESHOLD = 0.6;

export interface ClassifierManifest {
  readonly id: string;
  readonly kind: 'classifier';
  readonly format_version: number;
  /** The codec model whose latent this classifier reads. */
  readonly codec_model: string;
  readonly classes: readonly string[];
  /** What the classes cover, in a few words (e.g. "tf_flowers: 5 kinds of flower"). */
  readonly known?: string;
  readonly files: Readonly<Record<string, { sha256: string; bytes: number }>>;
  readonly evaluation?: Record<string, unknown>;
  /** `merge` m: each m×m block of latent tokens is one ViT token (default 1). */
  readonly input?: { readonly merge?: number };
}

export interface ClassifyOptions {
  /** Top-1 probability (0..1) under which the answer is UNKNOWN (default DEFAULT_THRESHOLD). */
  readonly threshold?: number;
}

export interface Classification {
  /** Every class of the classifier, most probable first. */
  readonly classes: readonly { label: string; probability: number }[];
  /** The most probable class, whatever its probability. */
  readonly top: { label: string; probability: number };
  /** The answer: top.label, or UNKNOWN when top.probability is under `threshold`. */
  readonly label: string;
  readonly threshold: number;
  /** The class token's attention over the token grid (last block, mean of heads), row-major. */
  readonly attention: { width: number; height: number; data: Float32Array };
  /** Token grid the ViT saw (after pooling) and the factor it was pooled by. */
  readonly grid: { width: number; height: number; pooled: number };
}

/** A threshold for the UNKNOWN answer: a number in 0..1 (0: always a class; 1: nearly always unknown). */
export function checkThreshold(t: unknown, name = 'threshold'): number {
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > 1) {
    throw new CodecError('E_INVALID_OPTION', `Expected a number between 0 and 1 for ${name} but received ${String(t)}`);
  }
  return t;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** ŷ [C, h, w] average-pooled by an integer factor so that neither side exceeds MAX_GRID. */
function pool(y: Float32Array, c: number, h: number, w: number): { data: Float32Array; h: number; w: number; f: number } {
  const f = Math.max(1, Math.ceil(Math.max(h, w) / MAX_GRID));
  if (f === 1) return { data: y, h, w, f };
  const ph = Math.ceil(h / f);
  const pw = Math.ceil(w / f);
  const out = new Float32Array(c * ph * pw);
  for (let ch = 0; ch < c; ch++) {
    for (let py = 0; py < ph; py++) {
      for (let px = 0; px < pw; px++) {
        let s = 0;
        let n = 0;
        for (let y0 = py * f; y0 < Math.min(h, (py + 1) * f); y0++) {
          for (let x0 = px * f; x0 < Math.min(w, (px + 1) * f); x0++) {
            s += y[(ch * h + y0) * w + x0]!;
            n++;
          }
        }
        out[(ch * ph + py) * pw + px] = s / n;
      }
    }
  }
  return { data: out, h: ph, w: pw, f };
}

/** A grid narrower than `n` tokens (a very elongated picture, pooled) grown to n by repeating its
 *  last row or column: a classifier that merges n×n tokens needs one whole block. */
function atLeast(p: { data: Float32Array; h: number; w: number; f: number }, c: number, n: number): { data: Float32Array; h: number; w: number; f: number } {
  if (p.h >= n && p.w >= n) return p;
  const h = Math.max(n, p.h);
  const w = Math.max(n, p.w);
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) out[(ch * h + yy) * w + xx] = p.data[(ch * p.h + Math.min(yy, p.h - 1)) * p.w + Math.min(xx, p.w - 1)]!;
  }
  return { data: out, h, w, f: p.f };
}

/** The decoded latent ŷ = ŷ_g / gain [C, h, w] of parsed symbols (the padded token grid): what a
 *  classifier reads, and what its training data is made of (training/tools/vit_prep.mjs). */
export function decodedLatent(codec: Codec, s: Symbols): { data: Float32Array; channels: number; height: number; width: number } {
  const pkg = codec.modelPackage;
  const gain = gainForQuality(pkg, s.quality);
  const { channels, pad_multiple: pad, stride } = pkg.manifest.latent;
  const height = Math.ceil(s.height / pad) * (pad / stride);
  const width = s.yHatG.length / channels / height;
  return { data: ungain(s.yHatG, gain, channels), channels, height, width };
}

export class Classifier {
  private constructor(
    readonly manifest: ClassifierManifest,
    private readonly session: InferenceSession,
  ) {}

  /** Loads a classifier package (manifest.json + classifier.onnx, sha256-checked). */
  static async load(read: FileSource, runtime: Runtime): Promise<Classifier> {
    let manifest: ClassifierManifest;
    try {
      manifest = JSON.parse(new TextDecoder().decode(await read('manifest.json'))) as ClassifierManifest;
    } catch (e) {
      throw new CodecError('E_MODEL_INTEGRITY', 'classifier manifest is missing or not JSON', { cause: e });
    }
    if (manifest.kind !== 'classifier' || manifest.format_version !== 1) throw new CodecError('E_MODEL_INTEGRITY', `${manifest.id}: not a classifier package this version reads`);
    const meta = manifest.files['classifier.onnx'];
    const bytes = await read('classifier.onnx');
    if (!meta || bytes.length !== meta.bytes || (await sha256Hex(bytes)) !== meta.sha256) throw new CodecError('E_MODEL_INTEGRITY', `${manifest.id}/classifier.onnx: sha256 mismatch`);
    return new Classifier(manifest, await runtime.createSession(bytes, { small: true }));
  }

  get id(): string {
    return this.manifest.id;
  }

  /** The classes this classifier can answer (anything else is one of them, or UNKNOWN). */
  get labels(): readonly string[] {
    return this.manifest.classes;
  }

  /** What it knows, in words: the manifest's `known`, else the number of classes. */
  get known(): string {
    return this.manifest.known ?? `${this.manifest.classes.length} classes`;
  }

  /** Classifies a .hic stream: parses it with `codec` (no synthesis) and runs the ViT on ŷ. */
  async classify(codec: Codec, bytes: Uint8Array, opts: ClassifyOptions = {}): Promise<Classification> {
    const threshold = checkThreshold(opts.threshold ?? DEFAULT_THRESHOLD);
    const streamModel = inspectContainer(bytes).modelId;
    if (streamModel !== this.manifest.codec_model) {
      throw new CodecError('E_UNKNOWN_MODEL', `classifier ${this.id} reads the latent of ${this.manifest.codec_model}; this stream was made with ${streamModel}`);
    }
    if (codec.modelId !== this.manifest.codec_model) {
      throw new CodecError('E_UNKNOWN_MODEL', `classifier ${this.id} reads the latent of ${this.manifest.codec_model}; the codec has ${codec.modelId}`);
    }
    const y = decodedLatent(codec, await codec.decodeSymbols(bytes));
    const m = y.channels;
    const p = atLeast(pool(y.data, m, y.height, y.width), m, this.manifest.input?.merge ?? 1);
    const out = await this.session.run({ y_hat: { dtype: 'float32', dims: [1, m, p.h, p.w], data: p.data } }, ['logits', 'cls_attention']);
    const logits = out['logits']!.data as Float32Array;
    const mx = Math.max(...logits);
    const e = Array.from(logits, (v) => Math.exp(v - mx));
    const sum = e.reduce((a, b) => a + b, 0);
    const classes = this.manifest.classes.map((label, i) => ({ label, probability: e[i]! / sum })).sort((a, b) => b.probability - a.probability);
    const top = classes[0]!;
    // with merge m the ViT's tokens are m×m blocks of the (pooled) grid, a trailing odd row or column left out
    const mg = this.manifest.input?.merge ?? 1;
    const g = { width: Math.floor(p.w / mg), height: Math.floor(p.h / mg), pooled: p.f * mg };
    const attention = out['cls_attention']!.data as Float32Array;
    if (attention.length !== g.width * g.height) throw new CodecError('E_MODEL_INTEGRITY', `classifier ${this.id}: attention over ${attention.length} tokens, expected ${g.width}×${g.height}`);
    return { classes, top, label: top.probability < threshold ? UNKNOWN : top.label, threshold, attention: { width: g.width, height: g.height, data: attention }, grid: g };
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}
