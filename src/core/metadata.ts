// The ICC profile, Exif and XMP of a JPEG, PNG or WebP file, read from its bytes (the web page has
// no sharp; Node uses sharp's metadata()). Every length is checked against the bytes present;
// anything damaged or unknown is skipped, never read out of bounds.
import type { ImageMetadata } from '../codec/codec.js';
import { exifTiff } from './exif.js';

const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

/** The parts one after another in one new array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function inflate(data: Uint8Array): Promise<Uint8Array | undefined> {
  const DS = (globalThis as { DecompressionStream?: typeof DecompressionStream }).DecompressionStream;
  if (!DS) return undefined;
  try {
    const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DS('deflate'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch {
    return undefined;
  }
}

function jpeg(b: Uint8Array): ImageMetadata {
  const icc: { seq: number; data: Uint8Array }[] = [];
  let exif: Uint8Array | undefined;
  let xmp: Uint8Array | undefined;
  let p = 2;
  while (p + 4 <= b.length && b[p] === 0xff) {
    const marker = b[p + 1]!;
    if (marker === 0xd9 || marker === 0xda) break; // end of image, start of scan
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    if (len < 2 || p + 2 + len > b.length) break;
    const seg = b.subarray(p + 4, p + 2 + len);
    if (marker === 0xe1 && ascii(seg, 0, 6) === 'Exif\0\0') exif = seg.subarray(6);
    else if (marker === 0xe1 && ascii(seg, 0, 29) === 'http://ns.adobe.com/xap/1.0/\0') xmp = seg.subarray(29);
    else if (marker === 0xe2 && ascii(seg, 0, 12) === 'ICC_PROFILE\0' && seg.length > 14) icc.push({ seq: seg[12]!, data: seg.subarray(14) });
    p += 2 + len;
  }
  icc.sort((a, c) => a.seq - c.seq);
  const t = exifTiff(exif);
  return { ...(icc.length ? { icc: concat(icc.map((c) => c.data)) } : {}), ...(t ? { exif: t } : {}), ...(xmp ? { xmp: xmp.slice() } : {}) };
}

async function png(b: Uint8Array): Promise<ImageMetadata> {
  const out: { icc?: Uint8Array; exif?: Uint8Array; xmp?: Uint8Array } = {};
  let p = 8;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  while (p + 12 <= b.length) {
    const len = v.getUint32(p);
    const type = ascii(b, p + 4, 4);
    if (p + 12 + len > b.length) break;
    const d = b.subarray(p + 8, p + 8 + len);
    if (type === 'IEND') break;
    if (type === 'eXIf') {
      const t = exifTiff(d);
      if (t) out.exif = t;
    } else if (type === 'iCCP') {
      const z = d.indexOf(0);
      const icc = z > 0 && d[z + 1] === 0 ? await inflate(d.subarray(z + 2)) : undefined;
      if (icc) out.icc = icc;
    } else if (type === 'iTXt' && ascii(d, 0, 18) === 'XML:com.adobe.xmp\0' && d[18] === 0) {
      // keyword, compression flag 0, method, language tag\0, translated keyword\0, text
      let q = 20;
      for (let k = 0; k < 2; k++) q = d.indexOf(0, q) + 1;
      if (q > 0) out.xmp = d.slice(q);
    }
    p += 12 + len;
  }
  return out;
}

function webp(b: Uint8Array): ImageMetadata {
  const out: { icc?: Uint8Array; exif?: Uint8Array; xmp?: Uint8Array } = {};
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 12;
  while (p + 8 <= b.length) {
    const type = ascii(b, p, 4);
    const len = v.getUint32(p + 4, true);
    if (p + 8 + len > b.length) break;
    const d = b.subarray(p + 8, p + 8 + len);
    if (type === 'ICCP') out.icc = d.slice();
    else if (type === 'EXIF') {
      const t = exifTiff(d);
      if (t) out.exif = t;
    } else if (type === 'XMP ') out.xmp = d.slice();
    p += 8 + len + (len & 1);
  }
  return out;
}

/** Metadata of a JPEG, PNG or WebP file ({} for other formats or when there is none). */
export async function extractMetadata(bytes: Uint8Array): Promise<ImageMetadata> {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return jpeg(bytes);
  if (ascii(bytes, 1, 3) === 'PNG') return png(bytes);
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return webp(bytes);
  return {};
}
