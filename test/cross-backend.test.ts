// Cross-backend determinism: a stream made with onnxruntime-node parses to the same symbols with
// onnxruntime-web (wasm, in Node) and back, and the decoded pixels differ by at most 1. Parsing
// depends only on integer ops (ẑ, the integer scale-index network, the rANS coder); the means and
// the synthesis transform are float and may differ in their last bits between backends.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, test } from 'node:test';

import type { Codec, RgbImage } from '../src/codec/codec.js';
import { decodeImageFile } from '../src/node/image.js';
import { disposeAll, hasKodak, KODIM23, maxAbsDiff, node, sameArray, syntheticImage, web } from './helpers.js';

after(disposeAll);

async function images(): Promise<[string, RgbImage][]> {
  const list: [string, RgbImage][] = [
    ['1×1', syntheticImage(1, 1, 11)],
    ['17×33', syntheticImage(17, 33, 12)],
    ['63×65', syntheticImage(63, 65, 13)],
    ['130×70', syntheticImage(130, 70, 14)],
    ['257×191', syntheticImage(257, 191, 15)],
  ];
  if (hasKodak) list.push(['kodim23', await decodeImageFile(await readFile(KODIM23))]);
  else list.push(['320×240', syntheticImage(320, 240, 16)]);
  return list;
}

async function check(from: Codec, to: Codec, img: RgbImage, quality: number): Promise<void> {
  const { bytes } = await from.encode(img, { quality });
  const a = await from.decodeSymbols(bytes);
  const b = await to.decodeSymbols(bytes);
  assert.ok(sameArray(a.zHat, b.zHat), 'ẑ differs');
  assert.ok(sameArray(a.k, b.k), 'scale indices differ');
  assert.ok(sameArray(a.q, b.q), 'y symbols differ');
  const pa = await from.decode(bytes);
  const pb = await to.decode(bytes);
  assert.equal(pb.width, img.width);
  assert.equal(pb.height, img.height);
  const d = maxAbsDiff(pa.data, pb.data);
  assert.ok(d <= 1, `pixels differ by ${d}`);
}

test('node-encoded streams decode identically on web (wasm)', async () => {
  const [n, w] = [await node(), await web()];
  let quality = 5;
  for (const [name, img] of await images()) {
    await check(n, w, img, quality).catch((e: Error) => assert.fail(`${name} q${quality}: ${e.message}`));
    quality += 17;
  }
});

test('web-encoded streams decode identically on node', async () => {
  const [n, w] = [await node(), await web()];
  let quality = 95;
  for (const [name, img] of await images()) {
    await check(w, n, img, quality).catch((e: Error) => assert.fail(`${name} q${quality}: ${e.message}`));
    quality -= 17;
  }
});
