// The TypeScript rANS coder reproduces the Python reference byte for byte (shared golden vectors),
// round-trips random data with escapes, and turns truncated or corrupt streams into CodecErrors.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { CodecError } from '../src/core/errors.js';
import { decodeValues, encodeValues, RansDecoder } from '../src/entropy/rans.js';
import { makeTable, parseTables, type CdfTable } from '../src/entropy/tables.js';

interface GoldenCase {
  name: string;
  tables: { offset: number; freqs: number[] }[];
  table_ids: number[];
  symbols: number[];
  bytes_hex: string;
}
const goldenPath = fileURLToPath(new URL('../../tests/golden/rans-v1.json', import.meta.url));
const golden = JSON.parse(readFileSync(goldenPath, 'utf8')) as { cases: GoldenCase[] };

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

test('golden vectors: encoding gives the reference bytes and decoding gives the symbols', () => {
  assert.equal(golden.cases.length, 3);
  for (const c of golden.cases) {
    const tables = c.tables.map((t) => makeTable(t.offset, t.freqs));
    assert.equal(hex(encodeValues(c.symbols, c.table_ids, tables)), c.bytes_hex, c.name);
    const back = decodeValues(Uint8Array.from(Buffer.from(c.bytes_hex, 'hex')), c.table_ids, tables);
    assert.deepEqual(Array.from(back), c.symbols, c.name);
  }
});

function randomTable(rng: () => number, n: number, offset: number): CdfTable {
  const w = Array.from({ length: n + 1 }, () => 1 + Math.floor(rng() * 1000));
  const total = w.reduce((a, b) => a + b, 0);
  const f = w.map((x) => Math.max(1, Math.floor((x / total) * (65536 - 2 * (n + 1)))));
  f[0]! += 65536 - f.reduce((a, b) => a + b, 0);
  return makeTable(offset, f);
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('random round trip with escapes on both sides', () => {
  const rng = lcg(7);
  const tables = [randomTable(rng, 3, -1), randomTable(rng, 40, -20), randomTable(rng, 1, 0)];
  const ids: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < 20000; i++) {
    const t = Math.floor(rng() * tables.length);
    ids.push(t);
    const r = rng();
    values.push(r < 0.02 ? Math.floor((rng() - 0.5) * 2 ** 31) : Math.floor((rng() - 0.5) * 50));
  }
  const bytes = encodeValues(values, ids, tables);
  assert.deepEqual(Array.from(decodeValues(bytes, ids, tables)), values);
});

test('the queue coder (oracle) and the one-pass coder (encodeValues) write the same bytes, even when every value escapes', () => {
  const rng = lcg(11);
  const tables = [randomTable(rng, 2, 0), randomTable(rng, 30, -15)];
  for (const escapeRate of [0, 0.05, 1]) {
    const ids: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < 5000; i++) {
      ids.push(i % 2);
      values.push(rng() < escapeRate ? Math.floor((rng() - 0.5) * 2 ** 31) : Math.floor(rng() * 2));
    }
    const bytes = encodeValues(values, ids, tables);
    assert.equal(hex(oracleEncode(values, ids, tables)), hex(bytes), `escape rate ${escapeRate}`);
    // one value at a time and many at once read the same values
    const dec = new RansDecoder(bytes);
    const many = new Int32Array(values.length);
    dec.getMany(many.subarray(0, 1000), ids.slice(0, 1000), tables);
    for (let i = 1000; i < 3000; i++) many[i] = dec.get(tables[ids[i]!]!);
    dec.getMany(many.subarray(3000), ids.slice(3000), tables);
    dec.finish();
    assert.deepEqual(Array.from(many), values);
  }
  assert.throws(() => encodeValues([1], [2], tables, 'E_MODEL_INTEGRITY'), (e: unknown) => e instanceof CodecError && e.code === 'E_MODEL_INTEGRITY');
  assert.throws(() => decodeValues(encodeValues([1], [1], tables), [5], tables), (e: unknown) => e instanceof CodecError && e.code === 'E_CORRUPT');
});

/** The coder as it was before the one-pass encoder (a queue of start/frequency pairs coded last
 *  to first), kept as an independent oracle for encodeValues' bytes. */
function oracleEncode(values: number[], ids: number[], tables: CdfTable[]): Uint8Array {
  const ops: number[] = [];
  const bypass = (v: number, bits: number) => ops.push(v * 2 ** (16 - bits), 2 ** (16 - bits));
  values.forEach((v, i) => {
    const t = tables[ids[i]!]!;
    const s = v - t.offset;
    if (s >= 0 && s < t.n) return void ops.push(t.cum[s]!, t.cum[s + 1]! - t.cum[s]!);
    ops.push(t.cum[t.n]!, t.cum[t.n + 1]! - t.cum[t.n]!);
    const u = s < 0 ? 2 * (-s - 1) + 1 : 2 * (s - t.n);
    const nb = 32 - Math.clz32(u);
    bypass(nb, 5);
    for (let rest = nb - 1; rest > 0;) {
      const b = Math.min(16, rest);
      rest -= b;
      bypass(Math.floor(u / 2 ** rest) % 2 ** b, b);
    }
  });
  const out: number[] = [];
  let x = 2 ** 23;
  for (let i = ops.length - 2; i >= 0; i -= 2) {
    const [start, freq] = [ops[i]!, ops[i + 1]!];
    while (x >= 2 ** 15 * freq) {
      out.push(x % 256);
      x = Math.floor(x / 256);
    }
    x = Math.floor(x / freq) * 65536 + (x % freq) + start;
  }
  for (let i = 0; i < 4; i++) {
    out.push(x % 256);
    x = Math.floor(x / 256);
  }
  return Uint8Array.from(out.reverse());
}

test('encodeValues writes the bytes of the old queue coder (oracle), through buffer growth', () => {
  const rng = lcg(5);
  const tables = [randomTable(rng, 4, -2), randomTable(rng, 60, -30)];
  for (const escapeRate of [0, 0.01, 0.5, 1]) {
    const ids = Array.from({ length: 3000 }, () => Math.floor(rng() * 2));
    const values = ids.map(() => (rng() < escapeRate ? Math.floor((rng() - 0.5) * 2 ** 31) : Math.floor((rng() - 0.5) * 8)));
    assert.equal(hex(encodeValues(values, ids, tables)), hex(oracleEncode(values, ids, tables)), `escape rate ${escapeRate}`);
  }
});

test('a decoded escape outside int32 is a corrupt stream', () => {
  const t = [makeTable(0x7fffff00, [65500, 36])];
  const bytes = encodeValues([0x7fffff00 + 2 ** 30], [0], t);
  assert.throws(() => decodeValues(bytes, [0], t), (e: unknown) => e instanceof CodecError && e.code === 'E_CORRUPT');
});

test('truncated and corrupted streams end in a CodecError, never a hang or a wrong success', () => {
  const c = golden.cases[0]!;
  const tables = c.tables.map((t) => makeTable(t.offset, t.freqs));
  const data = Uint8Array.from(Buffer.from(c.bytes_hex, 'hex'));
  for (let cut = 0; cut < data.length; cut++) {
    assert.throws(() => decodeValues(data.subarray(0, cut), c.table_ids, tables), (e: unknown) => e instanceof CodecError);
  }
  let detected = 0;
  for (let i = 0; i < data.length; i++) {
    const bad = data.slice();
    bad[i]! ^= 0x5a;
    try {
      const out = decodeValues(bad, c.table_ids, tables);
      assert.equal(out.length, c.symbols.length);
    } catch (e) {
      assert.ok(e instanceof CodecError);
      detected++;
    }
  }
  assert.ok(detected > data.length / 2, `only ${detected} of ${data.length} corruptions detected`);
});

test('table files: valid ones parse, bad ones are refused with stable codes', () => {
  const t = makeTable(-2, [100, 65000, 400, 36]);
  assert.equal(t.n, 3);
  assert.throws(() => makeTable(0, [1, 2]), (e: unknown) => e instanceof CodecError && e.code === 'E_CORRUPT');
  // values beyond int32 would be stored wrapped: refused with the table
  assert.throws(() => makeTable(0x7fffffff, [65000, 500, 36]), (e: unknown) => e instanceof CodecError && e.code === 'E_CORRUPT');
  assert.equal(makeTable(0x7fffffff, [65500, 36]).n, 1);
  const file = new Uint8Array(8 + 8 + 8);
  const v = new DataView(file.buffer);
  file.set([0x48, 0x43, 0x54, 0x31]);
  v.setUint32(4, 1, true);
  v.setInt32(8, -1, true);
  v.setUint32(12, 4, true);
  [1000, 60000, 4000, 536].forEach((f, i) => v.setUint16(16 + 2 * i, f, true));
  const [p] = parseTables(file);
  assert.equal(p!.offset, -1);
  assert.equal(p!.cum[4], 65536);
  const bad = (mut: (b: Uint8Array) => Uint8Array, code: string) =>
    assert.throws(() => parseTables(mut(file.slice())), (e: unknown) => e instanceof CodecError && e.code === code);
  bad((b) => { b[0] = 0; return b; }, 'E_BAD_MAGIC');
  bad((b) => b.subarray(0, 20), 'E_TRUNCATED');
  bad((b) => { new DataView(b.buffer).setUint32(4, 1e9, true); return b; }, 'E_LIMIT_EXCEEDED');
  bad((b) => { new DataView(b.buffer).setUint16(16, 999, true); return b; }, 'E_CORRUPT');
});
