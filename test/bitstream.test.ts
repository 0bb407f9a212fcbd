// The .hic container: golden bytes pin format version 1; hostile input (mutations, truncations,
// absurd sizes) ends in a CodecError with a stable code, never an uncaught exception or a hang.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { crc32 } from '../src/bitstream/crc32.js';
import { parseContainer, writeContainer, type Container } from '../src/bitstream/container.js';
import { CodecError } from '../src/core/errors.js';

const sample: Container = {
  modelId: 'hic-base-v1',
  width: 769,
  height: 513,
  quality: 75,
  chunks: { ZHAT: Uint8Array.of(1, 2, 3, 4, 5), YHAT: Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0) },
};

// Cross-checked with Python's zlib.crc32 (an independent CRC implementation).
const GOLDEN_HEX =
  '8948494301000b6869632d626173652d763101030000010200004b02' +
  '5a48415405000000f4990b47' + '5948415407000000aed439c6' + '142a8385' + '0102030405aabbccddeeff00';

test('crc32 matches the standard check value', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test('golden bytes of format version 1', () => {
  assert.equal(Buffer.from(writeContainer(sample)).toString('hex'), GOLDEN_HEX);
  const back = parseContainer(Uint8Array.from(Buffer.from(GOLDEN_HEX, 'hex')));
  assert.equal(back.modelId, 'hic-base-v1');
});

test('round trip', () => {
  const back = parseContainer(writeContainer(sample));
  assert.equal(back.modelId, sample.modelId);
  assert.deepEqual([back.width, back.height, back.quality], [769, 513, 75]);
  assert.deepEqual(Array.from(back.chunks.ZHAT), Array.from(sample.chunks.ZHAT));
  assert.deepEqual(Array.from(back.chunks.YHAT), Array.from(sample.chunks.YHAT));
});

function code(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    return e.code;
  }
}

test('bad headers get stable codes', () => {
  const good = writeContainer(sample);
  const mut = (i: number, v: number) => {
    const b = good.slice();
    b[i] = v;
    return b;
  };
  assert.equal(code(() => parseContainer(mut(0, 0x88))), 'E_BAD_MAGIC');
  assert.equal(code(() => parseContainer(mut(4, 2))), 'E_UNSUPPORTED_VERSION');
  assert.equal(code(() => parseContainer(mut(5, 1))), 'E_UNSUPPORTED_VERSION');
  assert.equal(code(() => parseContainer(mut(30, 101))), 'E_CORRUPT'); // quality
  assert.equal(code(() => parseContainer(mut(60, 0))), 'E_CHECKSUM'); // payload byte
  assert.equal(code(() => parseContainer(good.subarray(0, 40))), 'E_TRUNCATED');
  assert.equal(code(() => parseContainer(good.subarray(0, good.length - 1))), 'E_TRUNCATED');
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  assert.equal(code(() => parseContainer(longer)), 'E_CORRUPT');
  assert.equal(code(() => parseContainer(writeContainer({ ...sample, width: 3000, height: 3000 }), { maxPixels: 1e6 })), 'E_LIMIT_EXCEEDED');
});

test('a header claiming 100000×100000 pixels is refused before allocation', () => {
  const b = writeContainer(sample).slice();
  const v = new DataView(b.buffer);
  v.setUint32(18, 100000, true);
  v.setUint32(22, 100000, true);
  assert.equal(code(() => parseContainer(b)), 'E_LIMIT_EXCEEDED');
  assert.throws(() => writeContainer({ ...sample, width: 100000 }), (e: unknown) => e instanceof CodecError && e.code === 'E_LIMIT_EXCEEDED');
});

test('2,000 mutated or truncated containers: CodecError or a valid parse, quickly', () => {
  const good = writeContainer(sample);
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const t0 = performance.now();
  const seen = new Map<string, number>();
  for (let i = 0; i < 2000; i++) {
    let b = good.slice();
    const kind = i % 3;
    if (kind === 0) b = b.subarray(0, Math.floor(rnd() * b.length));
    else for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    if (kind === 2) {
      const extra = new Uint8Array(b.length + 1 + Math.floor(rnd() * 8));
      extra.set(b);
      b = extra;
    }
    const c = code(() => parseContainer(b));
    seen.set(c, (seen.get(c) ?? 0) + 1);
  }
  assert.ok(performance.now() - t0 < 5000);
  assert.ok((seen.get('E_TRUNCATED') ?? 0) > 100 && (seen.get('E_CHECKSUM') ?? 0) > 100, JSON.stringify([...seen]));
});
