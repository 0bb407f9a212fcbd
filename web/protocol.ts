// Messages between the page and its workers (the codec worker, worker.ts, and the comparison
// worker, compare-worker.ts). Every request but `init` carries the page's job number and every
// reply echoes it: the page drops replies of a job it has replaced or cancelled, so a new file,
// a new setting or Cancel never shows the old job's progress or results.
import type { ImageMetadata, Picture, RgbImage, TiledPanel } from '../src/web.js';

export interface Shown {
  codec: string;
  quality: number;
  bytes: number;
  bpp: number;
  psnr: number;
  msssim: number | null;
  encodeMs: number;
  decodeMs: number;
  image: Picture;
}

/** A comparison codec's result, with what it takes to match hicodec (interpolated between the
 *  qualities it tried; null when the qualities tried do not bracket hicodec's figure). */
export interface Compared extends Shown {
  /** Its PSNR at exactly hicodec's file size (dB). */
  psnrAtSize: number | null;
  /** Its file size at exactly hicodec's PSNR (bytes). */
  bytesAtPsnr: number | null;
  /** The encode it tried whose PSNR is closest to hicodec's, for the equal-quality view (null
   *  when hicodec has no PSNR). `reached`: its qualities bracket hicodec's PSNR. */
  atPsnr: EqualQuality | null;
}

/** One encode of a comparison codec, picked for its PSNR. */
export interface EqualQuality {
  quality: number;
  bytes: number;
  psnr: number;
  reached: boolean;
  image: Picture;
}

/** Sizes of the metadata a .hic carries (bytes; 0 = absent). */
export interface MetaSizes {
  icc: number;
  exif: number;
  xmp: number;
}

/** The colour scale of a heat-map view of Explain. */
export interface Scale {
  /** Value at the bottom and the top of the colour map, with their unit. */
  min: number;
  max: number;
  unit: string;
  /** The map shows (v / max) ** gamma. */
  gamma: number;
}

export type Request =
  | { type: 'init'; job: 0; base: string; ortBase: string; ortFiles: string[]; threads: number }
  | { type: 'encode'; job: number; image: Picture; metadata: ImageMetadata; quality: number; targetBytes?: number }
  /** `scale` 2, 4, 8: decode at that fraction of the size; `preview`: first a 1/8 preview (when the
   *  model has a head for it and the picture is big enough), then the picture. */
  | { type: 'decode'; job: number; bytes: Uint8Array; scale?: number; preview?: boolean }
  /** Stops `job` (and anything older) at its next step; a newer job does so by itself. */
  | { type: 'cancel'; job: number }
  /** `source` names the picture: a new point on the same source and quality re-uses the analysis. */
  | { type: 'explain'; job: number; source: number; image: RgbImage; quality: number; point?: { x: number; y: number } };

export type Reply =
  | { type: 'progress'; job: 0; loaded: number; total: number; what: string }
  | { type: 'starting'; job: 0 }
  | { type: 'ready'; job: 0; modelId: string; backend: string; threads: number; isolated: boolean; classifier?: string; firstLoadBytes: number; loadMs: number; startMs: number }
  | { type: 'classified'; job: number; label: string; probability: number; top: { label: string; probability: number }[]; ms: number }
  /** Progress of one step of a job: `done` of `total` in `stage` (tiles for the codec's stages). */
  | { type: 'work'; job: number; stage: string; done: number; total: number }
  | { type: 'encoded'; job: number; hic: Uint8Array; shown: Shown; targetMet: boolean; metadata: MetaSizes; alphaBytes: number }
  /** A 1/`scale` preview of the picture a decode job is decoding (shrink-on-load), shown until it is done. */
  | { type: 'preview'; job: number; image: Picture; scale: number; ms: number; width: number; height: number; quality: number; bytes: number }
  | { type: 'decoded'; job: number; info: { width: number; height: number; quality: number; bytes: number; modelId: string; tiles: number }; decodeMs: number; image: Picture; metadata: MetaSizes }
  | { type: 'explained'; job: number; summary: string; details: string; panels: Record<string, TiledPanel>; scales: Record<string, Scale>; point: { x: number; y: number }; ms: number; reused: boolean }
  | { type: 'error'; job: number; code: string; message: string };

/** The comparison worker: JPEG, WebP and AVIF at hicodec's size, and at its PSNR. */
export type CompareRequest = { type: 'compare'; job: number; image: Picture; bytes: number; psnr: number; decoded: Picture };
export type CompareReply =
  | { type: 'work'; job: number; stage: string; done: number; total: number }
  | { type: 'compared'; job: number; shown: Compared }
  /** MS-SSIM of every row (null for pictures too small for it), measured last: it is slow. */
  | { type: 'msssim'; job: number; values: Record<string, number | null> }
  | { type: 'done'; job: number }
  | { type: 'error'; job: number; code: string; message: string };
