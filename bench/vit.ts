// Recognition without decoding (issue 16): accuracy and time per image of three paths on the 736
// tf_flowers validation photos —
//   latent:   .hic → entropy decoding + hyper networks → ŷ → latent ViT (the shipped classifier)
//   decoded:  .hic → full decode (synthesis) → 16×16 RGB patches → ViT of the same size
//   original: image file → 16×16 RGB patches → ViT of the same size (no compression at all)
//   npm run bench:vit  [-- --run runs/vit] [--timing N] [--limit N]   → bench/results/vit-<date>.{json,md}
// The latent path's accuracy is measured here through the product (each photo encoded at every
// quality, classified from its bytes with the library); the baselines' accuracies come from
// training (train_vit.py evaluates them on the same photos, decoded by the same runtime). Times:
// medians over N photos at q50, library calls on 2 threads, after one warm-up; and the wall time
// of one `hic classify` / `hic decode` process per file (start-up included).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { machine } from '../src/bench/machine.js';
import { argValue, median } from '../src/bench/run.js';
import { decodeImageFile } from '../src/node/image.js';
import { createCodec, loadClassifier, resolveClassifierDir } from '../src/node/index.js';
import { nodeRuntime } from '../src/runtime/node.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = process.env['HICODEC_SHARED'] ?? join(REPO, '..', 'shared', 'data');
const arg = (name: string, dflt: string) => argValue(name) ?? dflt;
const RUN = join(REPO, arg('--run', 'runs/vit'));
const TIMING = Number(arg('--timing', '60'));
const QUALITIES = [0, 25, 50, 75, 100];
const CLI = join(REPO, 'dist/src/cli/hic.js');

const valDir = join(SHARED, 'flowers', 'val');
const classes = readdirSync(valDir).sort();
const LIMIT = Number(arg('--limit', '0')); // smoke runs: every n-th photo so that all classes stay
const everyFile = classes.flatMap((c, label) => readdirSync(join(valDir, c)).sort().map((f) => ({ file: join(valDir, c, f), label })));
const files = LIMIT ? everyFile.filter((_, i) => i % Math.ceil(everyFile.length / LIMIT) === 0) : everyFile;

const codec = await createCodec({ threads: 2 });
const classifier = await loadClassifier(await resolveClassifierDir(codec.modelId), 2);
if (classifier.manifest.classes.join() !== classes.join()) throw new Error(`classifier classes ${classifier.manifest.classes.join()} ≠ ${classes.join()}`);
const runtime = nodeRuntime({ threads: 2 });
const baselines = Object.fromEntries(
  await Promise.all(['decoded', 'original'].filter((k) => existsSync(join(RUN, `vit-${k}.onnx`))).map(async (k) => [k, await runtime.createSession(new Uint8Array(readFileSync(join(RUN, `vit-${k}.onnx`))))] as const)),
);

/** 16×16 RGB patches as tokens, laid out like training/hicodec_train/vit.py rgb_patches. */
function patches(rgb: Uint8Array, w: number, h: number): Float32Array {
  const gw = w >> 4;
  const gh = h >> 4;
  const out = new Float32Array(768 * gh * gw);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < gh * 16; y++) {
      for (let x = 0; x < gw * 16; x++) {
        const ch = c * 256 + (y & 15) * 16 + (x & 15);
        out[(ch * gh + (y >> 4)) * gw + (x >> 4)] = rgb[3 * (y * w + x) + c]! / 255 - 0.5;
      }
    }
  }
  return out;
}
async function classifyRgb(kind: string, rgb: Uint8Array, w: number, h: number): Promise<number> {
  const out = await baselines[kind]!.run({ patches: { dtype: 'float32', dims: [1, 768, h >> 4, w >> 4], data: patches(rgb, w, h) } }, ['logits']);
  const l = out['logits']!.data as Float32Array;
  return l.indexOf(Math.max(...l));
}

// accuracy of the latent path through the product, at every quality
const right = Object.fromEntries(QUALITIES.map((q) => [q, 0]));
const tmp = await mkdtemp(join(tmpdir(), 'hic-vit-'));
const timingSet: { file: string; hic: Uint8Array; label: number }[] = [];
const t0 = performance.now();
for (const [n, { file, label }] of files.entries()) {
  const img = await decodeImageFile(readFileSync(file), file);
  const a = await codec.analyze(img);
  for (const q of QUALITIES) {
    const { bytes } = await codec.encodeAnalyzed(img, a, { quality: q });
    const r = await classifier.classify(codec, bytes);
    if (r.top.label === classes[label]) right[q]!++;
    if (q === 50 && n % Math.max(1, Math.floor(files.length / TIMING)) === 0 && timingSet.length < TIMING) timingSet.push({ file, hic: bytes, label });
  }
  if ((n + 1) % 100 === 0) process.stderr.write(`vit bench: ${n + 1}/${files.length} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
}
const latentAccuracy = Object.fromEntries(QUALITIES.map((q) => [q, Math.round((10000 * right[q]!) / files.length) / 100]));
const trained = Object.fromEntries(['latent', 'decoded', 'original'].filter((k) => existsSync(join(RUN, `results-${k}.json`))).map((k) => [k, JSON.parse(readFileSync(join(RUN, `results-${k}.json`), 'utf8')) as { accuracy: Record<string, number>; parameters: number }]));

// time per image (library, 2 threads), medians after one warm-up
const timeIt = async (fn: () => Promise<unknown>) => {
  await fn();
  const ts = [];
  for (let i = 0; i < 3; i++) {
    const s = performance.now();
    await fn();
    ts.push(performance.now() - s);
  }
  return median(ts);
};
const times: Record<string, number[]> = { latent: [], decoded: [], original: [], decode_only: [] };
for (const { file, hic } of timingSet) {
  times['latent']!.push(await timeIt(() => classifier.classify(codec, hic)));
  times['decode_only']!.push(await timeIt(() => codec.decode(hic)));
  if (baselines['decoded']) times['decoded']!.push(await timeIt(async () => { const d = await codec.decode(hic); return classifyRgb('decoded', d.data, d.width, d.height); }));
  if (baselines['original']) times['original']!.push(await timeIt(async () => { const img = await decodeImageFile(readFileSync(file), file); return classifyRgb('original', img.data, img.width, img.height); }));
}
const ms = Object.fromEntries(Object.entries(times).filter(([, v]) => v.length).map(([k, v]) => [k, Math.round(10 * median(v)) / 10]));

// CLI wall time per file (one process each; start-up and model loading included)
const cliMs: Record<string, number> = {};
const cliFiles = timingSet.slice(0, 5);
for (const [i, { hic }] of cliFiles.entries()) await writeFile(join(tmp, `${i}.hic`), hic);
for (const [name, args] of [['hic classify', (i: number) => ['classify', join(tmp, `${i}.hic`)]], ['hic decode', (i: number) => ['decode', join(tmp, `${i}.hic`), '-o', join(tmp, `${i}.png`), '-f']]] as const) {
  const ts = [];
  for (let i = 0; i < cliFiles.length; i++) {
    const s = performance.now();
    const r = spawnSync(process.execPath, [CLI, ...args(i), '--threads', '2'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
    ts.push(performance.now() - s);
  }
  cliMs[name] = Math.round(median(ts));
}
await rm(tmp, { recursive: true, force: true });
await codec.dispose();
await classifier.dispose();

const date = new Date().toISOString().slice(0, 10);
const result = {
  name: `vit-${date}${LIMIT ? '-quick' : ''}`, machine: machine(), model: codec.modelId, classifier: classifier.id, command: 'npm run bench:vit',
  validation_images: files.length, qualities: QUALITIES,
  top1_percent: { latent_product_path: latentAccuracy, ...Object.fromEntries(Object.entries(trained).map(([k, v]) => [`${k}_training_eval`, v.accuracy])) },
  parameters: Object.fromEntries(Object.entries(trained).map(([k, v]) => [k, v.parameters])),
  ms_per_image_q50: ms, timing_images: timingSet.length,
  speedup_latent_vs_decode_and_classify: ms['decoded'] && ms['latent'] ? Math.round((100 * ms['decoded']) / ms['latent']) / 100 : null,
  cli_ms_per_file: cliMs,
};
await mkdir(join(REPO, 'bench/results'), { recursive: true });
const base = join(REPO, 'bench/results', result.name);
await writeFile(`${base}.json`, JSON.stringify(result, null, 1) + '\n');
const acc = (k: string) => QUALITIES.map((q) => (result.top1_percent as Record<string, Record<string, number> | undefined>)[k]?.[String(q)]?.toFixed(1) ?? '–');
const md = [
  `# Recognition without decoding ${date}`, '',
  `Codec ${result.model}, classifier ${result.classifier}; tf_flowers validation (${files.length} photos, 5 classes). Command: \`${result.command}\`. Machine: ${String(result.machine['cpu'])}, ${String(result.machine['cores'])} cores.`, '',
  `| top-1 % | ${QUALITIES.map((q) => `q${q}`).join(' | ')} |`, `|---|${QUALITIES.map(() => '---:').join('|')}|`,
  `| latent ViT (product path: .hic bytes → hic classify) | ${acc('latent_product_path').join(' | ')} |`,
  `| latent ViT (training evaluation) | ${acc('latent_training_eval').join(' | ')} |`,
  `| decoded-RGB ViT (same size and recipe) | ${acc('decoded_training_eval').join(' | ')} |`,
  `| original-RGB ViT (no compression) | ${acc('original_training_eval').join(' | ')} |`, '',
  `Time per image at q50 (library, 2 threads, median of ${timingSet.length} photos): latent ${ms['latent']} ms; decode ${ms['decode_only']} ms; decode + RGB ViT ${ms['decoded'] ?? '–'} ms; image file + RGB ViT ${ms['original'] ?? '–'} ms. Latent path ${result.speedup_latent_vs_decode_and_classify ?? '–'}× faster than decode + classify.`,
  `CLI, one process per file (start-up included): hic classify ${cliMs['hic classify']} ms, hic decode ${cliMs['hic decode']} ms.`, '',
].join('\n');
await writeFile(`${base}.md`, md);
process.stdout.write(md);
