// The .hic container: format version 2 (written and read) and version 1 (read only).
// Normative spec: ./FORMAT.md.
import { CodecError } from '../core/errors.js';
import { crc32 } from './crc32.js';

export const MAGIC = Uint8Array.of(0x89, 0x48, 0x49, 0x43);
/** The version this library writes. */
export const FORMAT_VERSION = 2;
/** Every version this library reads. */
export const READABLE_VERSIONS: readonly number[] = [1, 2];
export const MAX_DIMENSION = 65535;
export const DEFAULT_MAX_PIXELS = 2 ** 27;
/** Tile sizes are multiples of this many pixels (the latent's padding unit). */
export const TILE_UNIT = 64;
export const MAX_TILE = 65472;
const ID_RE = /^[a-z0-9._-]{1,64}$/;

/** Chunks of version 2 besides the tiles, each at most once, after the last TILE chunk. */
export const OPTIONAL_CHUNKS = ['ICCP', 'EXIF', 'XMP ', 'ALPH'] as const;
export type OptionalChunk = (typeof OPTIONAL_CHUNKS)[number];
export type ChunkType = 'ZHAT' | 'YHAT' | 'TILE' | OptionalChunk;

export type ColorMode = 'rgb' | 'gray';
export const COLOR_CODES: readonly ColorMode[] = ['rgb', 'gray'];

export interface Header {
  readonly modelId: string;
  readonly width: number;
  readonly height: number;
  readonly quality: number;
}

/** The entropy-coded streams of one tile (or of the whole image in version 1). */
export interface TileStreams {
  readonly z: Uint8Array;
  readonly y: Uint8Array;
}

export interface Container extends Header {
  readonly formatVersion: number;
  /** 'gray': the decoder returns one channel. Version 1 is always 'rgb'. */
  readonly color: ColorMode;
  /** Tile size in pixels (a multiple of 64); 0 in version 1 (one tile covering the image). */
  readonly tileSize: number;
  /** Raster order (left to right, top to bottom). */
  readonly tiles: readonly TileStreams[];
  /** Optional chunks (ICC profile, EXIF, XMP, alpha plane), as stored. */
  readonly extra: Readonly<Partial<Record<OptionalChunk, Uint8Array>>>;
}

export interface ContainerInput extends Header {
  readonly color?: ColorMode;
  readonly tileSize: number;
  readonly tiles: readonly TileStreams[];
  readonly extra?: Readonly<Partial<Record<OptionalChunk, Uint8Array>>>;
}

export interface ParseOptions {
  /** Largest width × height accepted (default 2^27). */
  readonly maxPixels?: number;
}

/** Tiles per row and column for a tile size (version 2). */
export function tileGrid(width: number, height: number, tileSize: number): { cols: number; rows: number } {
  return { cols: Math.ceil(width / tileSize), rows: Math.ceil(height / tileSize) };
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

function checkTileSize(t: number): void {
  if (!Number.isInteger(t) || t < TILE_UNIT || t > MAX_TILE || t % TILE_UNIT !== 0) {
    throw new CodecError('E_CORRUPT', `tile size ${t} is not a multiple of ${TILE_UNIT} in ${TILE_UNIT}..${MAX_TILE}`);
  }
}

const typeBytes = (t: string) => Uint8Array.from(t, (ch) => ch.charCodeAt(0));

/** Writes a version-2 container. */
export function writeContainer(c: ContainerInput): Uint8Array {
  checkHeader(c, Number.POSITIVE_INFINITY);
  checkTileSize(c.tileSize);
  const { cols, rows } = tileGrid(c.width, c.height, c.tileSize);
  if (c.tiles.length !== cols * rows) throw new CodecError('E_INVALID_OPTION', `${c.tiles.length} tiles given, the grid has ${cols * rows}`);
  const chunks: { type: string; parts: Uint8Array[] }[] = [];
  for (const t of c.tiles) {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, t.z.length, true);
    chunks.push({ type: 'TILE', parts: [len, t.z, t.y] });
  }
  for (const type of OPTIONAL_CHUNKS) {
    const data = c.extra?.[type];
    if (data) chunks.push({ type, parts: [data] });
  }
  if (chunks.length > 0xffff) throw new CodecError('E_LIMIT_EXCEEDED', `${chunks.length} chunks (at most 65535): use larger tiles`);
  const id = new TextEncoder().encode(c.modelId);
  const headLen = 7 + id.length + 4 + 4 + 1 + 1 + 2 + 2 + 12 * chunks.length;
  const lengths = chunks.map((ch) => ch.parts.reduce((s, p) => s + p.length, 0));
  const out = new Uint8Array(headLen + 4 + lengths.reduce((s, n) => s + n, 0));
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
  out[p + 9] = COLOR_CODES.indexOf(c.color ?? 'rgb');
  v.setUint16(p + 10, c.tileSize, true);
  v.setUint16(p + 12, chunks.length, true);
  p += 14;
  let payload = headLen + 4;
  chunks.forEach((ch, i) => {
    out.set(typeBytes(ch.type), p);
    v.setUint32(p + 4, lengths[i]!, true);
    const start = payload;
    for (const part of ch.parts) {
      out.set(part, payload);
      payload += part.length;
    }
    v.setUint32(p + 8, crc32(out.subarray(start, payload)), true);
    p += 12;
  });
  v.setUint32(p, crc32(out.subarray(0, p)), true);
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
  readonly color: ColorMode;
  readonly tileSize: number;
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
  const version = bytes[4]!;
  if (!READABLE_VERSIONS.includes(version)) {
    throw new CodecError('E_UNSUPPORTED_VERSION', `format version ${version} (this decoder reads ${READABLE_VERSIONS.join(' and ')})`);
  }
  if (bytes[5] !== 0) throw new CodecError('E_UNSUPPORTED_VERSION', `unknown flags 0x${bytes[5]!.toString(16)}`);
  const idLen = bytes[6]!;
  if (idLen < 1 || idLen > 64) throw new CodecError('E_CORRUPT', `model id length ${idLen}`);
  const fixed = version === 1 ? 10 : 14;
  need(7 + idLen + fixed, 'header');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let modelId = '';
  for (let i = 0; i < idLen; i++) modelId += String.fromCharCode(bytes[7 + i]!);
  let p = 7 + idLen;
  const header: Header = { modelId, width: v.getUint32(p, true), height: v.getUint32(p + 4, true), quality: bytes[p + 8]! };
  checkHeader(header, maxPixels);
  let color: ColorMode = 'rgb';
  let tileSize = 0;
  let count: number;
  if (version === 1) {
    count = bytes[p + 9]!;
    if (count !== 2) throw new CodecError('E_CORRUPT', `${count} chunks (version 1 has 2)`);
  } else {
    const cc = bytes[p + 9]!;
    if (cc >= COLOR_CODES.length) throw new CodecError('E_CORRUPT', `colour mode ${cc}`);
    color = COLOR_CODES[cc]!;
    tileSize = v.getUint16(p + 10, true);
    checkTileSize(tileSize);
    count = v.getUint16(p + 12, true);
  }
  p += fixed;
  need(p + 12 * count + 4, 'chunk table');
  const nTiles = version === 1 ? 0 : (() => {
    const g = tileGrid(header.width, header.height, tileSize);
    return g.cols * g.rows;
  })();
  if (version === 2 && count < nTiles) throw new CodecError('E_CORRUPT', `${count} chunks for ${nTiles} tiles`);
  const table: { type: ChunkType; length: number; crc: number }[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const type = String.fromCharCode(bytes[p]!, bytes[p + 1]!, bytes[p + 2]!, bytes[p + 3]!);
    if (version === 1) {
      const want = i === 0 ? 'ZHAT' : 'YHAT';
      if (type !== want) throw new CodecError('E_CORRUPT', `chunk ${i} is ${JSON.stringify(type)}, expected ${want}`);
    } else if (i < nTiles) {
      if (type !== 'TILE') throw new CodecError('E_CORRUPT', `chunk ${i} is ${JSON.stringify(type)}, expected TILE`);
    } else if (!(OPTIONAL_CHUNKS as readonly string[]).includes(type) || seen.has(type)) {
      throw new CodecError('E_CORRUPT', `chunk ${i} is ${JSON.stringify(type)}: unknown, repeated or a TILE after the tiles`);
    }
    seen.add(type);
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
  return { ...header, formatVersion: version, color, tileSize, headerBytes, totalBytes: bytes.length, chunks };
}

/** Parses and validates a whole container: header fields and limits, chunk table, lengths, CRCs.
 *  Every check happens before any allocation; the streams are views into `bytes`. */
export function parseContainer(bytes: Uint8Array, opts: ParseOptions = {}): Container {
  const info = inspectContainer(bytes, opts);
  const view = (c: ChunkInfo) => {
    if (!c.crcOk) throw new CodecError('E_CHECKSUM', `${c.type} chunk checksum mismatch`);
    return bytes.subarray(c.offset, c.offset + c.length);
  };
  const tiles: TileStreams[] = [];
  const extra: Partial<Record<OptionalChunk, Uint8Array>> = {};
  if (info.formatVersion === 1) {
    tiles.push({ z: view(info.chunks[0]!), y: view(info.chunks[1]!) });
  } else {
    for (const c of info.chunks) {
      const data = view(c);
      if (c.type !== 'TILE') {
        extra[c.type as OptionalChunk] = data;
        continue;
      }
      if (data.length < 4) throw new CodecError('E_CORRUPT', 'TILE chunk shorter than its z length field');
      const zLen = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
      if (zLen > data.length - 4) throw new CodecError('E_CORRUPT', `TILE z stream of ${zLen} bytes in a ${data.length}-byte chunk`);
      tiles.push({ z: data.subarray(4, 4 + zLen), y: data.subarray(4 + zLen) });
    }
  }
  const { modelId, width, height, quality, formatVersion, color, tileSize } = info;
  return { modelId, width, height, quality, formatVersion, color, tileSize, tiles, extra };
}
