// `hic bench --quick` end to end on a folder of generated photos: every codec measured, results
// JSON/markdown/SVG/PNG written, BD-rates and speed ratios present.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import sharp from 'sharp';

import { freshResultPath } from '../src/bench/run.js';
import { REPO, syntheticImage } from './helpers.js';

test('hic bench --quick', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hic-bench-'));
  try {
    const photos = join(dir, 'photos');
    await mkdir(photos);
    for (let i = 0; i < 4; i++) {
      const img = syntheticImage(240 + 16 * i, 176, 40 + i);
      await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toFile(join(photos, `p${i}.png`));
    }
    const r = spawnSync(process.execPath, [join(REPO, 'dist/src/cli/hic.js'), 'bench', photos, '--quick', '--out', dir, '--name', 't'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /bench: 100%/);
    const res = JSON.parse(await readFile(join(dir, 't.json'), 'utf8'));
    assert.equal(res.images.length, 3); // --quick: the first 3 images
    const ids = ['hicodec', 'mozjpeg-420', 'mozjpeg-444', 'webp', 'avif-e4', 'avif-e9', 'jxl-e7'];
    assert.deepEqual(res.codecs.map((c: { id: string }) => c.id), ids);
    const expected = res.codecs.reduce((s: number, c: { qualities: number[] }) => s + 3 * c.qualities.length, 0);
    assert.equal(res.rows.length, expected);
    for (const row of res.rows) {
      assert.ok(row.bytes > 0 && row.bpp > 0 && Number.isFinite(row.psnr) && row.ms_ssim > 0 && row.ms_ssim <= 1, JSON.stringify(row));
      assert.ok(row.encode_ms > 0 && row.decode_ms > 0 && row.peak_rss_mb > 50);
    }
    for (const id of ids) assert.ok(res.summary.curves[id].length >= 4, id);
    // hicodec rows: bytes are the real .hic sizes (bpp from bytes, header included)
    const h = res.rows.find((x: { codec: string }) => x.codec === 'hicodec');
    assert.ok(Math.abs(h.bpp - (8 * h.bytes) / (240 * 176)) < 1e-12);
    const bd = res.summary.vs_measured['mozjpeg-420'];
    assert.ok(Number.isFinite(bd.bd_rate_psnr) && Number.isFinite(bd.bd_psnr), JSON.stringify(bd));
    assert.ok(res.summary.speed['mozjpeg-420'].encode_vs_ref === 1 && res.summary.speed_reference === 'mozjpeg-420');
    assert.ok(res.summary.speed['hicodec-1t-q75'].decode_ms > 0 && res.summary.speed['hicodec-2t-q75'].decode_ms > 0);
    assert.ok(res.machine.cores >= 1 && res.machine.versions.sharp);
    const md = await readFile(join(dir, 't.md'), 'utf8');
    for (const label of ['mozjpeg 4:2:0', 'WebP', 'AVIF (effort 9)', 'JPEG XL (effort 7)']) assert.ok(md.includes(`| ${label} |`), label);
    assert.match(await readFile(join(dir, 't.svg'), 'utf8'), /^<svg[\s\S]*<\/svg>\n$/);
    const png = await sharp(join(dir, 't.png')).metadata();
    assert.deepEqual([png.format, png.width, png.height], ['png', 1240, 460]);
    assert.ok((await stat(join(dir, 't.png'))).size > 10_000);
    // --reuse of a run that reused rows itself: one mark, and the run that measured them is named
    for (const [from, name] of [['t', 't2'], ['t2', 't3']]) {
      const rr = spawnSync(process.execPath, [join(REPO, 'dist/src/cli/hic.js'), 'bench', photos, '--quick', '--out', dir, '--name', name!,
        '--codecs', 'hicodec', '--reuse', join(dir, `${from}.json`), ...(name === 't3' ? ['--against', join(dir, 't.json')] : [])], { encoding: 'utf8' });
      assert.equal(rr.status, 0, rr.stderr);
    }
    const t2 = JSON.parse(await readFile(join(dir, 't2.json'), 'utf8'));
    const t3 = JSON.parse(await readFile(join(dir, 't3.json'), 'utf8'));
    assert.equal(t3.codecs.find((c: { id: string }) => c.id === 'webp').label, 'WebP †');
    assert.deepEqual([t3.reused.from, t3.rows.length], ['t.json', res.rows.length]);
    // --against: the same model on the same images codes the same bytes, so no BD difference
    assert.deepEqual(t3.summary.vs_run, { from: 't.json', model: res.model.id, bd_rate_psnr: 0, bd_rate_msssim: 0, bd_psnr: 0 });
    assert.match(t3.command, /--against /);
    assert.ok((await readFile(join(dir, 't3.md'), 'utf8')).includes(`against the earlier run \`t.json\` (model \`${res.model.id}\`)`));
    assert.equal(t2.summary.vs_run, undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a second benchmark run of the same name keeps the first run\'s files (base, base-2, base-3)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hic-results-'));
  try {
    const base = join(dir, 'scale-2026-12-03');
    assert.equal(freshResultPath(base), base);
    await writeFile(`${base}.json`, '{}');
    assert.equal(freshResultPath(base), `${base}-2`);
    await writeFile(`${base}-2.json`, '{}');
    assert.equal(freshResultPath(base), `${base}-3`);
    assert.equal(freshResultPath(base, '.md'), base); // only the extension asked for counts
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
