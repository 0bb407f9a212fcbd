// Encoder effort benchmark: for each effort level, the BD-rate (PSNR, real file bytes, mean curves
// over the images as in `hic bench`) against effort 0, and the encode time as a ratio to effort 0
// measured in the same run (the efforts of one image and quality run back to back, so that a busy
// machine slows them alike). Encode = the library's encode() (g_a included); PSNR of the decoded file.
//   npm run bench:effort [-- --images 24 --efforts 0,1,2,5,9 --qualities 0,25,50,75,100 --dir DIR --model ID --name NAME]
// Writes bench/results/effort-<date>.{json,md} (NAME.{json,md} with --name).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { machine } from '../src/bench/machine.js';
import { bdRate } from '../src/metrics/bd.js';
import { psnr } from '../src/metrics/psnr.js';
import { decodeImageFile } from '../src/node/image.js';
import { createCodec } from '../src/node/index.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const argv = process.argv;
const arg = (n: string, d: string) => (argv.includes(`--${n}`) ? argv[argv.indexOf(`--${n}`) + 1]! : d);
const list = (s: string) => s.split(',').map((v) => Number(v.trim()));
const DIR = arg('dir', process.env['HICODEC_KODAK'] ?? join(REPO, '..', 'shared', 'data', 'kodak'));
const N = Number(arg('images', '24'));
const EFFORTS = [...new Set([0, ...list(arg('efforts', '0,1,2,3,4,5,6,7,8,9'))])].sort((a, b) => a - b);
const QUALITIES = list(arg('qualities', '0,25,50,75,100'));
const MODEL = argv.includes('--model') ? arg('model', '') : undefined;
const NAME = arg('name', `effort-${new Date().toISOString().slice(0, 10)}`);

interface Row { image: string; quality: number; effort: number; stored_quality: number; bytes: number; bpp: number; psnr: number; encode_ms: number }

const files = readdirSync(DIR).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort().slice(0, N);
const codec = await createCodec({ threads: 2, ...(MODEL ? { model: MODEL } : {}) });
const rows: Row[] = [];
for (const f of files) {
  const img = await decodeImageFile(readFileSync(join(DIR, f)));
  await codec.decode((await codec.encode(img, { quality: 50 })).bytes); // sessions warm
  for (const [qi, quality] of QUALITIES.entries()) {
    for (const effort of qi % 2 ? [...EFFORTS].reverse() : EFFORTS) { // alternate the order: no level always runs first
      const t = performance.now();
      const { bytes, stats } = await codec.encode(img, { quality, effort });
      const ms = performance.now() - t;
      const p = psnr(img, await codec.decode(bytes));
      rows.push({ image: f, quality, effort, stored_quality: stats.quality, bytes: bytes.length, bpp: (8 * bytes.length) / (img.width * img.height), psnr: p, encode_ms: ms });
    }
    process.stderr.write(`effort: ${f} q${quality}: ${EFFORTS.map((e) => { const r = rows.find((x) => x.image === f && x.quality === quality && x.effort === e)!; return `e${e} ${r.bytes} B ${r.psnr.toFixed(2)} dB ${r.encode_ms.toFixed(0)} ms`; }).join(' | ')}\n`);
  }
}
await codec.dispose();

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const curve = (e: number) => {
  const pts = QUALITIES.map((q) => rows.filter((r) => r.effort === e && r.quality === q));
  return { bpp: pts.map((p) => mean(p.map((r) => r.bpp))), quality: pts.map((p) => mean(p.map((r) => r.psnr))) };
};
const time = (e: number) => rows.filter((r) => r.effort === e).reduce((s, r) => s + r.encode_ms, 0);
const base = curve(0);
const levels = EFFORTS.map((e) => {
  const c = curve(e);
  const bd = bdRate(base, c);
  return {
    effort: e, bd_rate_psnr: bd === undefined ? null : +bd.toFixed(2), time_ratio: +(time(e) / time(0)).toFixed(2),
    mean_encode_ms: +(time(e) / (files.length * QUALITIES.length)).toFixed(0),
    per_quality: QUALITIES.map((q, i) => ({ quality: q, bpp: +c.bpp[i]!.toFixed(4), psnr: +c.quality[i]!.toFixed(3), bpp_change_pct: +(100 * (c.bpp[i]! / base.bpp[i]! - 1)).toFixed(2), psnr_change_db: +(c.quality[i]! - base.quality[i]!).toFixed(3) })),
  };
});
const date = new Date().toISOString().slice(0, 10);
const command = `node dist/bench/effort.js --images ${N} --efforts ${EFFORTS.join(',')} --qualities ${QUALITIES.join(',')}${argv.includes('--dir') ? ` --dir ${DIR}` : ''}${MODEL ? ` --model ${MODEL}` : ''}`;
const result = { name: NAME, machine: machine(), model: codec.modelId, command, images: files, qualities: QUALITIES, threads: 2, levels, rows };
mkdirSync(join(REPO, 'bench/results'), { recursive: true });
const out = join(REPO, 'bench/results', NAME);
writeFileSync(`${out}.json`, JSON.stringify(result, null, 1) + '\n');
const md = [
  `# Encoder effort ${date}`, '',
  `Model ${codec.modelId}; ${files.length} images of ${DIR.split('/').filter(Boolean).pop()} (${files.join(', ')}); qualities ${QUALITIES.join(', ')}; 2 threads; ${(result.machine as { cpu: string }).cpu}. Command: \`${command}\`.`,
  'BD-rate: PSNR against real file bytes, mean curves over the images, against effort 0 in the same run. Time: total encode time (g_a included) over all images and qualities, divided by effort 0\'s.', '',
  '| effort | BD-rate vs effort 0 | encode time × effort 0 | mean encode ms |', '|---:|---:|---:|---:|',
  ...levels.map((l) => `| ${l.effort} | ${l.bd_rate_psnr === null ? 'n/a' : `${l.bd_rate_psnr > 0 ? '+' : ''}${l.bd_rate_psnr.toFixed(2)}%`} | ${l.time_ratio.toFixed(2)} | ${l.mean_encode_ms} |`), '',
  'Per quality (mean over the images): bpp / PSNR, and the change against effort 0.', '',
  `| effort | ${QUALITIES.map((q) => `q${q}`).join(' | ')} |`, `|---:|${QUALITIES.map(() => '---:').join('|')}|`,
  ...levels.map((l) => `| ${l.effort} | ${l.per_quality.map((p) => `${p.bpp.toFixed(3)} / ${p.psnr.toFixed(2)}${l.effort ? ` (${p.bpp_change_pct > 0 ? '+' : ''}${p.bpp_change_pct.toFixed(1)}%, ${p.psnr_change_db >= 0 ? '+' : ''}${p.psnr_change_db.toFixed(2)} dB)` : ''}`).join(' | ')} |`), '',
].join('\n');
writeFileSync(`${out}.md`, md);
process.stdout.write(md);
