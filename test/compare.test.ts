// `hic compare`, run as a user runs it, on a 256×192 crop of kodim23 (fast): every codec at most
// hicodec's bytes, sane PSNRs, the side-by-side PNG, no overwriting without -f, refused options.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import sharp from 'sharp';

import { EXIT_STATUS } from '../src/core/errors.js';
import { hasKodak, KODIM23, REPO } from './helpers.js';

const HIC = join(REPO, 'dist/src/cli/hic.js');
const CODECS = ['hicodec', 'mozjpeg', 'webp', 'avif', 'jxl'];
const SIZE = 3000; // bytes for 256×192 pixels: ~0.49 bpp
let dir = '';

function hic(args: string[]) {
  const r = spawnSync(process.execPath, [HIC, ...args], { cwd: dir, maxBuffer: 1 << 26 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hic-compare-'));
  if (hasKodak) await sharp(KODIM23).extract({ left: 256, top: 160, width: 256, height: 192 }).png().toFile(join(dir, 'k23.png'));
});
after(() => rm(dir, { recursive: true, force: true }));

interface Row {
  codec: string;
  quality: number;
  bytes: number;
  bpp: number;
  psnr: number;
  ms_ssim: number | null;
  over_size: boolean;
}

test('compare puts every codec at most at hicodec\'s bytes and writes the crops side by side', { skip: !hasKodak && 'Kodak not present' }, async () => {
  const r = hic(['compare', 'k23.png', '--size', String(SIZE), '--json', '-o', 'out']);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as { width: number; height: number; requested_bytes: number; target_bytes: number; rows: Row[]; crop: { x: number; y: number; w: number; h: number; order: string[] }; files: { crops: string } };
  assert.deepEqual([rep.width, rep.height, rep.requested_bytes], [256, 192, SIZE]);
  assert.deepEqual(rep.rows.map((x) => x.codec), CODECS);
  assert.ok(rep.target_bytes <= SIZE && rep.target_bytes > SIZE / 2, `target ${rep.target_bytes}`);
  assert.equal(rep.rows[0]!.bytes, rep.target_bytes, 'the target is hicodec\'s real file size');
  for (const row of rep.rows) {
    if (!row.over_size) assert.ok(row.bytes <= rep.target_bytes, JSON.stringify(row));
    assert.ok(row.psnr > 20 && row.psnr < 60, JSON.stringify(row));
    assert.ok(row.ms_ssim !== null && row.ms_ssim > 0.8 && row.ms_ssim <= 1, JSON.stringify(row));
    assert.ok(Math.abs(row.bpp - (8 * row.bytes) / (256 * 192)) < 1e-9);
  }
  // the image is smaller than 256×256 on one side: the crop is its whole height
  assert.deepEqual(rep.crop, { x: 0, y: 0, w: 256, h: 192, order: ['original', ...CODECS] });
  const png = join(dir, 'out', 'k23.compare.png');
  assert.equal(join(dir, rep.files.crops), png);
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', (CODECS.length + 1) * rep.crop.w, rep.crop.h]);
  // the first panel is the original's crop, pixel for pixel
  const first = await sharp(png).extract({ left: 0, top: 0, width: 256, height: 192 }).raw().toBuffer();
  const orig = await sharp(join(dir, 'k23.png')).removeAlpha().raw().toBuffer();
  assert.ok(first.equals(orig));

  const before = await readFile(png);
  const again = hic(['compare', 'k23.png', '--size', String(SIZE), '-o', 'out']);
  assert.equal(again.status, EXIT_STATUS.E_EXISTS, again.stderr);
  assert.match(again.stderr, /E_EXISTS/);
  assert.ok((await readFile(png)).equals(before), 'the first file is unchanged');
});

test('compare refuses bad options with E_INVALID_OPTION before any work', { skip: !hasKodak && 'Kodak not present' }, () => {
  for (const [args, what] of [
    [['--size', '0'], /Expected a positive integer \(bytes\) for --size but received "0"/],
    [['-q', '200'], /Expected an integer between 0 and 100 for -q but received "200"/],
    [['--size', '3000', '-q', '50'], /Expected either --size or -q but received/],
    [['--codecs', 'webp,gif'], /Expected a comma-separated list of .* for --codecs but received "webp,gif"/],
  ] as const) {
    const r = hic(['compare', 'k23.png', ...args, '-o', 'bad']);
    assert.equal(r.status, EXIT_STATUS.E_INVALID_OPTION, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^hic: error E_INVALID_OPTION: /);
    assert.match(r.stderr, what);
  }
});
