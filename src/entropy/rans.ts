// rANS coder over integer CDF tables: 32-bit state, L = 2^23, byte-wise renormalization, 16-bit
// frequencies. Byte-exact with the reference implementation training/hicodec_train/rans.py
// (shared golden vectors: tests/golden/rans-v1.json).
//
// A value outside its table's range is coded as the escape symbol followed by a bypass payload:
//   u  = 2·(−s−1)+1 if s < 0, else 2·(s−n)     (s relative to the table, range [0, n))
//   nb = bit length of u (u < 2^31)             5 bypass bits
//   the nb−1 bits of u below its leading 1      chunks of ≤ 16 bypass bits, high chunk first
// Preconditions: tables come from makeTable(); symbols are integers with |s| < 2^30.
import { CodecError, type ErrorCode } from '../core/errors.js';
import { LUT_SHIFT, PRECISION, TOTAL, type CdfTable } from './tables.js';

const L = 1 << 23;
const MASK = (1 << PRECISION) - 1;
const MAX_ESCAPE = 2 ** 31;

const XMAX_UNIT = (L >>> PRECISION) << 8; // an op of frequency f may start from x < XMAX_UNIT·f

/** The ops of an escaped value (stream order): the escape symbol, then the payload's bit length
 *  and its bits below the leading 1 as bypass ops (value·2^(16−b), frequency 2^(16−b)). */
function escapeOps(s: number, table: CdfTable, code: ErrorCode): number[] {
  const { n, cum } = table;
  const ops = [cum[n]!, cum[n + 1]! - cum[n]!];
  const u = s < 0 ? 2 * (-s - 1) + 1 : 2 * (s - n);
  if (!(u < MAX_ESCAPE)) throw new CodecError(code, `symbol ${s + table.offset} is too far outside its table`);
  const nb = 32 - Math.clz32(u); // bit length (u < 2^31)
  const bypass = (value: number, bits: number) => {
    const f = 1 << (PRECISION - bits);
    ops.push(value * f, f);
  };
  bypass(nb, 5);
  let rest = nb - 1;
  while (rest > 0) {
    const b = Math.min(16, rest);
    rest -= b;
    bypass(Math.floor(u / 2 ** rest) % (1 << b), b);
  }
  return ops;
}

/** The coder's state while it writes backwards: state x, and the bytes buf[pos…]. */
class BackWriter {
  buf: Uint8Array;
  pos: number;
  x = L;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.pos = size;
  }

  /** Room for `bytes` more before pos (every op writes at most 2: x < 2^31 before it). */
  room(bytes: number): void {
    if (this.pos >= bytes) return;
    const grown = new Uint8Array(2 * this.buf.length + bytes);
    const used = this.buf.length - this.pos;
    grown.set(this.buf.subarray(this.pos), grown.length - used);
    this.buf = grown;
    this.pos = grown.length - used;
  }

  /** Encodes ops[from…to) (start, freq pairs) last to first. */
  ops(ops: ArrayLike<number>, from: number, to: number): void {
    this.room(to - from + 4);
    const buf = this.buf;
    let { x, pos } = this;
    for (let i = to - 2; i >= from; i -= 2) {
      const start = ops[i]!;
      const freq = ops[i + 1]!;
      const xMax = XMAX_UNIT * freq;
      while (x >= xMax) {
        buf[--pos] = x & 0xff;
        x >>>= 8;
      }
      // x < 2^31, so the quotient truncates exactly, and one division serves both quotient and rest
      const q = (x / freq) >>> 0;
      x = q * TOTAL + (x - q * freq) + start;
    }
    this.x = x;
    this.pos = pos;
  }

  /** Flushes the state; the stream. */
  finish(): Uint8Array {
    this.room(4);
    let x = this.x;
    for (let i = 0; i < 4; i++) {
      this.buf[--this.pos] = x & 0xff;
      x >>>= 8;
    }
    return this.buf.slice(this.pos);
  }
}

/** The symbol (0…n, n: escape) whose interval holds `slot`: the lookup table's bucket, then a
 *  binary search within it. */
function symbolAt(t: CdfTable, slot: number): number {
  const { cum, lut } = t;
  const b = slot >>> LUT_SHIFT;
  let lo = lut[b]!;
  let hi = lut[b + 1]! + 1; // cum[lo] <= slot < cum[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid]! <= slot) lo = mid;
    else hi = mid;
  }
  return lo;
}

export class RansDecoder {
  private x: number;
  private pos = 4;

  constructor(private readonly data: Uint8Array) {
    if (data.length < 4) throw new CodecError('E_TRUNCATED', 'entropy-coded stream shorter than its 4-byte state');
    this.x = ((data[0]! << 24) >>> 0) + (data[1]! << 16) + (data[2]! << 8) + data[3]!;
  }

  private advance(start: number, freq: number, slot: number): void {
    let x = freq * (this.x >>> PRECISION) + slot - start; // x < 2^32: the shift is the exact floor
    while (x < L) {
      if (this.pos >= this.data.length) throw new CodecError('E_TRUNCATED', 'entropy-coded stream is truncated');
      x = x * 256 + this.data[this.pos++]!;
    }
    this.x = x;
  }

  private bits(b: number): number {
    const shift = PRECISION - b;
    const slot = this.x & MASK;
    const v = slot >>> shift;
    this.advance(v << shift, 1 << shift, slot);
    return v;
  }

  /** The value of an escape symbol (just decoded) of `table`: its bypass payload. */
  private escaped(table: CdfTable): number {
    const nb = this.bits(5);
    let u = nb > 0 ? 1 : 0;
    let rest = nb - 1;
    while (rest > 0) {
      const b = Math.min(16, rest);
      rest -= b;
      u = u * (1 << b) + this.bits(b);
    }
    const s = u % 2 === 1 ? -(u - 1) / 2 - 1 : u / 2 + table.n;
    return s + table.offset;
  }

  /** Decodes one value coded with `table`. */
  get(table: CdfTable): number {
    const { cum, n } = table;
    const slot = this.x & MASK;
    const lo = symbolAt(table, slot);
    this.advance(cum[lo]!, cum[lo + 1]! - cum[lo]!, slot);
    return lo < n ? lo + table.offset : this.escaped(table);
  }

  /** Decodes out.length values, value i with tables[ids[i]] (`code`: the error of a missing
   *  table). The same as `get` in a loop, with the state in locals. */
  getMany(out: Int32Array, ids: ArrayLike<number>, tables: readonly CdfTable[], code: ErrorCode = 'E_CORRUPT'): void {
    const data = this.data;
    const end = data.length;
    let x = this.x;
    let pos = this.pos;
    for (let i = 0; i < out.length; i++) {
      const t = tables[ids[i]!];
      if (t === undefined) throw new CodecError(code, `table id ${ids[i]} out of range`);
      const cum = t.cum;
      const slot = x & MASK;
      const lo = symbolAt(t, slot);
      const start = cum[lo]!;
      x = (cum[lo + 1]! - start) * (x >>> PRECISION) + slot - start; // < 2^32: the shift is the exact floor
      while (x < L) {
        if (pos >= end) throw new CodecError('E_TRUNCATED', 'entropy-coded stream is truncated');
        x = x * 256 + data[pos++]!;
      }
      if (lo < t.n) {
        out[i] = lo + t.offset;
        continue;
      }
      this.x = x;
      this.pos = pos;
      const v = this.escaped(t);
      if (v > 0x7fffffff || v < -0x80000000) throw new CodecError('E_CORRUPT', 'decoded value out of range');
      out[i] = v;
      x = this.x;
      pos = this.pos;
    }
    this.x = x;
    this.pos = pos;
  }

  /** A stream must end exactly where its symbols end, with the coder back in its initial state. */
  finish(): void {
    if (this.x !== L || this.pos !== this.data.length) {
      throw new CodecError('E_CORRUPT', 'entropy-coded stream does not end where its symbols end');
    }
  }
}

/** Codes `values[i]` with `tables[tableIds[i]]`, in one backward pass over the caller's arrays (no
 *  queue). `code`: the error of a missing table or a value too far outside its table. */
export function encodeValues(
  values: ArrayLike<number>, tableIds: ArrayLike<number>, tables: readonly CdfTable[], code: ErrorCode = 'E_INVALID_OPTION',
): Uint8Array {
  const n = values.length;
  if (n !== tableIds.length) throw new CodecError(code, 'values and table ids differ in length');
  const w = new BackWriter(2 * n + 16);
  let buf = w.buf;
  let pos = w.pos;
  let x = L;
  for (let i = n - 1; i >= 0; i--) {
    const t = tables[tableIds[i]!];
    if (t === undefined) throw new CodecError(code, `table id ${tableIds[i]} out of range`);
    const s = values[i]! - t.offset;
    if (s >= 0 && s < t.n) {
      // BackWriter.ops' step, inlined so that the hot loop keeps x and pos in locals; in-range
      // values write at most 2 bytes each: the first 2n+16 bytes never run out
      const cum = t.cum;
      const start = cum[s]!;
      const freq = cum[s + 1]! - start;
      const xMax = XMAX_UNIT * freq;
      while (x >= xMax) {
        buf[--pos] = x & 0xff;
        x >>>= 8;
      }
      const q = (x / freq) >>> 0;
      x = q * TOTAL + (x - q * freq) + start;
      continue;
    }
    const ops = escapeOps(s, t, code);
    w.x = x;
    w.pos = pos;
    w.room(ops.length + 2 * i + 16); // the escape's bytes, and the in-range values still to come
    w.ops(ops, 0, ops.length);
    buf = w.buf;
    pos = w.pos;
    x = w.x;
  }
  w.x = x;
  w.pos = pos;
  return w.finish();
}

/** Decodes tableIds.length values, value i with tables[tableIds[i]]; the stream must end there. */
export function decodeValues(data: Uint8Array, tableIds: ArrayLike<number>, tables: readonly CdfTable[]): Int32Array {
  const dec = new RansDecoder(data);
  const out = new Int32Array(tableIds.length);
  dec.getMany(out, tableIds, tables);
  dec.finish();
  return out;
}

/** Ideal code length in bits of each value under its table (escape and bypass bits included):
 *  what the rANS stream spends on it, up to the coder's few bytes of flush. */
export function symbolBits(values: ArrayLike<number>, tableIds: ArrayLike<number>, tables: readonly CdfTable[]): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const t = tables[tableIds[i]!];
    if (t === undefined) throw new CodecError('E_INVALID_OPTION', `table id ${tableIds[i]} out of range`);
    const s = values[i]! - t.offset;
    const { n, cum } = t;
    if (s >= 0 && s < n) {
      out[i] = PRECISION - Math.log2(cum[s + 1]! - cum[s]!);
    } else {
      const u = s < 0 ? 2 * (-s - 1) + 1 : 2 * (s - n);
      out[i] = PRECISION - Math.log2(cum[n + 1]! - cum[n]!) + 5 + (32 - Math.clz32(u) - 1);
    }
  }
  return out;
}
