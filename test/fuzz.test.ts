// The short fuzz run of every change (bench/fuzz.ts runs 100,000): 3,000 mutated streams with a
// fixed seed, from a corpus with every chunk type, through the whole decoder. Each ends in a
// stable error code or a well-formed picture, quickly; the mutations reach every layer.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { fuzzInput, outcome, seedCorpus } from '../bench/fuzz/core.js';
import type { Codec } from '../src/codec/codec.js';
import { createCodec } from '../src/node/index.js';

let codec: Codec | undefined;
after(() => codec?.dispose());

test('3,000 fuzzed streams: a stable error code or a picture, never a crash or a hang', { timeout: 600_000 }, async (t) => {
  const c = (codec = await createCodec({ threads: 2, maxPixels: 1 << 22 }));
  const seeds = await seedCorpus(c);
  assert.equal(seeds.length, 8);
  const seen: Record<string, number> = {};
  let slowest = 0;
  for (let i = 0; i < 3000; i++) {
    const t0 = performance.now();
    const o = await outcome(c, fuzzInput(seeds, 20261126, i));
    slowest = Math.max(slowest, performance.now() - t0);
    assert.ok(!o.startsWith('CRASH') && o !== 'BAD_OUTPUT', `input ${i}: ${o}`);
    seen[o] = (seen[o] ?? 0) + 1;
  }
  t.diagnostic(`outcomes ${JSON.stringify(seen)}; slowest ${slowest.toFixed(0)} ms`);
  assert.ok(slowest < 10_000, `slowest ${slowest} ms`);
  for (const k of ['E_TRUNCATED', 'E_CHECKSUM', 'E_CORRUPT', 'E_LIMIT_EXCEEDED', 'E_UNSUPPORTED_VERSION', 'decoded']) assert.ok((seen[k] ?? 0) > 10, `${k}: ${JSON.stringify(seen)}`);
});
