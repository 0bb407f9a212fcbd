#!/usr/bin/env node
// Writes the golden .hic files that pin the container format and the model's parsing path:
// test/golden/<model>/<name>.hic, the decoded PNG and a JSON with the sha256 of the symbols.
// Format 2 cases add several tiles, gray, gray+alpha / RGBA (ALPH chunk) and metadata chunks.
// With a classifier installed for the model, also a tf_flowers validation photo (CC BY 2.0, see
// test/golden/SOURCES.md) at q50 and the class `hic classify` gives it (classify.json).
// Run once per shipped model (after `npm run build`); the tests decode them forever after.
//   node tools/make-golden-hic.mjs [model-id]
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { createCodec, decodeImageFile, encodeImageFile, loadClassifier, resolveClassifierDir } from '../dist/src/index.js';
import { syntheticImage } from '../dist/test/helpers.js';

/** channels 1/2/4 are made from the synthetic RGB picture (gray = R; alpha = a diagonal ramp). */
const CASES = [
  ['s1x1-q50', 1, 1, 50, {}],
  ['s63x65-q0', 63, 65, 0, {}],
  ['s96x64-q100', 96, 64, 100, {}],
  ['s130x70-q75', 130, 70, 75, {}],
  ['s300x200-q60-tile128', 300, 200, 60, { tileSize: 128 }],
  ['s80x72-q40-gray', 80, 72, 40, { channels: 1 }],
  ['s64x48-q70-grayalpha', 64, 48, 70, { channels: 2 }],
  ['s200x140-q30-rgba-tile128-meta', 200, 140, 30, { channels: 4, tileSize: 128, metadata: true }],
];
export const FLOWER = 'daisy/10437929963_bc13eebe0c.jpg';

function picture(w, h, channels) {
  const rgb = syntheticImage(w, h, w * 31 + h);
  if (!channels || channels === 3) return rgb;
  const n = w * h;
  const data = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    const a = Math.round((255 * ((i % w) + Math.floor(i / w))) / Math.max(1, w + h - 2));
    if (channels === 1) data[i] = rgb.data[3 * i];
    else if (channels === 2) data.set([rgb.data[3 * i], a], 2 * i);
    else data.set([rgb.data[3 * i], rgb.data[3 * i + 1], rgb.data[3 * i + 2], a], 4 * i);
  }
  return { width: w, height: h, channels, data };
}
const META = { exif: new Uint8Array([0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 0]), xmp: new TextEncoder().encode('<x:xmpmeta xmlns:x="adobe:ns:meta/">hicodec golden</x:xmpmeta>') };

const sha = (a) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
const codec = await createCodec({ model: process.argv[2], threads: 1 });
const dir = new URL(`../test/golden/${codec.modelId}/`, import.meta.url);
await mkdir(dir, { recursive: true });
const flowers = process.env.HICODEC_FLOWERS ?? fileURLToPath(new URL('../../shared/data/flowers/', import.meta.url));
let classifierDir = null;
try {
  classifierDir = await resolveClassifierDir(codec.modelId);
} catch {
  console.log('no classifier installed for', codec.modelId, '- no classify golden');
}
const flowerFile = `${flowers}/val/${FLOWER}`;
const flower = classifierDir && existsSync(flowerFile) ? await decodeImageFile(readFileSync(flowerFile)) : null;
if (flower) CASES.push(['flower-q50', flower.width, flower.height, 50, { image: flower }]);
for (const [name, w, h, quality, o] of CASES) {
  const opts = { quality, ...(o.tileSize ? { tileSize: o.tileSize } : {}), ...(o.metadata ? { metadata: META } : {}) };
  const { bytes } = await codec.encode(o.image ?? picture(w, h, o.channels), opts);
  const s = await codec.decodeSymbols(bytes);
  const img = await codec.decode(bytes);
  await writeFile(new URL(`${name}.hic`, dir), bytes);
  await writeFile(new URL(`${name}.png`, dir), await encodeImageFile(img, 'png'));
  const meta = { model: codec.modelId, width: w, height: h, quality, channels: o.channels ?? 3, tile_size: o.tileSize ?? null, bytes: bytes.length, sha256: { zHat: sha(s.zHat), k: sha(s.k), q: sha(s.q) } };
  await writeFile(new URL(`${name}.json`, dir), JSON.stringify(meta, null, 2) + '\n');
  console.log(name, bytes.length, 'bytes');
}

if (flower) {
  const bytes = new Uint8Array(readFileSync(new URL('flower-q50.hic', dir)));
  const classifier = await loadClassifier(classifierDir, 1);
  const r = await classifier.classify(codec, bytes);
  const meta = { model: codec.modelId, classifier: classifier.id, file: 'flower-q50.hic', source: `tf_flowers val/${FLOWER} (CC BY 2.0, Flickr photo ${FLOWER.split('/')[1].split('_')[0]})`, true_label: FLOWER.split('/')[0], label: r.top.label, probability: r.top.probability };
  await writeFile(new URL('classify.json', dir), JSON.stringify(meta, null, 2) + '\n');
  console.log('classify flower-q50 →', r.top.label, r.top.probability.toFixed(3));
  await classifier.dispose();
}
await codec.dispose();
