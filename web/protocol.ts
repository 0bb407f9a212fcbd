// Messages between the page and the codec worker.
import type { RgbImage, TiledPanel } from '../src/web.js';

export interface Shown {
  codec: string;
  quality: number;
  bytes: number;
  bpp: number;
  psnr: number;
  msssim: number | null;
  encodeMs: number;
  decodeMs: number;
  image: RgbImage;
}

export type Request =
  | { type: 'init'; base: string; ortBase: string; threads: number }
  | { type: 'encode'; image: RgbImage; quality: number; targetBytes?: number }
  | { type: 'decode'; bytes: Uint8Array }
  | { type: 'explain'; image: RgbImage; quality: number; point?: { x: number; y: number } };

export type Reply =
  | { type: 'progress'; loaded: number; total: number }
  | { type: 'ready'; modelId: string; backend: string; threads: number; isolated: boolean }
  | { type: 'encoded'; hic: Uint8Array; shown: Shown }
  | { type: 'compared'; shown: Shown }
  | { type: 'done' }
  | { type: 'decoded'; info: { width: number; height: number; quality: number; bytes: number; modelId: string }; decodeMs: number; image: RgbImage }
  | { type: 'explained'; summary: string; panels: Record<string, TiledPanel>; point: { x: number; y: number } }
  | { type: 'error'; code: string; message: string };
