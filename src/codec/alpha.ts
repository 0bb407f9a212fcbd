// The alpha plane, lossless (FORMAT.md, `ALPH`): LOCO-I's median edge detector predicts each value
// from its neighbours, and the residuals (mod 256) are rANS-coded with two frequency tables sent
// in the chunk: one for flat neighbourhoods (all four neighbours equal) and one for the rest. Mattes
// and cut-outs are mostly flat, so most pixels cost a small fraction of a bit.
import { CodecError } from '../core/errors.js';
import { encodeValues, RansDecoder } from '../entropy/rans.js';
import { makeTable, TOTAL, type CdfTable } from '../entropy/tables.js';

const METHOD_MED = 0;

/** Neighbours of (x, y) as the format defines them outside the image: above the first row is 255;
 *  left of the first column repeats the value above; right of the last column repeats above. */
function predict(a: Uint8Array, w: number, x: number, y: number): { pred: number; ctx: number } {
  const i = y * w + x;
  const up = y > 0 ? a[i - w]! : 255;
  const left = x > 0 ? a[i - 1]! : up;
  const upLeft = y > 0 && x > 0 ? a[i - w - 1]! : up;
  const upRight = y > 0 && x < w - 1 ? a[i - w + 1]! : up;
  const hi = Math.max(left, up);
  const lo = Math.min(left, up);
  const pred = upLeft >= hi ? lo : upLeft <= lo ? hi : left + up - upLeft;
  return { pred, ctx: left === up && up === upLeft && upLeft === upRight ? 0 : 1 };
}

/** 256 frequencies, each ≥ 1, summing to TOTAL − 1 (the coder's escape symbol, never used,
 *  takes the last unit). Deterministic: largest remainders by count, then by symbol. */
function frequencies(counts: Uint32Array): Uint16Array {
  const total = TOTAL - 1;
  if (counts.every((c) => c === 0)) counts = Uint32Array.of(1, ...new Array<number>(255).fill(0)); // unused context: one listed symbol
  const n = counts.reduce((s, c) => s + c, 0);
  const f = new Uint16Array(256);
  const spare = total - 256;
  let used = 0;
  for (let s = 0; s < 256; s++) {
    f[s] = 1 + Math.floor((counts[s]! * spare) / n);
    used += f[s]!;
  }
  const order = Array.from({ length: 256 }, (_, s) => s).sort((p, q) => counts[q]! - counts[p]! || p - q);
  for (let k = 0; used < total; k = (k + 1) % 256, used++) f[order[k]!]!++;
  return f;
}

function table(f: ArrayLike<number>): CdfTable {
  return makeTable(0, [...Array.from(f), 1]);
}

export function encodeAlpha(alpha: Uint8Array, width: number, height: number): Uint8Array {
  if (alpha.length !== width * height) throw new CodecError('E_INVALID_OPTION', 'alpha plane has the wrong size');
  const sym = new Uint8Array(alpha.length);
  const ctx = new Uint8Array(alpha.length);
  const counts = [new Uint32Array(256), new Uint32Array(256)];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const p = predict(alpha, width, x, y);
      sym[i] = (alpha[i]! - p.pred) & 255;
      ctx[i] = p.ctx;
      counts[p.ctx]![sym[i]!]!++;
    }
  }
  const freqs = counts.map(frequencies);
  const tables = freqs.map(table);
  const stream = encodeValues(sym, ctx, tables);
  // tables: per context a 32-byte bitmap of the symbols whose frequency is above 1 (LSB first),
  // then those frequencies as uint16 in symbol order; every other symbol has frequency 1
  const head: number[] = [METHOD_MED];
  for (const f of freqs) {
    const bits = new Array<number>(32).fill(0);
    const listed: number[] = [];
    for (let s = 0; s < 256; s++) {
      if (f[s]! > 1) {
        bits[s >> 3]! |= 1 << (s & 7);
        listed.push(f[s]! & 255, f[s]! >> 8);
      }
    }
    head.push(...bits, ...listed);
  }
  const out = new Uint8Array(head.length + stream.length);
  out.set(head);
  out.set(stream, head.length);
  return out;
}

/** Reads the two tables; returns them and where the stream starts. */
function readTables(bytes: Uint8Array): { tables: CdfTable[]; start: number } {
  let p = 1;
  const tables: CdfTable[] = [];
  for (let c = 0; c < 2; c++) {
    if (p + 32 > bytes.length) throw new CodecError('E_CORRUPT', 'ALPH chunk ends inside its tables');
    const f = new Array<number>(256).fill(1);
    const bits = bytes.subarray(p, p + 32);
    p += 32;
    for (let s = 0; s < 256; s++) {
      if (!(bits[s >> 3]! & (1 << (s & 7)))) continue;
      if (p + 2 > bytes.length) throw new CodecError('E_CORRUPT', 'ALPH chunk ends inside its tables');
      f[s] = bytes[p]! | (bytes[p + 1]! << 8);
      p += 2;
      if (f[s]! < 2) throw new CodecError('E_CORRUPT', 'ALPH table lists a frequency below 2');
    }
    tables.push(table(f));
  }
  return { tables, start: p };
}

export function decodeAlpha(bytes: Uint8Array, width: number, height: number): Uint8Array {
  if (bytes.length < 1 + 64 + 4) throw new CodecError('E_CORRUPT', 'ALPH chunk is too short');
  if (bytes[0] !== METHOD_MED) throw new CodecError('E_CORRUPT', `unknown alpha method ${bytes[0]}`);
  const { tables, start } = readTables(bytes);
  const dec = new RansDecoder(bytes.subarray(start));
  const a = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = predict(a, width, x, y);
      const s = dec.get(tables[p.ctx]!);
      if (s < 0 || s > 255) throw new CodecError('E_CORRUPT', 'alpha symbol out of range');
      a[y * width + x] = (p.pred + s) & 255;
    }
  }
  dec.finish();
  return a;
}
