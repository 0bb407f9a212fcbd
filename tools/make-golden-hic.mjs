#!/usr/bin/env node
// Writes the golden .hic files that pin format version 1 and the model's parsing path:
// test/golden/<model>/<name>.hic, the decoded PNG and a JSON with the sha256 of the symbols.
// Run once per shipped model (after `npm run build`); the tests decode them forever after.
//   node tools/make-golden-hic.mjs [model-id]
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';

import { createCodec, encodeImageFile } from '../dist/src/index.js';
import { syntheticImage } from '../dist/test/helpers.js';

const CASES = [
  ['s1x1-q50', 1, 1, 50],
  ['s63x65-q0', 63, 65, 0],
  ['s96x64-q100', 96, 64, 100],
  ['s130x70-q75', 130, 70, 75],
];

const sha = (a) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const codec = await createCodec({ model: process.argv[2], threads: 1 });
const dir = new URL(`../test/golden/${codec.modelId}/`, import.meta.url);
await mkdir(dir, { recursive: true });
for (const [name, w, h, quality] of CASES) {
  const { bytes } = await codec.encode(syntheticImage(w, h, w * 31 + h), { quality });
  const s = await codec.decodeSymbols(bytes);
  const img = await codec.decode(bytes);
  await writeFile(new URL(`${name}.hic`, dir), bytes);
  await writeFile(new URL(`${name}.png`, dir), await encodeImageFile(img, 'png'));
  const meta = { model: codec.modelId, width: w, height: h, quality, bytes: bytes.length, sha256: { zHat: sha(s.zHat), k: sha(s.k), q: sha(s.q) } };
  await writeFile(new URL(`${name}.json`, dir), JSON.stringify(meta, null, 2) + '\n');
  console.log(name, bytes.length, 'bytes');
}
await codec.dispose();
