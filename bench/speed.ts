// Speed benchmark (issue 19): on the 24 Kodak images with 2 threads, the median encode and
// decode time of hicodec (library, model loaded once) with a per-stage breakdown (each network,
// rANS, the container, pixel conversions), the per-operator shares of ONNX Runtime's own profile
// for the two big networks, and libjpeg-turbo (mozjpeg-built JPEG) and AVIF decode times of the
// same images in the same run.
//   npm run bench:speed [-- --images 24 --reps 3 --model ID]   → bench/results/speed-<date>.{json,md}
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { machine } from '../src/bench/machine.js';
import { parseContainer } from '../src/bitstream/container.js';
import { SessionEngine } from '../src/codec/engine.js';
import { RansDecoder } from '../src/entropy/rans.js';
import { decodeImageFile } from '../src/node/image.js';
import { createCodec, resolveModelDir } from '../src/node/index.js';
import { loadPackageFromDir } from '../src/node/package.js';
import { nodeRuntime } from '../src/runtime/node.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const KODAK = process.env['HICODEC_KODAK'] ?? join(REPO, '..', 'shared', 'data', 'kodak');
const argv = process.argv;
const arg = (n: string, d: string) => (argv.includes(`--${n}`) ? argv[argv.indexOf(`--${n}`) + 1]! : d);
const N = Number(arg('images', '24'));
const REPS = Number(arg('reps', '3'));
const MODEL = argv.includes('--model') ? arg('model', '') : undefined;
const QUALITY = 75;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// per-network wall time, accumulated by wrapping SessionEngine.run
const net: Record<string, number> = {};
const run = SessionEngine.prototype.run;
SessionEngine.prototype.run = async function (this: SessionEngine, ...a: Parameters<typeof run>) {
  const t = performance.now();
  const r = await run.apply(this, a);
  const key = a[0].replace(/^(scale|mean)_s\d+$/, 'context_$1').replace(/^refine$/, 'context_refine');
  net[key] = (net[key] ?? 0) + performance.now() - t;
  return r;
};

const files = readdirSync(KODAK).filter((f) => f.endsWith('.png')).sort().slice(0, N);
const codec = await createCodec({ threads: 2, ...(MODEL ? { model: MODEL } : {}) });
const rows: { image: string; bytes: number; encode_ms: number; decode_ms: number; jpeg_decode_ms: number; avif_decode_ms: number; encode_stages: Record<string, number>; decode_stages: Record<string, number> }[] = [];
const stagesEnc: Record<string, number[]> = {};
const stagesDec: Record<string, number[]> = {};
for (const f of files) {
  const img = await decodeImageFile(readFileSync(join(KODAK, f)));
  const { bytes } = await codec.encode(img, { quality: QUALITY }); // warm-up, and the stream to decode
  await codec.decode(bytes);
  const enc: number[] = [];
  const dec: number[] = [];
  const encNet: Record<string, number>[] = [];
  const decNet: Record<string, number>[] = [];
  for (let r = 0; r < REPS; r++) {
    for (const k of Object.keys(net)) delete net[k];
    let t = performance.now();
    await codec.encode(img, { quality: QUALITY });
    enc.push(performance.now() - t);
    encNet.push({ ...net });
    for (const k of Object.keys(net)) delete net[k];
    t = performance.now();
    await codec.decode(bytes);
    dec.push(performance.now() - t);
    decNet.push({ ...net });
  }
  // the coder alone on this stream's symbols; the container alone
  const sym = await codec.decodeSymbols(bytes);
  const c = parseContainer(bytes);
  const tables = codec.modelPackage.yTables;
  let t = performance.now();
  const tile = c.tiles[0]!;
  new RansDecoder(tile.y).getMany(new Int32Array(sym.k.length), sym.k, tables);
  const ransMs = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < 20; i++) parseContainer(bytes);
  const containerMs = (performance.now() - t) / 20;
  const pick = (list: Record<string, number>[], k: string) => median(list.map((x) => x[k] ?? 0));
  const keys = (list: Record<string, number>[]) => [...new Set(list.flatMap((x) => Object.keys(x)))];
  const e = Object.fromEntries(keys(encNet).map((k) => [k, pick(encNet, k)]));
  const d = Object.fromEntries(keys(decNet).map((k) => [k, pick(decNet, k)]));
  const encMs = median(enc);
  const decMs = median(dec);
  e['rans+container+js'] = encMs - Object.values(e).reduce((s, v) => s + v, 0);
  d['rans_y'] = ransMs;
  d['container'] = containerMs;
  d['other_js'] = decMs - Object.entries(d).filter(([k]) => k !== 'other_js').reduce((s, [, v]) => s + v, 0);
  for (const [k, v] of Object.entries(e)) (stagesEnc[k] ??= []).push(v);
  for (const [k, v] of Object.entries(d)) (stagesDec[k] ??= []).push(v);
  // the classical decoders on the same image, same run
  const jpeg = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality: 75, mozjpeg: true }).toBuffer();
  const avif = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).avif({ quality: 50, effort: 4 }).toBuffer();
  const timeDecode = async (b: Buffer) => {
    const ts = [];
    for (let i = 0; i < 5; i++) {
      const t1 = performance.now();
      await sharp(b).raw().toBuffer();
      ts.push(performance.now() - t1);
    }
    return median(ts);
  };
  rows.push({ image: f, bytes: bytes.length, encode_ms: encMs, decode_ms: decMs, jpeg_decode_ms: await timeDecode(jpeg), avif_decode_ms: await timeDecode(avif), encode_stages: e, decode_stages: d });
  process.stderr.write(`speed: ${f} encode ${encMs.toFixed(0)} ms decode ${decMs.toFixed(0)} ms\n`);
}
await codec.dispose();

// ORT's per-operator profile of the two big networks on one image
const dir = mkdtempSync(join(tmpdir(), 'hic-prof-'));
const opShares: Record<string, Record<string, number>> = {};
try {
  const pkg = await loadPackageFromDir(await resolveModelDir(MODEL));
  const rt = nodeRuntime({ threads: 2, profilePrefix: join(dir, 'p') });
  const img = await decodeImageFile(readFileSync(join(KODAK, files[0]!)));
  for (const [role, input, dims] of [['analysis', 'x', [1, 3, 512, 768]], ['synthesis', 'y_hat', [1, pkg.manifest.latent.channels, 32, 48]]] as const) {
    const s = await rt.createSession(pkg.networks[role], {});
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => (role === 'analysis' ? img.data[i % img.data.length]! / 255 : Math.sin(i) * 2));
    for (let i = 0; i < 6; i++) await s.run({ [input]: { dtype: 'float32', dims: [...dims], data } }, [s.outputNames[0]!]);
    s.endProfiling!();
    await s.dispose();
    const file = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().pop()!;
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string } }[];
    // the steady runs only: the first two calls of a session run 3–5× slower (its buffers are
    // allocated and first touched), and in them the memory-bound reorders and element-wise ops of
    // g_a's /2 stage looked like 40% of its time (2026-12-02); in steady runs they are ~8%
    const runs = events.filter((ev) => ev.name === 'model_run').sort((x, y) => x.ts - y.ts);
    const from = runs.length > 2 ? runs[2]!.ts : 0;
    const byOp: Record<string, number> = {};
    for (const ev of events) if (ev.cat === 'Node' && ev.ts >= from && ev.args?.op_name && ev.name.endsWith('_kernel_time')) byOp[ev.args.op_name] = (byOp[ev.args.op_name] ?? 0) + ev.dur;
    const total = Object.values(byOp).reduce((a, b) => a + b, 0);
    opShares[role] = Object.fromEntries(Object.entries(byOp).sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => [k, +(v / total).toFixed(3)]));
    for (const f of readdirSync(dir)) rmSync(join(dir, f));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// Cold CLI calls, as a user runs them: one `hic encode` / `hic decode` process per call on kodim23
// (Node start-up, model check and session creation included), median of 5 each.
const cliDir = mkdtempSync(join(tmpdir(), 'hic-cli-'));
const cli: { encode_ms: number; decode_ms: number; image: string } = { encode_ms: 0, decode_ms: 0, image: 'kodim23.png' };
try {
  const HIC = join(REPO, 'dist/src/cli/hic.js');
  const run = (args: string[]) => {
    const t1 = performance.now();
    const r = spawnSync(process.execPath, [HIC, ...args, '-f', ...(MODEL ? ['--model', MODEL] : [])], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`hic ${args[0]} failed: ${r.stderr}`);
    return performance.now() - t1;
  };
  const enc: number[] = [], dec: number[] = [];
  for (let i = 0; i < 5; i++) {
    enc.push(run(['encode', join(KODAK, cli.image), '-o', join(cliDir, 'k.hic'), '-q', String(QUALITY)]));
    dec.push(run(['decode', join(cliDir, 'k.hic'), '-o', join(cliDir, 'k.png')]));
  }
  cli.encode_ms = +median(enc).toFixed(0);
  cli.decode_ms = +median(dec).toFixed(0);
} finally {
  rmSync(cliDir, { recursive: true, force: true });
}

const med = (k: 'encode_ms' | 'decode_ms' | 'jpeg_decode_ms' | 'avif_decode_ms') => median(rows.map((r) => r[k]));
const stageMed = (s: Record<string, number[]>) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, +median(v).toFixed(1)]));
const result = {
  name: `speed-${new Date().toISOString().slice(0, 10)}`, machine: machine(), model: codec.modelId, command: `node dist/bench/speed.js --images ${N} --reps ${REPS}${MODEL ? ` --model ${MODEL}` : ''}`,
  quality: QUALITY, threads: 2, images: rows.length,
  median_ms: { encode: +med('encode_ms').toFixed(1), decode: +med('decode_ms').toFixed(1), jpeg_decode: +med('jpeg_decode_ms').toFixed(1), avif_decode: +med('avif_decode_ms').toFixed(1) },
  decode_vs_jpeg: +(med('decode_ms') / med('jpeg_decode_ms')).toFixed(1), decode_vs_avif: +(med('decode_ms') / med('avif_decode_ms')).toFixed(1),
  cli_cold_ms: cli, encode_stages_ms: stageMed(stagesEnc), decode_stages_ms: stageMed(stagesDec), ort_operator_shares: opShares, rows,
};
mkdirSync(join(REPO, 'bench/results'), { recursive: true });
const base = join(REPO, 'bench/results', result.name);
writeFileSync(`${base}.json`, JSON.stringify(result, null, 1) + '\n');
const md = [`# Speed ${result.name.slice(6)}`, '', `Model ${result.model}, ${rows.length} Kodak images, quality ${QUALITY}, 2 threads, median of ${REPS}; ${(result.machine as { cpu: string }).cpu}. Command: \`${result.command}\`.`, '',
  `| | median ms |`, `|---|---:|`, `| hicodec encode | ${result.median_ms.encode} |`, `| hicodec decode | ${result.median_ms.decode} |`,
  `| JPEG decode (libjpeg-turbo) | ${result.median_ms.jpeg_decode} |`, `| AVIF decode (libaom/dav1d via sharp) | ${result.median_ms.avif_decode} |`, '',
  `hicodec decode is ${result.decode_vs_jpeg}× JPEG's and ${result.decode_vs_avif}× AVIF's.`, '',
  `Cold CLI calls on ${cli.image} (one process each, start-up included, median of 5): \`hic encode\` ${cli.encode_ms} ms, \`hic decode\` ${cli.decode_ms} ms.`, '',
  `Encode stages (median ms): ${Object.entries(result.encode_stages_ms).map(([k, v]) => `${k} ${v}`).join(', ')}`, '',
  `Decode stages (median ms): ${Object.entries(result.decode_stages_ms).map(([k, v]) => `${k} ${v}`).join(', ')}`, '',
  ...Object.entries(opShares).map(([k, v]) => `${k} operators (ORT profile, runs 3–6): ${Object.entries(v).map(([o, s]) => `${o} ${(100 * s).toFixed(0)}%`).join(', ')}`), ''].join('\n');
writeFileSync(`${base}.md`, md);
process.stdout.write(md);
