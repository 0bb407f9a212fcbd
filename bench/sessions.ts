// How ONNX Runtime sessions are set up, measured in one run (issue 27, decode ≤ 120 ms): the
// former setup (pool threads spin after each call; every hyper/context graph on one thread), the
// same with spinning off, and the shipped setup (spinning off; hyper/context graphs of ≥ 256 kB on
// two threads, engine.ts). The codecs are interleaved image by image, one warm-up call each.
//   node dist/bench/sessions.js [--images 24]   → bench/results/sessions-<date>.{json,md}
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import ort from 'onnxruntime-node';

import { machine } from '../src/bench/machine.js';
import { median } from '../src/bench/run.js';
import { decodeImageFile } from '../src/node/image.js';
import { createCodec } from '../src/node/index.js';
import { adaptSession } from '../src/runtime/session.js';
import type { Runtime } from '../src/runtime/types.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const KODAK = process.env['HICODEC_KODAK'] ?? join(REPO, '..', 'shared', 'data', 'kodak');
const ni = process.argv.indexOf('--images');
const N = ni > 0 ? Number(process.argv[ni + 1]) : 24;
const QUALITY = 75;
const THREADS = 2;

interface Arm { readonly name: string; readonly spin: boolean; readonly allRepeatedSingle: boolean }
const ARMS: Arm[] = [
  { name: 'former: spinning, hyper/context on 1 thread', spin: true, allRepeatedSingle: true },
  { name: 'spinning off, hyper/context on 1 thread', spin: false, allRepeatedSingle: true },
  { name: 'shipped: spinning off, graphs ≥ 256 kB on 2 threads', spin: false, allRepeatedSingle: false },
];

function runtime(arm: Arm): Runtime {
  return {
    name: arm.name,
    async createSession(model, s = {}) {
      const single = s.small || (arm.allRepeatedSingle && s.noArena);
      const session = await ort.InferenceSession.create(model, {
        graphOptimizationLevel: 'all', intraOpNumThreads: single ? 1 : THREADS, interOpNumThreads: 1,
        ...(s.noArena ? { enableCpuMemArena: false } : {}),
        ...(arm.spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
      });
      return adaptSession(session, (v) => new ort.Tensor(v.dtype, v.data, v.dims));
    },
  };
}

const files = readdirSync(KODAK).filter((f) => f.endsWith('.png')).sort().slice(0, N);
const codecs = await Promise.all(ARMS.map((a) => createCodec({ threads: THREADS, runtime: runtime(a) })));
const t = ARMS.map(() => ({ encode: [] as number[], decode: [] as number[] }));
for (const f of files) {
  const img = await decodeImageFile(readFileSync(join(KODAK, f)));
  for (const [i, c] of codecs.entries()) {
    const { bytes } = await c.encode(img, { quality: QUALITY }); // warm-up
    await c.decode(bytes);
    let s = performance.now();
    await c.encode(img, { quality: QUALITY });
    t[i]!.encode.push(performance.now() - s);
    s = performance.now();
    await c.decode(bytes);
    t[i]!.decode.push(performance.now() - s);
  }
}
const model = codecs[0]!.modelId;
for (const c of codecs) await c.dispose();
const arms = ARMS.map((a, i) => ({ arm: a.name, encode_ms: +median(t[i]!.encode).toFixed(1), decode_ms: +median(t[i]!.decode).toFixed(1) }));
const base = arms[0]!;
const out = {
  name: `sessions-${new Date().toISOString().slice(0, 10)}`, machine: machine(), command: 'node dist/bench/sessions.js', model, images: files.length, quality: QUALITY, threads: THREADS,
  arms: arms.map((a) => ({ ...a, decode_vs_former: +(a.decode_ms / base.decode_ms).toFixed(3), encode_vs_former: +(a.encode_ms / base.encode_ms).toFixed(3) })),
};
await mkdir(join(REPO, 'bench/results'), { recursive: true });
await writeFile(join(REPO, 'bench/results', `${out.name}.json`), JSON.stringify(out, null, 1) + '\n');
const md = [`# ONNX Runtime session setup, one run ${out.name.slice(9)}`, '',
  `Model ${model}, ${files.length} Kodak images, quality ${QUALITY}, ${THREADS} threads, medians (library calls after a warm-up, the setups interleaved image by image); ${String(machine()['cpu'])}. Command: \`${out.command}\`.`, '',
  '| setup | encode ms | decode ms | encode / former | decode / former |', '|---|---:|---:|---:|---:|',
  ...out.arms.map((a) => `| ${a.arm} | ${a.encode_ms} | ${a.decode_ms} | ${a.encode_vs_former} | ${a.decode_vs_former} |`), ''].join('\n');
await writeFile(join(REPO, 'bench/results', `${out.name}.md`), md);
console.log(md);
