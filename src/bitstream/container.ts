// The .hic container, format version 1. Normative spec: ./FORMAT.md.
import { CodecError } from '../core/errors.js';
import { crc32 } from './crc32.js';

export const MAGIC = Uint8Array.of(0x89, 0x48, 0x49, 0x43);
export const FORMAT_VERSION = 1;
export const MAX_DIMENSION = 65535;
export const DEFAULT_MAX_PIXELS = 2 ** 27;
export const CHUNK_TYPES = ['ZHAT', 'YHAT'] as const;
export type ChunkType = (typeof CHUNK_TYPES)[number];
const ID_RE = /^[a-z0-9._-]{1,64}$/;

export interface Header {
  readonly modelId: string;
  readonly width: number;
  readonly height: number;
  readonly quality: number;
}

export interface Container extends Header {
  readonly chunks: Readonly<Record<ChunkType, Uint8Array>>;
}

export interface ParseOptions {
  /** Largest width × height accepted (default 2^27). */
  readonly maxPixels?: number;
}

function checkHeader(h: Header, maxPixels: number): void {
  if (!ID_RE.test(h.modelId)) throw new CodecError('E_CORRUPT', `invalid model id ${JSON.stringify(h.modelId)}`);
  for (const [name, v] of [['width', h.width], ['height', h.height]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new CodecError('E_CORRUPT', `${name} ${v} is not a positive integer`);
    if (v > MAX_DIMENSION) throw new CodecError('E_LIMIT_EXCEEDED', `${name} ${v} exceeds ${MAX_DIMENSION}`);
  }
  if (h.width * h.height > maxPixels) {
    throw new CodecError('E_LIMIT_EXCEEDED', `${h.width}×${h.height} exceeds the pixel limit of ${maxPixels}`);
  }
  if (!Number.isInteger(h.quality) || h.quality < 0 || h.quality > 100) throw new CodecError('E_CORRUPT', `quality ${h.quality} outside 0..100`);
}

export function writeContainer(c: Container): Uint8Array {
  checkHeader(c, Number.POSITIVE_INFINITY);
  const id = new TextEncoder().encode(c.modelId);
  const headLen = 7 + id.length + 4 + 4 + 1 + 1 + 12 * CHUNK_TYPES.length;
  const payloadLen = CHUNK_TYPES.reduce((s, t) => s + c.chunks[t].length, 0);
  const out = new Uint8Array(headLen + 4 + payloadLen);
  const v = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = FORMAT_VERSION;
  out[5] = 0;
  out[6] = id.length;
  out.set(id, 7);
  let p = 7 + id.length;
  v.setUint32(p, c.width, true);
  v.setUint32(p + 4, c.height, true);
  out[p + 8] = c.quality;
  out[p + 9] = CHUNK_TYPES.length;
  p += 10;
  for (const t of CHUNK_TYPES) {
    const data = c.chunks[t];
    for (let i = 0; i < 4; i++) out[p + i] = t.charCodeAt(i);
    v.setUint32(p + 4, data.length, true);
    v.setUint32(p + 8, crc32(data), true);
    p += 12;
  }
  v.setUint32(p, crc32(out.subarray(0, p)), true);
  p += 4;
  for (const t of CHUNK_TYPES) {
    out.set(c.chunks[t], p);
    p += c.chunks[t].length;
  }
  return out;
}

export interface ChunkInfo {
  readonly type: ChunkType;
  readonly offset: number;
  readonly length: number;
  readonly crc: number;
  readonly crcOk: boolean;
}

export interface ContainerInfo extends Header {
  readonly formatVersion: number;
  readonly headerBytes: number;
  readonly totalBytes: number;
  readonly chunks: readonly ChunkInfo[];
}

/** Reads and checks the header, the chunk table and the lengths (not the chunk CRCs).
 *  Every check happens before any allocation. */
export function inspectContainer(bytes: Uint8Array, opts: ParseOptions = {}): ContainerInfo {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const need = (n: number, what: string) => {
    if (bytes.length < n) throw new CodecError('E_TRUNCATED', `file ends inside the ${what}`);
  };
  need(7, 'header');
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) throw new CodecError('E_BAD_MAGIC', 'not a .hic file');
  if (bytes[4] !== FORMAT_VERSION) throw new CodecError('E_UNSUPPORTED_VERSION', `format version ${bytes[4]} (this decoder reads ${FORMAT_VERSION})`);
  if (bytes[5] !== 0) throw new CodecError('E_UNSUPPORTED_VERSION', `unknown flags 0x${bytes[5]!.toString(16)}`);
  const idLen = bytes[6]!;
  if (idLen < 1 || idLen > 64) throw new CodecError('E_CORRUPT', `model id length ${idLen}`);
  need(7 + idLen + 10, 'header');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let modelId = '';
  for (let i = 0; i < idLen; i++) modelId += String.fromCharCode(bytes[7 + i]!);
  let p = 7 + idLen;
  const header: Header = { modelId, width: v.getUint32(p, true), height: v.getUint32(p + 4, true), quality: bytes[p + 8]! };
  const count = bytes[p + 9]!;
  p += 10;
  checkHeader(header, maxPixels);
  if (count !== CHUNK_TYPES.length) throw new CodecError('E_CORRUPT', `${count} chunks (version 1 has ${CHUNK_TYPES.length})`);
  need(p + 12 * count + 4, 'chunk table');
  const table: { type: ChunkType; length: number; crc: number }[] = [];
  for (let i = 0; i < count; i++) {
    const type = String.fromCharCode(bytes[p]!, bytes[p + 1]!, bytes[p + 2]!, bytes[p + 3]!);
    if (type !== CHUNK_TYPES[i]) throw new CodecError('E_CORRUPT', `chunk ${i} is ${JSON.stringify(type)}, expected ${CHUNK_TYPES[i]}`);
    table.push({ type: type as ChunkType, length: v.getUint32(p + 4, true), crc: v.getUint32(p + 8, true) });
    p += 12;
  }
  if (v.getUint32(p, true) !== crc32(bytes.subarray(0, p))) throw new CodecError('E_CHECKSUM', 'header checksum mismatch');
  p += 4;
  const headerBytes = p;
  const total = table.reduce((s, c) => s + c.length, p);
  if (total > bytes.length) throw new CodecError('E_TRUNCATED', `file is ${bytes.length} bytes, chunks need ${total}`);
  if (total < bytes.length) throw new CodecError('E_CORRUPT', `${bytes.length - total} trailing bytes after the last chunk`);
  const chunks: ChunkInfo[] = [];
  for (const c of table) {
    chunks.push({ ...c, offset: p, crcOk: crc32(bytes.subarray(p, p + c.length)) === c.crc });
    p += c.length;
  }
  return { ...header, formatVersion: FORMAT_VERSION, headerBytes, totalBytes: bytes.length, chunks };
}

/** Parses and validates a whole container: header fields and limits, chunk table, lengths, CRCs.
 *  Every check happens before any allocation; the chunks are views into `bytes`. */
export function parseContainer(bytes: Uint8Array, opts: ParseOptions = {}): Container {
  const info = inspectContainer(bytes, opts);
  const chunks = {} as Record<ChunkType, Uint8Array>;
  for (const c of info.chunks) {
    if (!c.crcOk) throw new CodecError('E_CHECKSUM', `${c.type} chunk checksum mismatch`);
    chunks[c.type] = bytes.subarray(c.offset, c.offset + c.length);
  }
  return { modelId: info.modelId, width: info.width, height: info.height, quality: info.quality, chunks };
}
