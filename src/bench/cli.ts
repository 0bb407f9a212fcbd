// `hic bench DIR`: runs the benchmark, writes bench/results/<name>.{json,md,svg,png} and, with
// --write-benchmarks, the repository's BENCHMARKS.md.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { machine } from './machine.js';
import { loadAnchors, markdown, summarize, svgPlot } from './report.js';
import { runBench } from './run.js';

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
  const res = await runBench({
    dir: images, quick: !!o.quick, progress: progressBar(),
    ...(o.codecs ? { codecs: o.codecs.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
    ...(o.model ? { model: o.model } : {}),
  });
  // Published anchors are Kodak curves: compare with them only on a Kodak run.
  const anchors = basename(images).toLowerCase().includes('kodak') ? loadAnchors(o.anchors ?? DEFAULT_ANCHORS) : [];
  const summary = summarize(res, anchors);
  const mach = machine();
  const command = o.command ?? (process.env['npm_lifecycle_event'] === 'bench' && !dir && !o.quick ? 'npm run bench' : ['hic bench', dir, o.quick ? '--quick' : undefined].filter(Boolean).join(' '));
  const md = markdown(res, summary, { name, machine: mach, command });
  const svg = svgPlot(res, summary, anchors, basename(images));
  const json = JSON.stringify({ name, images_dir: images, machine: mach, command, ...res, summary }, null, 1);
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
