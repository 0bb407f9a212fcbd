// The committed golden .hic files (tools/make-golden-hic.mjs, one folder per shipped model) still
// parse to exactly the same symbols and decode to the committed pixels (±1: float synthesis); the
// format-2 cases keep their tiles, gray and alpha channels (alpha exact) and metadata chunks.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { inspectContainer } from '../src/bitstream/container.js';
import type { Codec } from '../src/codec/codec.js';
import { readImageFile } from '../src/node/image.js';
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
      const ref = (await readImageFile(await readFile(join(dir, `${name}.png`)))).image;
      assert.deepEqual([img.width, img.height], [ref.width, ref.height]);
      assert.equal(img.channels ?? 3, meta.channels ?? 3);
      assert.equal(img.data.length, ref.data.length);
      assert.ok(maxAbsDiff(img.data, ref.data) <= 1);
      if (meta.tile_size) assert.ok(info.chunks.filter((c) => c.type === 'TILE').length > 1, 'several tiles');
      if (name.endsWith('-meta')) {
        assert.deepEqual(info.chunks.map((c) => c.type).filter((t) => t === 'EXIF' || t === 'XMP ').sort(), ['EXIF', 'XMP ']);
        assert.match(new TextDecoder().decode(img.metadata?.xmp), /hicodec golden/);
      }
      if ((meta.channels ?? 3) % 2 === 0) {
        // the alpha plane is lossless: exactly the ramp the tool wrote
        const c = meta.channels as number;
        for (let i = 0; i < meta.width * meta.height; i++) {
          assert.equal(img.data[i * c + c - 1], Math.round((255 * ((i % meta.width) + Math.floor(i / meta.width))) / Math.max(1, meta.width + meta.height - 2)));
        }
      }
    });
  }
}
