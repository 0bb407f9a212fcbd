// Messages between the page and the codec worker.
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

/** Sizes of the metadata a .hic carries (bytes; 0 = absent). */
export interface MetaSizes {
  icc: number;
  exif: number;
  xmp: number;
}

export type Request =
  | { type: 'init'; base: string; ortBase: string; threads: number }
  | { type: 'encode'; image: Picture; metadata: ImageMetadata; quality: number; targetBytes?: number }
  | { type: 'decode'; bytes: Uint8Array }
  | { type: 'cancel' }
  | { type: 'explain'; image: RgbImage; quality: number; point?: { x: number; y: number } };

export type Reply =
  | { type: 'progress'; loaded: number; total: number }
  | { type: 'ready'; modelId: string; backend: string; threads: number; isolated: boolean; classifier?: string }
  | { type: 'classified'; label: string; probability: number; top: { label: string; probability: number }[]; ms: number }
  | { type: 'work'; stage: string; done: number; total: number }
  | { type: 'encoded'; hic: Uint8Array; shown: Shown; targetMet: boolean; metadata: MetaSizes; alphaBytes: number }
  | { type: 'compared'; shown: Shown }
  | { type: 'done' }
  | { type: 'decoded'; info: { width: number; height: number; quality: number; bytes: number; modelId: string; tiles: number }; decodeMs: number; image: Picture; metadata: MetaSizes }
  | { type: 'explained'; summary: string; panels: Record<string, TiledPanel>; point: { x: number; y: number } }
  | { type: 'error'; code: string; message: string };
