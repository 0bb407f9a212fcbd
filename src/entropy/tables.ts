// Integer CDF tables (16-bit precision) as shipped in a model package (`*.tables`, magic HCT1).
// Layout (little-endian): 'HCT1', uint32 count, then per table: int32 offset, uint32 n, uint16 × n
// frequencies summing to 65536 (the last one is the escape symbol). See docs/MODEL.md.
import { CodecError } from '../core/errors.js';

export const PRECISION = 16;
export const TOTAL = 1 << PRECISION;
const MAGIC = 0x31544348; // 'HCT1' read as little-endian uint32
const MAX_TABLES = 4096;

export interface CdfTable {
  /** Value of symbol 0. */
  readonly offset: number;
  /** Number of in-range symbols (the escape symbol is index `n`). */
  readonly n: number;
  /** Cumulative frequencies, length n + 2: cum[0] = 0, cum[n + 1] = 65536. */
  readonly cum: Uint32Array;
  /** Decoder's search start: lut[b] = the symbol (0..n, n: escape) whose interval holds slot
   *  b·2^LUT_SHIFT; length 2^(PRECISION−LUT_SHIFT) + 1, the last entry n. The symbol of a slot in
   *  bucket b lies in lut[b]..lut[b+1]. */
  readonly lut: Uint16Array;
}

/** Slots per bucket of the decoder's lookup table, as a shift: 1,024 buckets of 64 slots. */
export const LUT_SHIFT = 6;

export function makeTable(offset: number, freqs: ArrayLike<number>): CdfTable {
  // every in-range value (offset … offset + n − 1) must be an int32: decoders store them unchecked
  if (!Number.isInteger(offset) || offset < -0x80000000 || offset + freqs.length - 2 > 0x7fffffff) {
    throw new CodecError('E_CORRUPT', `table offset ${offset} is not an integer whose values fit in 32 bits`);
  }
  if (freqs.length < 2 || freqs.length > TOTAL / 2) {
    throw new CodecError('E_CORRUPT', `table has ${freqs.length} entries; expected 2..${TOTAL / 2}`);
  }
  const cum = new Uint32Array(freqs.length + 1);
  for (let i = 0; i < freqs.length; i++) {
    const f = freqs[i]!;
    if (!Number.isInteger(f) || f < 1 || f >= TOTAL) throw new CodecError('E_CORRUPT', `table frequency ${f} out of range`);
    cum[i + 1] = cum[i]! + f;
  }
  if (cum[freqs.length] !== TOTAL) throw new CodecError('E_CORRUPT', `table frequencies sum to ${cum[freqs.length]}, not ${TOTAL}`);
  const buckets = TOTAL >>> LUT_SHIFT;
  const lut = new Uint16Array(buckets + 1);
  for (let b = 0, s = 0; b < buckets; b++) {
    while (cum[s + 1]! <= b << LUT_SHIFT) s++;
    lut[b] = s;
  }
  lut[buckets] = freqs.length - 1;
  return Object.freeze({ offset, n: freqs.length - 1, cum, lut });
}

/** Parses a `.tables` file. Every count and length is checked before anything is allocated. */
export function parseTables(bytes: Uint8Array): CdfTable[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 8 || view.getUint32(0, true) !== MAGIC) throw new CodecError('E_BAD_MAGIC', 'not a hicodec table file');
  const count = view.getUint32(4, true);
  if (count > MAX_TABLES) throw new CodecError('E_LIMIT_EXCEEDED', `table file claims ${count} tables (max ${MAX_TABLES})`);
  const tables: CdfTable[] = [];
  let pos = 8;
  for (let t = 0; t < count; t++) {
    if (pos + 8 > bytes.byteLength) throw new CodecError('E_TRUNCATED', 'table file is truncated');
    const offset = view.getInt32(pos, true);
    const n = view.getUint32(pos + 4, true);
    pos += 8;
    if (n > TOTAL / 2 || pos + 2 * n > bytes.byteLength) throw new CodecError('E_TRUNCATED', 'table file is truncated');
    const freqs = new Array<number>(n);
    for (let i = 0; i < n; i++) freqs[i] = view.getUint16(pos + 2 * i, true);
    pos += 2 * n;
    tables.push(makeTable(offset, freqs));
  }
  if (pos !== bytes.byteLength) throw new CodecError('E_CORRUPT', 'trailing bytes after the last table');
  return tables;
}
