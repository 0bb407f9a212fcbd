// Entropy-coder throughput on the shipped model's real symbols: the y latents of a Kodak image
// (or a synthetic photo) at three qualities, coded with the model's own tables. Writes
// bench/results/rans-<date>.json. Target (issue 3): decode ≥ 20 M symbols/s on 2 cores.
//   npm run bench:rans
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';

import { decodeValues, encodeValues } from '../src/entropy/rans.js';
import { loadPackageFromDir } from '../src/node/package.js';
import { createCodec, resolveModelDir } from '../src/node/index.js';
import { decodeImageFile } from '../src/node/image.js';
import { syntheticImage } from '../test/helpers.js';
import { machine } from '../src/bench/machine.js';
import { median } from '../src/bench/run.js';

const KODIM = process.env['HICODEC_KODAK'] ? `${process.env['HICODEC_KODAK']}/kodim23.png` : new URL('../../../shared/data/kodak/kodim23.png', import.meta.url).pathname;

const model = await loadPackageFromDir(await resolveModelDir());
const codec = await createCodec({ threads: 2 });
const image = existsSync(KODIM) ? await decodeImageFile(await readFile(KODIM)) : syntheticImage(768, 512);
const rows = [];
for (const quality of [10, 50, 90]) {
  const { bytes } = await codec.encode(image, { quality });
  const { q, k } = await codec.decodeSymbols(bytes);
  // repeat the latent to ~1 M symbols so that timings are not dominated by timer resolution
  const reps = Math.max(1, Math.round(1e6 / q.length));
  const Q = new Int32Array(q.length * reps);
  const K = new Uint8Array(k.length * reps);
  for (let r = 0; r < reps; r++) {
    Q.set(q, r * q.length);
    K.set(k, r * k.length);
  }
  const enc: number[] = [];
  const dec: number[] = [];
  let data: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 7; i++) {
    let t = performance.now();
    data = encodeValues(Q, K, model.yTables);
    enc.push(performance.now() - t);
    t = performance.now();
    const back = decodeValues(data, K, model.yTables);
    dec.push(performance.now() - t);
    if (back[back.length - 1] !== Q[Q.length - 1]) throw new Error('round trip failed');
  }
  const row = {
    quality, symbols: Q.length, bytes: data.length, bits_per_symbol: (8 * data.length) / Q.length,
    encode_msym_s: Q.length / median(enc) / 1e3, decode_msym_s: Q.length / median(dec) / 1e3,
  };
  rows.push(row);
  console.error(`q${quality}: ${row.symbols} symbols, encode ${row.encode_msym_s.toFixed(1)} M/s, decode ${row.decode_msym_s.toFixed(1)} M/s`);
}
await codec.dispose();
const out = { benchmark: 'rans', model: model.manifest.id, image: existsSync(KODIM) ? 'kodim23' : 'synthetic 768×512', machine: machine(), rows };
await mkdir(new URL('../../bench/results/', import.meta.url), { recursive: true });
const name = `rans-${new Date().toISOString().slice(0, 10)}.json`;
// results live next to the sources, not in dist/
const dest = new URL(`../../bench/results/${name}`, import.meta.url);
await writeFile(dest, JSON.stringify(out, null, 2) + '\n');
console.error(`wrote ${dest.pathname}`);
