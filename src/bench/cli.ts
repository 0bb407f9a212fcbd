// `hic bench DIR`: runs the benchmark, writes bench/results/<name>.{json,md,svg,png} and, with
// --write-benchmarks, the repository's BENCHMARKS.md.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { machine } from './machine.js';
import { curves, loadAnchors, markdown, summarize, svgPlot, type EarlierRun } from './report.js';
import { CodecError } from '../core/errors.js';
import { runBench, type BenchResult } from './run.js';

/** BENCHMARKS.md from this marker on is about the other benchmarks and survives a rewrite. */
export const MORE_BEGIN = '<!-- other benchmarks: kept by hic bench --write-benchmarks -->';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEFAULT_IMAGES = process.env['HICODEC_KODAK'] ?? join(REPO_ROOT, '../shared/data/kodak');
export const DEFAULT_ANCHORS = process.env['HICODEC_ANCHORS'] ?? join(REPO_ROOT, '../shared/anchors/kodak');

export interface BenchCliOptions {
  readonly quick?: boolean;
  readonly name?: string;
  readonly out?: string;
  readonly codecs?: string;
  readonly model?: string;
  readonly anchors?: string;
  readonly writeBenchmarks?: boolean;
  readonly command?: string;
  /** An earlier result JSON of the same images: rows of the codecs this run does not measure are
   *  taken from it (reference codecs whose library versions are unchanged), and said so. */
  readonly reuse?: string;
  /** An earlier result JSON of the same images whose hicodec curve (another model's, say the
   *  shipped one) this run's is compared with: BD-rates in the summary's `vs_run`. */
  readonly against?: string;
}

const sameImages = (a: BenchResult, b: BenchResult) => {
  const imgs = (r: BenchResult) => r.images.map((i) => `${i.name}:${i.width}x${i.height}`).join();
  return imgs(a) === imgs(b);
};

/** The hicodec curve of an earlier run (`--against`), read before this run measures anything so
 *  that a wrong file fails at once; `sameImages` is checked once this run's images are known. */
async function earlierRun(file: string): Promise<{ old: BenchResult; run: EarlierRun }> {
  const old = JSON.parse(await readFile(file, 'utf8')) as BenchResult;
  const curve = curves(old.rows)['hicodec'];
  if (!curve) throw new CodecError('E_INVALID_OPTION', `--against ${file}: that run has no hicodec rows`);
  return { old, run: { from: basename(file), model: old.model?.id ?? null, curve } };
}

/** Rows and codec descriptions from an earlier run for the codecs `res` lacks, after checking that
 *  the images are the same and that sharp (which carries libaom/libwebp/mozjpeg) and the JXL wasm
 *  are the versions this run would use. */
async function reuseRows(res: BenchResult, file: string, mach: Record<string, unknown>): Promise<{ res: BenchResult; reused: { from: string; codecs: string[] } }> {
  const old = JSON.parse(await readFile(file, 'utf8')) as BenchResult & { machine: { versions?: Record<string, string> }; reused?: { from: string; codecs: string[] } };
  if (!sameImages(old, res)) throw new CodecError('E_INVALID_OPTION', `--reuse ${file}: not the same images`);
  const now = (mach['versions'] ?? {}) as Record<string, string>;
  if (old.machine.versions?.['sharp'] !== now['sharp']) throw new CodecError('E_INVALID_OPTION', `--reuse ${file}: sharp ${old.machine.versions?.['sharp']} then, ${now['sharp']} now`);
  const have = new Set(res.codecs.map((c) => c.id));
  const take = old.codecs.filter((c) => !have.has(c.id) && c.id !== 'hicodec');
  const ids = new Set(take.map((c) => c.id));
  return {
    // one mark however many runs the rows went through (a run that reused rows marked them already)
    res: { ...res, codecs: [...res.codecs, ...take.map((c) => ({ ...c, label: `${c.label.replace(/( †)+$/, '')} †` }))], rows: [...res.rows, ...old.rows.filter((r) => ids.has(r.codec))] },
    // rows that the earlier run had itself reused name the run that measured them
    reused: { from: [...ids].every((id) => old.reused?.codecs.includes(id)) ? old.reused!.from : basename(file), codecs: [...ids] },
  };
}

function progressBar(): (done: number, total: number, what: string) => void {
  const tty = process.stderr.isTTY;
  const start = Date.now();
  let lastPct = -1;
  return (done, total, what) => {
    const frac = total ? done / total : 1;
    const pct = Math.floor(frac * 100);
    const eta = done ? ((Date.now() - start) / done) * (total - done) / 1000 : NaN;
    const etaText = Number.isFinite(eta) ? `${Math.floor(eta / 60)}m${String(Math.round(eta % 60)).padStart(2, '0')}s left` : '';
    if (tty) {
      const bar = '#'.repeat(Math.round(frac * 30)).padEnd(30, '.');
      process.stderr.write(`\r[${bar}] ${String(pct).padStart(3)}% ${etaText} ${what}`.padEnd(100).slice(0, 100));
      if (done === total) process.stderr.write('\n');
    } else if (pct >= lastPct + 5 || done === total) {
      lastPct = pct;
      process.stderr.write(`bench: ${pct}% ${etaText} (${what})\n`);
    }
  };
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

export async function benchCommand(dir: string | undefined, o: BenchCliOptions): Promise<{ json: string; md: string }> {
  const images = resolve(dir ?? DEFAULT_IMAGES);
  const name = o.name ?? `${basename(images)}-${new Date().toISOString().slice(0, 10)}${o.quick ? '-quick' : ''}`;
  const out = resolve(o.out ?? join(REPO_ROOT, 'bench/results'));
  await mkdir(out, { recursive: true });
  const against = o.against ? await earlierRun(o.against) : undefined;
  const measured = await runBench({
    dir: images, quick: !!o.quick, progress: progressBar(),
    ...(o.codecs ? { codecs: o.codecs.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
    ...(o.model ? { model: o.model } : {}),
  });
  const mach = machine();
  const merged = o.reuse ? await reuseRows(measured, o.reuse, mach) : undefined;
  const res = merged?.res ?? measured;
  // Published anchors are Kodak curves: compare with them only on a Kodak run.
  const anchors = basename(images).toLowerCase().includes('kodak') ? loadAnchors(o.anchors ?? DEFAULT_ANCHORS) : [];
  if (against && !sameImages(against.old, measured)) throw new CodecError('E_INVALID_OPTION', `--against ${o.against}: not the same images`);
  const summary = summarize(res, anchors, against?.run);
  const command = o.command ?? (process.env['npm_lifecycle_event'] === 'bench' && !dir && !o.quick ? 'npm run bench' : ['hic bench', dir, o.quick ? '--quick' : undefined, o.codecs ? `--codecs ${o.codecs}` : undefined, o.reuse ? `--reuse ${relative(REPO_ROOT, resolve(o.reuse))}` : undefined, o.against ? `--against ${relative(REPO_ROOT, resolve(o.against))}` : undefined].filter(Boolean).join(' '));
  const reusedNote = merged
    ? `\n† measured in the earlier run \`${merged.reused.from}\` on the same images with the same library versions (rows reused: ${merged.reused.codecs.join(', ')}); their times are from that run.\n`
    : '';
  const md = markdown(res, summary, { name, machine: mach, command }) + reusedNote;
  const svg = svgPlot(res, summary, anchors, basename(images));
  const json = JSON.stringify({ name, images_dir: images, machine: mach, command, ...res, ...(merged ? { reused: merged.reused } : {}), summary }, null, 1);
  const base = join(out, name);
  await writeAtomic(`${base}.json`, json + '\n');
  await writeAtomic(`${base}.md`, md);
  await writeAtomic(`${base}.svg`, svg);
  await writeAtomic(`${base}.png`, new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer()));
  process.stderr.write(`bench: wrote ${base}.{json,md,svg,png}\n`);
  if (o.writeBenchmarks) {
    const rel = relative(REPO_ROOT, base);
    const doc = [
      '# hicodec benchmarks',
      '',
      'Written by `npm run bench` (`hic bench --write-benchmarks`): hicodec and the codecs people use,',
      'measured on the same images in the same run, with real file bytes. Raw rows (every image and',
      `point, with machine and library versions): [\`${rel}.json\`](${rel}.json).`,
      '',
      `![rate–distortion on Kodak](${rel}.png)`,
      '',
      md,
    ].join('\n');
    // the sections about the other benchmarks (speed, tiles, reliability, …) are kept as they are
    const oldDoc = await readFile(join(REPO_ROOT, 'BENCHMARKS.md'), 'utf8').catch(() => '');
    const at = oldDoc.indexOf(MORE_BEGIN);
    await writeAtomic(join(REPO_ROOT, 'BENCHMARKS.md'), at >= 0 ? `${doc.trimEnd()}\n\n${oldDoc.slice(at)}` : doc);
    process.stderr.write(`bench: wrote ${join(REPO_ROOT, 'BENCHMARKS.md')}\n`);
  }
  return { json: `${base}.json`, md };
}
