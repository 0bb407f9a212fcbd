// A minimal PNG writer for 8-bit gray, gray + alpha, RGB and RGBA with the metadata chunks sharp
// reads back (iCCP, eXIf, iTXt XMP): decoded pictures go through it into sharp, which then writes
// every output format with the metadata kept (`keepIccProfile`/`keepExif`/`keepXmp`).
import { deflateSync } from 'node:zlib';

import { crc32 } from '../bitstream/crc32.js';
import type { ImageMetadata, Picture } from '../codec/codec.js';
import { concat } from '../core/metadata.js';

const SIG = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
const COLOR_TYPE = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** PNG bytes of `p` (filter 0, zlib level `level`), with the given metadata chunks. */
export function writePng(p: Picture, metadata: ImageMetadata = {}, level = 1): Uint8Array {
  const ch = p.channels ?? 3;
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, p.width);
  v.setUint32(4, p.height);
  ihdr[8] = 8;
  ihdr[9] = COLOR_TYPE[ch];
  const row = p.width * ch;
  const raw = new Uint8Array((row + 1) * p.height);
  for (let y = 0; y < p.height; y++) raw.set(p.data.subarray(y * row, (y + 1) * row), y * (row + 1) + 1);
  const parts = [SIG, chunk('IHDR', ihdr)];
  if (metadata.icc?.length) parts.push(chunk('iCCP', concat([latin1('icc'), Uint8Array.of(0, 0), deflateSync(metadata.icc)])));
  if (metadata.exif?.length) parts.push(chunk('eXIf', metadata.exif));
  if (metadata.xmp?.length) parts.push(chunk('iTXt', concat([latin1('XML:com.adobe.xmp'), Uint8Array.of(0, 0, 0, 0, 0), metadata.xmp])));
  parts.push(chunk('IDAT', deflateSync(raw, { level })), chunk('IEND', new Uint8Array(0)));
  return concat(parts);
}
