// Data for the latent-token ViT, made with the product's own runtime (onnxruntime-node, ~3× faster
// here than the PyTorch model): every photo of ../shared/data/flowers through the default codec at
// the given qualities — the decoded latent ŷ exactly as `hic classify` computes it from a .hic
// (entropy decoding and the hyper networks), the decoded image, and the original.
//   node training/tools/vit_prep.mjs OUT_DIR [--limit N] [--flip] [--latent-only]   (after `npm run build`)
// Writes OUT_DIR/<split>-{latent.f32,decoded.u8,original.u8,labels.i64} and prep.json (shapes).
// --flip: the training split also holds every photo mirrored left-right, coded as a photo of its
// own (the codec is not mirror-symmetric, so the latent of a mirrored photo is not the mirrored
// latent): twice the training samples. --latent-only: no decoded images (no synthesis; the RGB
// baselines then cannot train on the decoded photos).
import { mkdirSync, readdirSync, writeFileSync, openSync, writeSync, closeSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const REPO = resolve(new URL('../..', import.meta.url).pathname);
const { createCodec, decodeImageFile, decodedLatent } = await import(join(REPO, 'dist/src/index.js'));
const out = resolve(process.argv[2] ?? join(REPO, 'runs/vit'));
const li = process.argv.indexOf('--limit');
const limit = li > 0 ? Number(process.argv[li + 1]) : 0;
const FLIP = process.argv.includes('--flip');
const LATENT_ONLY = process.argv.includes('--latent-only');
const FLOWERS = process.env.HICODEC_FLOWERS ?? join(REPO, '..', 'shared', 'data', 'flowers');
const QUALITIES = [0, 25, 50, 75, 100];
const TRAIN_QUALITIES = [0, 50, 100];

/** The photo mirrored left-right (interleaved RGB). */
function mirrored(img) {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[3 * (y * w + x) + c] = data[3 * (y * w + w - 1 - x) + c];
  return { ...img, data: out };
}

mkdirSync(out, { recursive: true });
const codec = await createCodec({ threads: 2 });
const CH = codec.modelPackage.manifest.latent.channels;
const meta = { codec: codec.modelId, qualities: QUALITIES, splits: {} };
for (const split of ['train', 'val']) {
  const classes = readdirSync(join(FLOWERS, split)).sort();
  let files = classes.flatMap((c, i) => readdirSync(join(FLOWERS, split, c)).sort().map((f) => [join(FLOWERS, split, c, f), i, false]));
  if (limit) files = files.slice(0, limit);
  const images = files.length;
  if (FLIP && split === 'train') files = [...files, ...files.map(([f, l]) => [f, l, true])];
  const quals = split === 'train' ? TRAIN_QUALITIES : QUALITIES;
  const fd = { latent: openSync(join(out, `${split}-latent.f32`), 'w'), decoded: openSync(join(out, `${split}-decoded.u8`), 'w'), original: openSync(join(out, `${split}-original.u8`), 'w') };
  // quality-major layout [q][n][...]: one pass per quality, g_a once per image (cached analysis)
  const analyses = [];
  const t0 = performance.now();
  for (const [qi, q] of quals.entries()) {
    for (const [n, [f, , flip]] of files.entries()) {
      let a = analyses[n];
      let img;
      if (!a) {
        img = await decodeImageFile(readFileSync(f), f);
        if (img.width !== 256 || img.height !== 256) throw new Error(`${f}: ${img.width}×${img.height}, expected 256×256`);
        if (flip) img = mirrored(img);
        a = analyses[n] = { a: await codec.analyze(img), img };
        const planar = new Uint8Array(3 * 256 * 256);
        for (let i = 0; i < 256 * 256; i++) for (let c = 0; c < 3; c++) planar[c * 65536 + i] = img.data[3 * i + c];
        if (qi === 0) writeSync(fd.original, planar);
      }
      const { bytes } = await codec.encodeAnalyzed(a.img, a.a, { quality: q });
      const s = await codec.decodeSymbols(bytes);
      writeSync(fd.latent, new Uint8Array(decodedLatent(codec, s).data.buffer));
      if (!LATENT_ONLY) {
        const dec = await codec.synthesize(s);
        const planar = new Uint8Array(3 * 256 * 256);
        for (let i = 0; i < 256 * 256; i++) for (let c = 0; c < 3; c++) planar[c * 65536 + i] = dec.data[3 * i + c];
        writeSync(fd.decoded, planar);
      }
      if ((n + 1) % 200 === 0) process.stderr.write(`vit prep ${split} q${q}: ${n + 1}/${files.length} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
  }
  for (const v of Object.values(fd)) closeSync(v);
  const labels = new BigInt64Array(files.map(([, l]) => BigInt(l)));
  writeFileSync(join(out, `${split}-labels.i64`), new Uint8Array(labels.buffer));
  meta.splits[split] = {
    images, samples: files.length, flipped: files.length - images, qualities: quals, latent: [quals.length, files.length, CH, 16, 16],
    decoded: LATENT_ONLY ? null : [quals.length, files.length, 3, 256, 256], original: [files.length, 3, 256, 256],
  };
  meta.classes = classes;
}
writeFileSync(join(out, 'prep.json'), JSON.stringify(meta, null, 1) + '\n');
await codec.dispose();
