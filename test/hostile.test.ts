// Hostile streams through the whole decoder (container, rANS, networks): 2,000 mutated or
// truncated copies of a valid stream, a quarter of them with their checksums recomputed so the
// damage reaches the entropy decoder, each end in a CodecError or a correct-size decode, quickly.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { parseContainer, writeContainer } from '../src/bitstream/container.js';
import type { Codec } from '../src/codec/codec.js';
import { CodecError } from '../src/core/errors.js';
import { createCodec } from '../src/node/index.js';
import { syntheticImage } from './helpers.js';

let codec: Codec | undefined;
after(() => codec?.dispose());

test('2,000 hostile streams: CodecError or a decode, never a crash or a hang', async (t) => {
  const cdc = (codec = await createCodec({ threads: 2, maxPixels: 1 << 20 }));
  const { bytes: good } = await cdc.encode(syntheticImage(40, 24, 21), { quality: 50 });
  const c = parseContainer(good);
  let s = 777;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const pick = (n: number) => Math.floor(rnd() * n);
  const seen = new Map<string, number>();
  let slowest = 0;
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) {
    let b: Uint8Array;
    switch (i % 4) {
      case 0: // truncation
        b = good.subarray(0, pick(good.length));
        break;
      case 1: {
        // random byte changes anywhere (checksums catch most)
        b = good.slice();
        for (let k = 0; k <= pick(4); k++) b[pick(b.length)] = pick(256);
        break;
      }
      case 2: {
        // payload damage with valid checksums: reaches the rANS decoder and the networks
        const z = c.tiles[0]!.z.slice();
        const y = c.tiles[0]!.y.slice();
        const t = rnd() < 0.3 ? z : y;
        for (let k = 0; k <= pick(6); k++) t[pick(t.length)] = pick(256);
        const cut = rnd() < 0.2 ? pick(t.length) : t.length;
        b = writeContainer({ ...c, tiles: [t === z ? { z: z.subarray(0, cut), y } : { z, y: y.subarray(0, cut) }] });
        break;
      }
      default: {
        // lying header with valid checksums: other sizes and qualities
        const width = rnd() < 0.5 ? 1 + pick(2000) : c.width;
        const height = rnd() < 0.5 ? 1 + pick(500) : c.height;
        b = writeContainer({ ...c, width, height, quality: pick(101), tileSize: 2048 });
      }
    }
    const t1 = performance.now();
    let outcome: string;
    try {
      const h = parseContainer(b);
      const img = await cdc.decode(b);
      assert.deepEqual([img.width, img.height, img.data.length], [h.width, h.height, h.width * h.height * 3]);
      outcome = 'decoded';
    } catch (e) {
      if (!(e instanceof CodecError)) throw new Error(`case ${i}: ${String(e)}`, { cause: e });
      outcome = e.code;
    }
    slowest = Math.max(slowest, performance.now() - t1);
    seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
  }
  const summary = JSON.stringify(Object.fromEntries(seen));
  t.diagnostic(`outcomes ${summary}; slowest ${slowest.toFixed(0)} ms`);
  assert.ok(slowest < 5000, `slowest case ${slowest.toFixed(0)} ms`);
  assert.ok(performance.now() - t0 < 120_000, summary);
  // the mutations must reach every layer: checksums, truncation and the entropy decoder
  for (const k of ['E_TRUNCATED', 'E_CHECKSUM', 'E_CORRUPT']) assert.ok((seen.get(k) ?? 0) > 20, summary);
});
