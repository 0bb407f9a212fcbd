// Shared test fixtures: deterministic synthetic photos, the Kodak folder, one codec per backend.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { Codec, RgbImage } from '../src/codec/codec.js';
import { createCodec } from '../src/node/index.js';
import { webRuntime } from '../src/runtime/web.js';

/** Repository root (tests run from dist/test/). */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const KODAK = process.env['HICODEC_KODAK'] ?? fileURLToPath(new URL('../../../shared/data/kodak/', import.meta.url));
export const KODIM23 = `${KODAK}/kodim23.png`;
export const hasKodak = existsSync(KODIM23);

/** A deterministic photo-like test image: smooth shading, edges, texture and a little noise. */
export function syntheticImage(width: number, height: number, seed = 1): RgbImage {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const data = new Uint8Array(width * height * 3);
  const cx = width * (0.3 + 0.4 * rnd());
  const cy = height * (0.3 + 0.4 * rnd());
  const r0 = Math.max(width, height) * 0.25;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / Math.max(1, width - 1);
      const v = y / Math.max(1, height - 1);
      const inDisk = (x - cx) ** 2 + (y - cy) ** 2 < r0 * r0;
      const stripes = Math.sin((x + 2 * y) / 3) * 12;
      const base = [60 + 120 * u, 80 + 100 * v, 150 - 60 * u * v];
      for (let c = 0; c < 3; c++) {
        let val = base[c]! + (inDisk ? (c === 0 ? 70 : -30) : stripes) + (rnd() - 0.5) * 8;
        data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(val)));
      }
    }
  }
  return { width, height, data };
}

let nodeCodec: Promise<Codec> | undefined;
let webCodec: Promise<Codec> | undefined;

/** One codec per process for each backend (model loading and session creation take ~1 s). */
export function node(): Promise<Codec> {
  nodeCodec ??= createCodec({ threads: 2 });
  return nodeCodec;
}

export function web(): Promise<Codec> {
  webCodec ??= webRuntime({ threads: 2 }).then((runtime) => createCodec({ runtime }));
  return webCodec;
}

export async function disposeAll(): Promise<void> {
  for (const c of [nodeCodec, webCodec]) if (c) await (await c).dispose();
  nodeCodec = webCodec = undefined;
}

export function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function sameArray(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
