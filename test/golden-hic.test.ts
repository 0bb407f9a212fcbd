// The committed golden .hic files (tools/make-golden-hic.mjs, one folder per shipped model) still
// parse to exactly the same symbols and decode to the committed pixels (±1: float synthesis).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { inspectContainer } from '../src/bitstream/container.js';
import type { Codec } from '../src/codec/codec.js';
import { decodeImageFile } from '../src/node/image.js';
import { createCodec } from '../src/node/index.js';
import { maxAbsDiff, REPO } from './helpers.js';

const GOLDEN = join(REPO, 'test/golden');
const sha = (a: Int32Array | Uint8Array) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const codecs = new Map<string, Codec>();
after(async () => {
  for (const c of codecs.values()) await c.dispose();
});

const models = (await readdir(GOLDEN, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);

test('there are golden streams', () => assert.ok(models.length >= 1));

for (const model of models) {
  const dir = join(GOLDEN, model);
  const names = (await readdir(dir)).filter((f) => f.endsWith('.hic')).map((f) => f.slice(0, -4));
  for (const name of names) {
    test(`golden ${model}/${name}.hic`, async () => {
      const meta = JSON.parse(await readFile(join(dir, `${name}.json`), 'utf8'));
      const bytes = new Uint8Array(await readFile(join(dir, `${name}.hic`)));
      const info = inspectContainer(bytes);
      assert.deepEqual([info.modelId, info.width, info.height, info.quality, bytes.length], [model, meta.width, meta.height, meta.quality, meta.bytes]);
      if (!codecs.has(model)) codecs.set(model, await createCodec({ model, threads: 2 }));
      const codec = codecs.get(model)!;
      const s = await codec.decodeSymbols(bytes);
      assert.deepEqual({ zHat: sha(s.zHat), k: sha(s.k), q: sha(s.q) }, meta.sha256);
      const img = await codec.decode(bytes);
      const ref = await decodeImageFile(await readFile(join(dir, `${name}.png`)));
      assert.deepEqual([img.width, img.height], [ref.width, ref.height]);
      assert.ok(maxAbsDiff(img.data, ref.data) <= 1);
    });
  }
}
