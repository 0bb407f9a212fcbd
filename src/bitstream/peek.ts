// What can still be read of a stream that inspectContainer() refuses (truncated, or damaged after
// its first fields): the header field by field and the chunk table entry by entry, as far as the
// bytes go, nothing checked beyond what reading needs. For `hic info` on a broken file; never
// throws, never used to decode.
import { COLOR_CODES, MAGIC, READABLE_VERSIONS, type ColorMode } from './container.js';

export interface ContainerPeek {
  readonly formatVersion?: number;
  readonly modelId?: string;
  readonly width?: number;
  readonly height?: number;
  readonly quality?: number;
  readonly color?: ColorMode;
  /** Version 2 only (0: version 1). */
  readonly tileSize?: number;
  /** Chunks the table announces. */
  readonly chunkCount?: number;
  /** The table's entries that are there, each with how many of its bytes the file holds. */
  readonly chunks?: readonly { type: string; offset: number; length: number; present: number }[];
}

export function peekContainer(bytes: Uint8Array): ContainerPeek {
  const out: { -readonly [K in keyof ContainerPeek]: ContainerPeek[K] } = {};
  const has = (n: number) => bytes.length >= n;
  if (!has(7) || MAGIC.some((m, i) => bytes[i] !== m) || !READABLE_VERSIONS.includes(bytes[4]!)) return out;
  const version = (out.formatVersion = bytes[4]!);
  const idLen = bytes[6]!;
  if (idLen < 1 || idLen > 64 || !has(7 + idLen)) return out;
  out.modelId = String.fromCharCode(...bytes.subarray(7, 7 + idLen));
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 7 + idLen;
  if (has(p + 4)) out.width = v.getUint32(p, true);
  if (has(p + 8)) out.height = v.getUint32(p + 4, true);
  if (has(p + 9)) out.quality = bytes[p + 8]!;
  if (version === 1) {
    out.color = 'rgb';
    out.tileSize = 0;
    if (has(p + 10)) out.chunkCount = bytes[p + 9]!;
    p += 10;
  } else {
    if (has(p + 10) && COLOR_CODES[bytes[p + 9]!]) out.color = COLOR_CODES[bytes[p + 9]!]!;
    if (has(p + 12)) out.tileSize = v.getUint16(p + 10, true);
    if (has(p + 14)) out.chunkCount = v.getUint16(p + 12, true);
    p += 14;
  }
  if (out.chunkCount === undefined) return out;
  const chunks = [];
  let offset = p + 12 * out.chunkCount + 4; // the payload follows the table and its CRC
  for (let i = 0; i < out.chunkCount && has(p + 12 * (i + 1)); i++) {
    const e = p + 12 * i;
    const length = v.getUint32(e + 4, true);
    chunks.push({ type: String.fromCharCode(...bytes.subarray(e, e + 4)).replace(/[^\x20-\x7e]/g, '?'), offset, length, present: Math.max(0, Math.min(length, bytes.length - offset)) });
    offset += length;
  }
  out.chunks = chunks;
  return out;
}
