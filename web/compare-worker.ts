// JPEG, WebP and AVIF (the @jsquash encoders, decoded by the browser) against hicodec's result:
// for each, a binary search on quality for the file closest to hicodec's size, and then on
// quality for hicodec's PSNR, both interpolated between the qualities tried. In its own worker so
// that the page can stop it at once (terminate) when a new file comes or Cancel is pressed: the
// encoders cannot be interrupted inside one encode.
import encodeAvif from '@jsquash/avif/encode.js';
import encodeJpeg from '@jsquash/jpeg/encode.js';
import encodeWebp from '@jsquash/webp/encode.js';

import { rgbaToPicture, rgbaToRgb, rgbToRgba } from '../src/core/pixels.js';
import { msSsim } from '../src/metrics/msssim.js';
import { psnr } from '../src/metrics/psnr.js';
import type { Picture, RgbImage } from '../src/web.js';
import type { Compared, CompareReply, CompareRequest } from './protocol.js';

const post = (m: CompareReply) => (self as unknown as Worker).postMessage(m);

/** Each codec's label, mime type and encoder in one place (label = the row and the menu). */
const CODECS: Record<string, { type: string; encode: (img: ImageData, q: number) => Promise<ArrayBuffer> }> = {
  JPEG: { type: 'image/jpeg', encode: (img, q) => encodeJpeg(img, { quality: q }) },
  WebP: { type: 'image/webp', encode: (img, q) => encodeWebp(img, { quality: q }) },
  AVIF: { type: 'image/avif', encode: (img, q) => encodeAvif(img, { quality: q, speed: 6 }) },
};
/** Encodes per codec: about 7 for the size, up to 4 more for the PSNR. */
const STEPS = 11;

const rgbOf = (p: Picture): RgbImage => ((p.channels ?? 3) === 3 ? p : rgbaToRgb(p.width, p.height, rgbToRgba(p))!);

async function decodeWithBrowser(bytes: ArrayBuffer, type: string): Promise<Picture> {
  const bmp = await createImageBitmap(new Blob([bytes], { type }));
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = c.getContext('2d')!;
  ctx.drawImage(bmp, 0, 0);
  return rgbaToPicture(bmp.width, bmp.height, ctx.getImageData(0, 0, bmp.width, bmp.height).data);
}

interface Sample {
  q: number;
  bytes: ArrayBuffer;
  ms: number;
  psnr: number;
  decoded: Picture;
  decodeMs: number;
}

/** y at x between the two samples that bracket x (linear in x), or null when none do. */
function interpolate(points: { x: number; y: number }[], x: number): number | null {
  const below = points.filter((p) => p.x <= x).sort((a, b) => b.x - a.x)[0];
  const above = points.filter((p) => p.x >= x).sort((a, b) => a.x - b.x)[0];
  if (!below || !above) return null;
  if (above.x === below.x) return below.y;
  return below.y + ((x - below.x) * (above.y - below.y)) / (above.x - below.x);
}

async function compare(job: number, name: string, img: Picture, target: number, targetPsnr: number): Promise<Compared> {
  const c = CODECS[name]!;
  const rgba = new ImageData(rgbToRgba(img) as Uint8ClampedArray<ArrayBuffer>, img.width, img.height);
  const rgb = rgbOf(img);
  const samples = new Map<number, Sample>();
  let step = 0;
  const at = async (q: number): Promise<Sample> => {
    const had = samples.get(q);
    if (had) return had;
    const t0 = performance.now();
    const bytes = await c.encode(rgba, q);
    const ms = performance.now() - t0;
    const t1 = performance.now();
    const decoded = await decodeWithBrowser(bytes, c.type);
    const s = { q, bytes, ms, decoded, decodeMs: performance.now() - t1, psnr: psnr(rgb, rgbOf(decoded)) };
    samples.set(q, s);
    post({ type: 'work', job, stage: `compare.${name}`, done: Math.min(STEPS - 1, ++step), total: STEPS });
    return s;
  };
  // the largest quality whose file is not over hicodec's (closest size)
  let lo = 0;
  let hi = 100;
  let best: Sample | undefined;
  while (lo <= hi) {
    const s = await at((lo + hi) >> 1);
    if (!best || Math.abs(s.bytes.byteLength - target) < Math.abs(best.bytes.byteLength - target)) best = s;
    if (s.bytes.byteLength > target) hi = s.q - 1;
    else lo = s.q + 1;
  }
  // then hicodec's PSNR: a few more qualities where the samples do not bracket it closely
  if (Number.isFinite(targetPsnr)) {
    let a = 0;
    let b = 100;
    for (const s of samples.values()) {
      if (s.psnr <= targetPsnr) a = Math.max(a, s.q);
      if (s.psnr >= targetPsnr) b = Math.min(b, s.q);
    }
    for (let i = 0; i < 4 && b - a > 2; i++) {
      const s = await at((a + b) >> 1);
      if (s.psnr < targetPsnr) a = s.q;
      else b = s.q;
    }
    if (!samples.has(0) && [...samples.values()].every((s) => s.psnr > targetPsnr)) await at(0);
    if (!samples.has(100) && [...samples.values()].every((s) => s.psnr < targetPsnr)) await at(100);
  }
  post({ type: 'work', job, stage: `compare.${name}`, done: STEPS, total: STEPS });
  const all = [...samples.values()];
  const psnrAtSize = interpolate(all.map((s) => ({ x: s.bytes.byteLength, y: s.psnr })), target);
  // file size is about exponential in PSNR: interpolate its logarithm
  const logBytes = interpolate(all.map((s) => ({ x: s.psnr, y: Math.log(s.bytes.byteLength) })), targetPsnr);
  const b = best!;
  // the decoded picture closest to hicodec's PSNR: one more picture per codec sent to the page
  // (the same object as `image` when that is the one, which structured clone copies once)
  const near = Number.isFinite(targetPsnr) ? all.reduce((x, y) => (Math.abs(y.psnr - targetPsnr) < Math.abs(x.psnr - targetPsnr) ? y : x)) : undefined;
  const reached = all.some((s) => s.psnr >= targetPsnr) && all.some((s) => s.psnr <= targetPsnr);
  return {
    codec: name, quality: b.q, bytes: b.bytes.byteLength, bpp: (8 * b.bytes.byteLength) / (img.width * img.height), psnr: b.psnr, msssim: null,
    encodeMs: b.ms, decodeMs: b.decodeMs, image: b.decoded,
    psnrAtSize, bytesAtPsnr: logBytes === null ? null : Math.round(Math.exp(logBytes)),
    atPsnr: near ? { quality: near.q, bytes: near.bytes.byteLength, psnr: near.psnr, reached, image: near.decoded } : null,
  };
}

self.onmessage = async (ev: MessageEvent<CompareRequest>) => {
  const m = ev.data;
  try {
    const rows: { codec: string; image: Picture }[] = [{ codec: 'hicodec', image: m.decoded }];
    for (const name of Object.keys(CODECS)) {
      const shown = await compare(m.job, name, m.image, m.bytes, m.psnr);
      rows.push({ codec: name, image: shown.image });
      post({ type: 'compared', job: m.job, shown });
    }
    // MS-SSIM last: on a big photo it takes longer than some encodes
    const values: Record<string, number | null> = {};
    const rgb = rgbOf(m.image);
    let done = 0;
    for (const r of rows) {
      values[r.codec] = Math.min(m.image.width, m.image.height) > 160 ? msSsim(rgb, rgbOf(r.image)) : null;
      post({ type: 'work', job: m.job, stage: 'msssim', done: ++done, total: rows.length });
    }
    post({ type: 'msssim', job: m.job, values });
    post({ type: 'done', job: m.job });
  } catch (e) {
    post({ type: 'error', job: m.job, code: 'E_INTERNAL', message: e instanceof Error ? e.message : String(e) });
  }
};
