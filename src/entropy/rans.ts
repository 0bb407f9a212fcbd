// rANS coder over integer CDF tables: 32-bit state, L = 2^23, byte-wise renormalization, 16-bit
// frequencies. Byte-exact with the reference implementation training/hicodec_train/rans.py
// (shared golden vectors: tests/golden/rans-v1.json).
//
// A value outside its table's range is coded as the escape symbol followed by a bypass payload:
//   u  = 2·(−s−1)+1 if s < 0, else 2·(s−n)     (s relative to the table, range [0, n))
//   nb = bit length of u (u < 2^31)             5 bypass bits
//   the nb−1 bits of u below its leading 1      chunks of ≤ 16 bypass bits, high chunk first
// Preconditions: tables come from makeTable(); symbols are integers with |s| < 2^30.
import { CodecError } from '../core/errors.js';
import { LUT_SHIFT, PRECISION, type CdfTable } from './tables.js';

const L = 1 << 23;
const MASK = (1 << PRECISION) - 1;
const MAX_ESCAPE = 2 ** 31;

export class RansEncoder {
  private ops: Uint32Array;
  private count = 0;

  /** `expected`: how many values will be put (escapes add a few more), so that the queue is
   *  allocated once instead of doubled ~10 times for a tile's 600k symbols. */
  constructor(expected = 512) {
    this.ops = new Uint32Array(2 * Math.max(512, Math.ceil(expected * 1.02)));
  }

  private push(start: number, freq: number): void {
    if (this.count + 2 > this.ops.length) {
      const grown = new Uint32Array(this.ops.length * 2);
      grown.set(this.ops);
      this.ops = grown;
    }
    this.ops[this.count++] = start;
    this.ops[this.count++] = freq;
  }

  private bypass(value: number, bits: number): void {
    const f = 1 << (PRECISION - bits);
    this.push(value * f, f);
  }

  /** Queues one value (stream order). */
  put(value: number, table: CdfTable): void {
    const s = value - table.offset;
    const { n, cum } = table;
    if (s >= 0 && s < n) {
      this.push(cum[s]!, cum[s + 1]! - cum[s]!);
      return;
    }
    this.push(cum[n]!, cum[n + 1]! - cum[n]!);
    const u = s < 0 ? 2 * (-s - 1) + 1 : 2 * (s - n);
    if (!(u < MAX_ESCAPE)) throw new CodecError('E_INVALID_OPTION', `symbol ${value} is too far outside its table`);
    const nb = 32 - Math.clz32(u); // bit length (u < 2^31)
    this.bypass(nb, 5);
    let rest = nb - 1;
    while (rest > 0) {
      const b = Math.min(16, rest);
      rest -= b;
      this.bypass(Math.floor(u / 2 ** rest) % (1 << b), b);
    }
  }

  /** Encodes everything queued (in reverse, so that the decoder reads forward). */
  finish(): Uint8Array {
    const nOps = this.count / 2;
    const buf = new Uint8Array(2 * nOps + 4);
    let pos = buf.length;
    let x = L;
    for (let i = nOps - 1; i >= 0; i--) {
      const start = this.ops[2 * i]!;
      const freq = this.ops[2 * i + 1]!;
      const xMax = ((L >>> PRECISION) << 8) * freq;
      while (x >= xMax) {
        buf[--pos] = x & 0xff;
        x >>>= 8;
      }
      // x < 2^31, so the quotient truncates exactly, and one division serves both quotient and rest
      const q = (x / freq) >>> 0;
      x = q * (1 << PRECISION) + (x - q * freq) + start;
    }
    for (let i = 0; i < 4; i++) {
      buf[--pos] = x & 0xff;
      x >>>= 8;
    }
    return buf.slice(pos);
  }
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

  /** Decodes one value coded with `table`. */
  get(table: CdfTable): number {
    const { cum, n, lut } = table;
    const slot = this.x & MASK;
    const b = slot >>> LUT_SHIFT;
    let lo = lut[b]!;
    let hi = lut[b + 1]! + 1; // cum[lo] <= slot < cum[hi]
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid]! <= slot) lo = mid;
      else hi = mid;
    }
    this.advance(cum[lo]!, cum[lo + 1]! - cum[lo]!, slot);
    if (lo < n) return lo + table.offset;
    const nb = this.bits(5);
    let u = nb > 0 ? 1 : 0;
    let rest = nb - 1;
    while (rest > 0) {
      const b = Math.min(16, rest);
      rest -= b;
      u = u * (1 << b) + this.bits(b);
    }
    const s = u % 2 === 1 ? -(u - 1) / 2 - 1 : u / 2 + n;
    return s + table.offset;
  }

  /** A stream must end exactly where its symbols end, with the coder back in its initial state. */
  finish(): void {
    if (this.x !== L || this.pos !== this.data.length) {
      throw new CodecError('E_CORRUPT', 'entropy-coded stream does not end where its symbols end');
    }
  }
}

/** Codes `values[i]` with `tables[tableIds[i]]`. */
export function encodeValues(values: ArrayLike<number>, tableIds: ArrayLike<number>, tables: readonly CdfTable[]): Uint8Array {
  if (values.length !== tableIds.length) throw new CodecError('E_INVALID_OPTION', 'values and table ids differ in length');
  const enc = new RansEncoder(values.length);
  for (let i = 0; i < values.length; i++) {
    const t = tables[tableIds[i]!];
    if (t === undefined) throw new CodecError('E_INVALID_OPTION', `table id ${tableIds[i]} out of range`);
    enc.put(values[i]!, t);
  }
  return enc.finish();
}

export function decodeValues(data: Uint8Array, tableIds: ArrayLike<number>, tables: readonly CdfTable[]): Int32Array {
  const dec = new RansDecoder(data);
  const out = new Int32Array(tableIds.length);
  for (let i = 0; i < tableIds.length; i++) {
    const t = tables[tableIds[i]!];
    if (t === undefined) throw new CodecError('E_CORRUPT', `table id ${tableIds[i]} out of range`);
    const v = dec.get(t);
    if (v > 0x7fffffff || v < -0x80000000) throw new CodecError('E_CORRUPT', 'decoded value out of range');
    out[i] = v;
  }
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
