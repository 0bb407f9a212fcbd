// The decoder's response to one step of each latent channel (docs/MODEL.md, "Per-channel weights"):
// for every channel c, ŷ_g[c] (the gained latent, after the LRP) is moved by +1 at every 8th
// latent position of a decoded cid22-val photo, and the 8-bit SSE of the decoded picture against
// the unmoved decode is divided by the number of positions moved. Averaged over the photos, per
// quality, next to the channel's gain. Needs a build (npm run build).
//   node scripts/channel-sensitivity.mjs [--images 3] [--qualities 10,50,90] [--dir DIR] [--out FILE]
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { layout } from '../dist/src/codec/tiles.js';
import { createCodec, gainForQuality, loadPackageFromDir, resolveModelDir } from '../dist/src/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const dir = arg('dir', join(process.env.HICODEC_SHARED ?? join(ROOT, '..', 'shared', 'data'), 'cid22-val'));
const names = readdirSync(dir).filter((f) => f.endsWith('.png')).sort().slice(0, Number(arg('images', '3')));
const qualities = arg('qualities', '10,50,90').split(',').map(Number);
const outFile = arg('out', join(ROOT, 'bench/results/effort-kappa/channel-sensitivity.json'));
const STEP = 8;

const codec = await createCodec({ threads: 2 });
const pkg = await loadPackageFromDir(await resolveModelDir());
const m = pkg.manifest.latent.channels;
const result = { command: `node scripts/channel-sensitivity.mjs --images ${names.length} --qualities ${qualities.join(',')}`, model: codec.modelId, images: names, step: STEP, qualities: {} };
for (const q of qualities) {
  const acc = new Float64Array(m);
  for (const n of names) {
    const { data, info } = await sharp(join(dir, n)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const { bytes } = await codec.encode({ width: info.width, height: info.height, data: new Uint8Array(data) }, { quality: q });
    const s = await codec.decodeSymbols(bytes);
    const base = (await codec.synthesize(s)).data;
    const { wy, hy } = layout(s.width, s.height, 1024); // the global latent grid
    const hw = wy * hy;
    const at = [];
    for (let y = STEP >> 1; y < hy; y += STEP) for (let x = STEP >> 1; x < wy; x += STEP) at.push(y * wy + x);
    for (let c = 0; c < m; c++) {
      const moved = Float32Array.from(s.yHatG);
      for (const p of at) moved[c * hw + p] += 1;
      const img = (await codec.synthesize({ ...s, yHatG: moved })).data;
      let sse = 0;
      for (let i = 0; i < img.length; i++) { const d = img[i] - base[i]; sse += d * d; }
      acc[c] += sse / at.length / names.length;
    }
    console.error(`quality ${q}: ${n}`);
  }
  result.qualities[q] = { sse_per_step: Array.from(acc, (v) => +v.toPrecision(4)), gain: Array.from(gainForQuality(pkg, q), (v) => +v.toPrecision(5)) };
}
writeFileSync(outFile, JSON.stringify(result) + '\n');
await codec.dispose();
