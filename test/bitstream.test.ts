// The .hic container: golden bytes pin format version 2 (written) and version 1 (still read);
// hostile input (mutations, truncations, absurd sizes, lying tile tables) ends in a CodecError
// with a stable code, never an uncaught exception or a hang.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { crc32 } from '../src/bitstream/crc32.js';
import { parseContainer, writeContainer, type ContainerInput } from '../src/bitstream/container.js';
import { CodecError } from '../src/core/errors.js';

const sample: ContainerInput = {
  modelId: 'hic-base-v1',
  width: 769,
  height: 513,
  quality: 75,
  tileSize: 512, // 2 × 2 tiles
  tiles: [
    { z: Uint8Array.of(1, 2, 3, 4, 5), y: Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0) },
    { z: Uint8Array.of(6), y: Uint8Array.of(7, 8) },
    { z: new Uint8Array(0), y: Uint8Array.of(9) },
    { z: Uint8Array.of(10, 11), y: new Uint8Array(0) },
  ],
  extra: { ICCP: Uint8Array.of(0x49, 0x43, 0x43) },
};

// Written by an independent Python implementation of FORMAT.md (struct + zlib.crc32).
const GOLDEN_HEX =
  '8948494302000b6869632d626173652d763101030000010200004b000002050054494c4510000000568c45f0' +
  '54494c45070000008db60c7e54494c4505000000b94ffebf54494c4506000000aa3137914943435003000000b1638bb4' +
  '440c234a' + '050000000102030405aabbccddeeff00' + '010000000607080000000009020000000a0b' + '494343';

// Version 1 (hicodec 0.1): still read. Its CRCs were cross-checked with Python's zlib.crc32.
const GOLDEN_V1_HEX =
  '8948494301000b6869632d626173652d763101030000010200004b02' +
  '5a48415405000000f4990b47' + '5948415407000000aed439c6' + '142a8385' + '0102030405aabbccddeeff00';

test('crc32 matches the standard check value', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test('golden bytes of format version 2', () => {
  assert.equal(Buffer.from(writeContainer(sample)).toString('hex'), GOLDEN_HEX);
  const back = parseContainer(Uint8Array.from(Buffer.from(GOLDEN_HEX, 'hex')));
  assert.deepEqual([back.formatVersion, back.modelId, back.color, back.tileSize, back.tiles.length], [2, 'hic-base-v1', 'rgb', 512, 4]);
});

test('version 1 still parses, as one tile covering the image', () => {
  const back = parseContainer(Uint8Array.from(Buffer.from(GOLDEN_V1_HEX, 'hex')));
  assert.deepEqual([back.formatVersion, back.modelId, back.width, back.height, back.quality, back.tileSize], [1, 'hic-base-v1', 769, 513, 75, 0]);
  assert.deepEqual(Array.from(back.tiles[0]!.z), [1, 2, 3, 4, 5]);
  assert.deepEqual(Array.from(back.tiles[0]!.y), [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0]);
  assert.deepEqual(back.extra, {});
});

test('round trip: tiles in raster order, optional chunks, gray', () => {
  const back = parseContainer(writeContainer({ ...sample, color: 'gray', extra: { EXIF: Uint8Array.of(1), 'XMP ': Uint8Array.of(2), ALPH: Uint8Array.of(3) } }));
  assert.equal(back.modelId, sample.modelId);
  assert.deepEqual([back.width, back.height, back.quality, back.color], [769, 513, 75, 'gray']);
  assert.deepEqual(back.tiles.map((t) => [Array.from(t.z), Array.from(t.y)]), sample.tiles.map((t) => [Array.from(t.z), Array.from(t.y)]));
  assert.deepEqual(Object.keys(back.extra).sort(), ['ALPH', 'EXIF', 'XMP ']);
});

test('the writer refuses a tile list that does not match the grid', () => {
  assert.throws(() => writeContainer({ ...sample, tiles: sample.tiles.slice(1) }), (e: unknown) => e instanceof CodecError && e.code === 'E_INVALID_OPTION');
  assert.throws(() => writeContainer({ ...sample, tileSize: 100 }), (e: unknown) => e instanceof CodecError);
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
  assert.equal(code(() => parseContainer(mut(4, 3))), 'E_UNSUPPORTED_VERSION');
  assert.equal(code(() => parseContainer(mut(4, 0))), 'E_UNSUPPORTED_VERSION');
  assert.equal(code(() => parseContainer(mut(5, 1))), 'E_UNSUPPORTED_VERSION');
  assert.equal(code(() => parseContainer(mut(26, 101))), 'E_CORRUPT'); // quality
  assert.equal(code(() => parseContainer(mut(27, 2))), 'E_CORRUPT'); // colour mode
  assert.equal(code(() => parseContainer(mut(28, 100))), 'E_CORRUPT'); // tile size 100 + 256·2
  assert.equal(code(() => parseContainer(mut(30, 3))), 'E_CORRUPT'); // 3 chunks for 4 tiles
  assert.equal(code(() => parseContainer(mut(32, 0x58))), 'E_CORRUPT'); // first chunk not a TILE
  assert.equal(code(() => parseContainer(mut(good.length - 1, 0))), 'E_CHECKSUM'); // payload byte
  assert.equal(code(() => parseContainer(good.subarray(0, 40))), 'E_TRUNCATED');
  assert.equal(code(() => parseContainer(good.subarray(0, good.length - 1))), 'E_TRUNCATED');
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  assert.equal(code(() => parseContainer(longer)), 'E_CORRUPT');
  const big = writeContainer({ ...sample, width: 3000, height: 3000, tileSize: 4096, tiles: [sample.tiles[0]!] });
  assert.equal(code(() => parseContainer(big, { maxPixels: 1e6 })), 'E_LIMIT_EXCEEDED');
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
