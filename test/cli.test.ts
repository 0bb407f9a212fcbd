// The `hic` command line, run as a user runs it: round trips, stdin/stdout, statistics, no
// overwriting without -f, refused inputs with their exit statuses, and nothing partial left behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import sharp from 'sharp';

import { EXIT_STATUS } from '../src/core/errors.js';
import { psnr } from '../src/metrics/psnr.js';
import { decodeImageFile } from '../src/node/image.js';
import { hasKodak, KODIM23, REPO, syntheticImage } from './helpers.js';

const HIC = join(REPO, 'dist/src/cli/hic.js');
let dir = '';

function hic(args: string[], input?: Uint8Array) {
  const r = spawnSync(process.execPath, [HIC, ...args], { cwd: dir, input, maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

async function png(name: string, w: number, h: number, seed = 1): Promise<string> {
  const img = syntheticImage(w, h, seed);
  await sharp(img.data, { raw: { width: w, height: h, channels: 3 } }).png().toFile(join(dir, name));
  return name;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hic-cli-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const noTempFiles = async () => assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);

for (const [w, h] of [[1, 1], [63, 65], [513, 769]] as const) {
  test(`encode → info → decode ${w}×${h}`, async () => {
    const src = await png(`s${w}x${h}.png`, w, h, w + h);
    const enc = hic(['encode', src, '-q', '60', '--stats', '--json']);
    assert.equal(enc.status, 0, enc.stderr);
    const rep = JSON.parse(enc.stdout.toString());
    const hicBytes = await readFile(join(dir, `s${w}x${h}.hic`));
    assert.equal(rep.bytes, hicBytes.length);
    assert.equal(rep.quality, 60);
    assert.ok(Math.abs(rep.bpp - (8 * hicBytes.length) / (w * h)) < 1e-9);
    const info = hic(['info', `s${w}x${h}.hic`, '--json']);
    assert.equal(info.status, 0, info.stderr);
    const inf = JSON.parse(info.stdout.toString());
    assert.deepEqual([inf.width, inf.height, inf.quality, inf.bytes], [w, h, 60, hicBytes.length]);
    assert.ok(inf.chunks.every((c: { crc_ok: boolean }) => c.crc_ok));
    const dec = hic(['decode', `s${w}x${h}.hic`, '-o', `d${w}x${h}.png`]);
    assert.equal(dec.status, 0, dec.stderr);
    const a = await decodeImageFile(await readFile(join(dir, src)));
    const b = await decodeImageFile(await readFile(join(dir, `d${w}x${h}.png`)));
    assert.deepEqual([b.width, b.height], [w, h]);
    // a decode identical to the input (hic-base-v7 gives one for the 1×1) has no finite PSNR: JSON says null
    assert.equal(rep.identical, psnr(a, b) === Infinity);
    if (rep.identical) assert.equal(rep.psnr, null);
    else assert.ok(Math.abs(psnr(a, b) - rep.psnr) < 1e-9, 'the PNG holds exactly the decoded pixels');
    assert.ok(rep.identical || rep.psnr > (w === 1 ? 20 : 27), `PSNR ${rep.psnr}`);
  });
}

test('Kodak image through the CLI prints real bpp and PSNR', { skip: !hasKodak && 'Kodak not present' }, async () => {
  const enc = hic(['encode', KODIM23, '-o', 'k.hic', '--stats']);
  assert.equal(enc.status, 0, enc.stderr);
  const m = /quality 75, (\d+) bytes, ([\d.]+) bpp .* PSNR ([\d.]+) dB/.exec(enc.stderr);
  assert.ok(m, enc.stderr);
  assert.equal(Number(m[1]), (await readFile(join(dir, 'k.hic'))).length);
  assert.ok(Number(m[3]) > 37.4, enc.stderr); // hic-base-v8: 37.80 dB at quality 75, effort 1 (v7: 37.94; v6: 37.87, v5: 36.47, v4: 33.20, v3: 33.25)
  const dec = hic(['decode', 'k.hic', '-o', 'k.png']);
  assert.equal(dec.status, 0, dec.stderr);
  const b = await decodeImageFile(await readFile(join(dir, 'k.png')));
  assert.deepEqual([b.width, b.height], [768, 512]);
});

test('stdin to stdout, and decode to JPEG and WebP by extension', async () => {
  const src = await readFile(join(dir, await png('pipe.png', 40, 30)));
  const enc = hic(['encode', '-', '-o', '-', '-q', '30'], src);
  assert.equal(enc.status, 0, enc.stderr);
  assert.deepEqual([...enc.stdout.subarray(0, 4)], [0x89, 0x48, 0x49, 0x43]);
  const dec = hic(['decode', '-', '-o', '-'], enc.stdout);
  assert.equal(dec.status, 0, dec.stderr);
  assert.equal((await sharp(dec.stdout).metadata()).format, 'png');
  await writeFile(join(dir, 'pipe.hic'), enc.stdout);
  for (const [ext, fmt] of [['jpg', 'jpeg'], ['webp', 'webp']]) {
    assert.equal(hic(['decode', 'pipe.hic', '-o', `pipe.${ext}`]).status, 0);
    const meta = await sharp(join(dir, `pipe.${ext}`)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], [fmt, 40, 30]);
  }
});

test('a reader that stops early ends the command quietly (SIGPIPE status, no EPIPE trace)', async () => {
  const src = await png('epipe.png', 384, 256, 5);
  assert.equal(hic(['encode', src, '-o', 'epipe.hic', '-q', '90']).status, 0);
  // the PNG on stdout is bigger than a pipe's buffer, so `head` closes it while hic still writes
  const r = spawnSync('bash', ['-c', `"${process.execPath}" "${HIC}" decode epipe.hic -o - | head -c 100 > /dev/null; echo "status \${PIPESTATUS[0]}"`], { cwd: dir, encoding: 'utf8' });
  assert.match(r.stdout, /^status 141\n$/);
  assert.doesNotMatch(r.stderr, /EPIPE|Error/);
  const help = spawnSync('bash', ['-c', `"${process.execPath}" "${HIC}" --help | head -1`], { cwd: dir, encoding: 'utf8' });
  assert.match(help.stdout, /^Usage: hic/);
  assert.equal(help.stderr, '');
});

test('target size', async () => {
  const src = await png('t.png', 200, 150, 4);
  const r = hic(['encode', src, '--target-size', '1500', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout.toString());
  assert.ok(rep.bytes <= 1500 && rep.target_met, JSON.stringify(rep));
  assert.equal(hic(['encode', src, '--target-size', '1500', '--target-bpp', '1', '-f']).status, EXIT_STATUS.E_INVALID_OPTION);
});

test('never overwrites without -f; -f replaces atomically', async () => {
  const src = await png('o.png', 32, 32);
  await writeFile(join(dir, 'o.hic'), 'precious');
  const r = hic(['encode', src]);
  assert.equal(r.status, EXIT_STATUS.E_EXISTS, r.stderr);
  assert.match(r.stderr, /E_EXISTS/);
  assert.equal(await readFile(join(dir, 'o.hic'), 'utf8'), 'precious');
  assert.equal(hic(['encode', src, '-f']).status, 0);
  assert.deepEqual([...(await readFile(join(dir, 'o.hic'))).subarray(0, 4)], [0x89, 0x48, 0x49, 0x43]);
  await noTempFiles();
});

test('refused inputs: exit status per error code, no output file', async () => {
  let r: ReturnType<typeof hic>;
  await writeFile(join(dir, 'junk.png'), 'not an image');
  assert.equal(hic(['encode', 'junk.png']).status, EXIT_STATUS.E_UNSUPPORTED_IMAGE);
  assert.equal(hic(['encode', 'missing.png']).status, EXIT_STATUS.E_IO);
  assert.equal(hic(['encode', 'junk.png', '-q', '101']).status, EXIT_STATUS.E_INVALID_OPTION);
  assert.equal(hic(['frobnicate']).status, EXIT_STATUS.E_INVALID_OPTION);
  // corrupt stream: one flipped payload bit
  const src = await png('c.png', 24, 24);
  assert.equal(hic(['encode', src]).status, 0);
  const bytes = await readFile(join(dir, 'c.hic'));
  bytes[bytes.length - 3]! ^= 4;
  await writeFile(join(dir, 'bad.hic'), bytes);
  r = hic(['decode', 'bad.hic']);
  assert.equal(r.status, EXIT_STATUS.E_CHECKSUM, r.stderr);
  r = hic(['info', 'bad.hic']);
  assert.equal(r.status, EXIT_STATUS.E_CHECKSUM);
  assert.match(r.stdout.toString(), /MISMATCH/);
  assert.equal(hic(['decode', 'c.png', '-o', 'cc.png']).status, EXIT_STATUS.E_BAD_MAGIC);
  assert.equal(hic(['decode', 'c.png']).status, EXIT_STATUS.E_INVALID_OPTION); // output = input
  const names = await readdir(dir);
  for (const f of ['junk.hic', 'bad.png', 'cc.png']) assert.ok(!names.includes(f), `${f} was left behind`);
  await noTempFiles();
});

test('a half-transparent PNG keeps its alpha exactly through encode and decode', async () => {
  await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 9, g: 9, b: 9, alpha: 0.5 } } }).png().toFile(join(dir, 'alpha.png'));
  const r = hic(['encode', 'alpha.png', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout.toString());
  assert.ok(rep.alpha_bytes > 0 && rep.channels === 4, JSON.stringify(rep));
  assert.equal(hic(['decode', 'alpha.hic', '-o', 'alpha.out.png']).status, 0);
  const { data, info } = await sharp(join(dir, 'alpha.out.png')).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 4);
  for (let i = 3; i < data.length; i += 4) assert.equal(data[i], 128);
});

test('opaque alpha, grayscale, 16-bit and EXIF-rotated inputs: what is coded and what was converted', async () => {
  const img = syntheticImage(20, 12);
  const raw = { raw: { width: 20, height: 12, channels: 3 as const } };
  await sharp(img.data, raw).ensureAlpha(1).png().toFile(join(dir, 'opaque.png'));
  await sharp(img.data, raw).toColourspace('b-w').png().toFile(join(dir, 'gray.png'));
  assert.equal((await sharp(join(dir, 'gray.png')).metadata()).channels, 1);
  await sharp(img.data, raw).toColourspace('rgb16').png().toFile(join(dir, 'deep.png'));
  await sharp(img.data, raw).jpeg().withMetadata({ orientation: 6 }).toFile(join(dir, 'rot.jpg'));
  assert.equal((await sharp(join(dir, 'deep.png')).metadata()).depth, 'ushort');
  for (const f of ['opaque.png', 'gray.png', 'deep.png', 'rot.jpg']) {
    const r = hic(['encode', f, '--json']);
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
    const rep = JSON.parse(r.stdout.toString());
    assert.deepEqual([rep.width, rep.height], f === 'rot.jpg' ? [12, 20] : [20, 12], f);
    assert.equal(rep.channels, f === 'gray.png' ? 1 : 3, f);
    const expect = { 'opaque.png': 'fully opaque alpha dropped', 'gray.png': undefined, 'deep.png': '16-bit → 8-bit', 'rot.jpg': 'EXIF orientation 6' }[f];
    if (expect) assert.ok(rep.converted.some((c: string) => c.startsWith(expect)), `${f}: ${JSON.stringify(rep.converted)}`);
    else assert.deepEqual(rep.converted, [], f);
  }
});

test('CLI manners: errors in one format, unknown model, unmet target, default output in the current folder', async () => {
  const src = await png('m.png', 64, 48, 6);
  // a bad option: one line "hic: error E_INVALID_OPTION: …", not commander's text plus the help
  let r = hic(['encode', src, '-q', '50', '--target-bpp', '1']);
  assert.equal(r.status, EXIT_STATUS.E_INVALID_OPTION);
  assert.match(r.stderr, /^hic: error E_INVALID_OPTION: option .*cannot be used with option .*\n$/);
  r = hic(['encode', src, '--frobnicate']);
  assert.equal(r.status, EXIT_STATUS.E_INVALID_OPTION);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  // a model that is not installed
  r = hic(['encode', src, '-o', 'x.hic', '--model', 'nope']);
  assert.equal(r.status, EXIT_STATUS.E_UNKNOWN_MODEL, r.stderr);
  assert.match(r.stderr, /E_UNKNOWN_MODEL: model nope is not installed/);
  // a target size that cannot be met: an error, and no file
  r = hic(['encode', src, '-o', 'tiny.hic', '--target-size', '20']);
  assert.equal(r.status, EXIT_STATUS.E_TARGET_UNREACHABLE, r.stderr);
  assert.match(r.stderr, /even quality 0 takes \d+ bytes/);
  // no -o: the output goes to the current folder, never next to the input, and that is said
  await mkdir(join(dir, 'data'), { recursive: true });
  await writeFile(join(dir, 'data', 'n.png'), await readFile(join(dir, src)));
  r = hic(['encode', join('data', 'n.png')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /hic: wrote n\.hic \(in the current folder/);
  const names = await readdir(dir);
  assert.ok(names.includes('n.hic') && !names.includes('x.hic') && !names.includes('tiny.hic'));
  assert.deepEqual(await readdir(join(dir, 'data')), ['n.png']);
  // help with examples and exit codes
  r = hic(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout.toString(), /Examples:[\s\S]*Exit status:[\s\S]*15 {2}E_TARGET_UNREACHABLE/);
});

test('the CLI stays executable after a build: npx hic --version', () => {
  const mode = statSync(HIC).mode;
  assert.ok(mode & 0o100, `dist/src/cli/hic.js mode ${mode.toString(8)}`);
  const r = spawnSync('npx', ['--no-install', 'hic', '--version'], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\d+\.\d+\.\d+/);
});

test('--stats PSNR of an RGBA picture is the colour\'s: the RGB planes, alpha (lossless) left out', async () => {
  const [w, h] = [48, 40];
  const rgb = syntheticImage(w, h, 21).data;
  const rgba = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    rgba.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
    rgba[4 * i + 3] = (i * 7) % 256; // a varied alpha, never dropped as opaque
  }
  await sharp(rgba, { raw: { width: w, height: h, channels: 4 } }).png().toFile(join(dir, 'rgba.png'));
  const r = hic(['encode', 'rgba.png', '-q', '40', '--stats', '--json', '--threads', '1']);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout.toString());
  assert.equal(rep.channels, 4);
  assert.equal(rep.backend, 'onnxruntime-node (1 thread)'); // not "(1 threads)"
  assert.equal(hic(['decode', 'rgba.hic', '-o', 'rgba.out.png']).status, 0);
  const { data, info } = await sharp(join(dir, 'rgba.out.png')).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 4);
  let se = 0;
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) se += (data[4 * i + c]! - rgba[4 * i + c]!) ** 2;
  const want = 10 * Math.log10((255 * 255) / (se / (3 * w * h)));
  assert.ok(Math.abs(rep.psnr_rgb - want) < 1e-9, `reported ${rep.psnr_rgb}, RGB PSNR ${want}`);
  assert.equal(rep.psnr, rep.psnr_rgb); // the old field name, same figure
  const text = hic(['encode', 'rgba.png', '-o', 'rgba2.hic', '-q', '40', '--stats']);
  assert.match(text.stderr, new RegExp(`RGB PSNR ${want.toFixed(2)} dB \\(alpha lossless, not counted\\)`));
});

test('decode --out-quality: a smaller JPEG at a lower quality; invalid values and lossless outputs refused', async () => {
  const src = await png('oq.png', 96, 64, 8);
  assert.equal(hic(['encode', src, '-q', '70']).status, 0);
  for (const q of [undefined, '40']) {
    const r = hic(['decode', 'oq.hic', '-o', `oq${q ?? ''}.jpg`, ...(q ? ['--out-quality', q] : [])]);
    assert.equal(r.status, 0, r.stderr);
  }
  const [dflt, low] = [(await readFile(join(dir, 'oq.jpg'))).length, (await readFile(join(dir, 'oq40.jpg'))).length];
  assert.ok(low < dflt, `--out-quality 40: ${low} bytes, default 95: ${dflt}`);
  for (const bad of ['0', '101', '9.5', 'high']) {
    const r = hic(['decode', 'oq.hic', '-o', 'bad.webp', '--out-quality', bad]);
    assert.equal(r.status, EXIT_STATUS.E_INVALID_OPTION, r.stderr);
    assert.match(r.stderr, new RegExp(`Expected an integer between 1 and 100 for --out-quality but received ${bad}`));
  }
  const r = hic(['decode', 'oq.hic', '-o', 'bad.png', '--out-quality', '50']);
  assert.equal(r.status, EXIT_STATUS.E_INVALID_OPTION, r.stderr);
  assert.match(r.stderr, /Expected a JPEG, WebP or AVIF output for --out-quality but received png/);
  const names = await readdir(dir);
  assert.ok(!names.includes('bad.webp') && !names.includes('bad.png'));
});

test('a CLI run leaves nothing in /tmp: ONNX Runtime\'s telemetry (mat-debug-<pid>.log, a device id) is off', { skip: process.platform !== 'linux' && 'Linux paths' }, async () => {
  const src = await png('tel.png', 16, 16);
  const r = spawnSync(process.execPath, [HIC, 'encode', src, '-o', 'tel.hic'], { cwd: dir, env: { ...process.env, ORT_DISABLE_TELEMETRY: undefined } });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.equal(existsSync(`/tmp/mat-debug-${r.pid}.log`), false);
});

test('--tile says its rule: a multiple of 128', async () => {
  const src = await png('tile.png', 32, 32);
  for (const t of ['100', '200']) {
    const r = hic(['encode', src, '-o', 'tile.hic', '--tile', t]);
    assert.equal(r.status, EXIT_STATUS.E_INVALID_OPTION, r.stderr);
    assert.match(r.stderr, /expected a multiple of 128 in 128\.\.65408/);
  }
});

test('--progress counts coding tiles in every stage, each line once', async () => {
  const src = await png('prog.png', 600, 400, 5);
  // 256-px tiles: 3 × 2 tiles; default 1024-px tiles: 1 tile, analysed in two 512-px blocks
  for (const [args, tiles] of [[['--tile', '256'], 6], [[], 1]] as const) {
    const r = hic(['encode', src, '-o', `prog${tiles}.hic`, '-q', '30', '--progress', '--json', ...args]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.toString()).tiles, tiles);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('hic: ')).map((l) => /^hic: (\w+) (\d+)\/(\d+) tiles? \(/.exec(l)!);
    assert.ok(lines.length > 0 && lines.every(Boolean), r.stderr);
    const seen = lines.map((m) => `${m[1]} ${m[2]}/${m[3]}`);
    assert.deepEqual(seen, [...new Set(seen)], `a line printed twice:\n${r.stderr}`);
    assert.ok(lines.every((m) => Number(m[3]) === tiles), r.stderr);
    assert.deepEqual(seen.filter((l) => l.endsWith(`${tiles}/${tiles}`)), [`analysis ${tiles}/${tiles}`, `coding ${tiles}/${tiles}`]);
  }
});

test('hic info on a truncated stream prints the header it could read, then the error', async () => {
  const model = (await readFile(join(REPO, 'models/DEFAULT'), 'utf8')).trim();
  const good = await readFile(join(REPO, 'test/golden', model, 's300x200-q60-tile128.hic'));
  await writeFile(join(dir, 'cut.hic'), good.subarray(0, good.length - 40));
  let r = hic(['info', 'cut.hic']);
  assert.equal(r.status, EXIT_STATUS.E_TRUNCATED, r.stderr);
  assert.match(r.stderr, /^hic: error E_TRUNCATED: /);
  const out = r.stdout.toString();
  assert.match(out, new RegExp(`model ${model} — damaged`));
  assert.match(out, /300×200 RGB, quality 60, tiles of 128 px, 6 chunks announced/);
  assert.match(out, /TILE +\d+ bytes +\d+ present \(cut short\)/);
  r = hic(['info', 'cut.hic', '--json']);
  assert.equal(r.status, EXIT_STATUS.E_TRUNCATED);
  const j = JSON.parse(r.stdout.toString());
  assert.deepEqual([j.complete, j.error.code, j.model, j.width, j.height, j.quality, j.chunks.length], [false, 'E_TRUNCATED', model, 300, 200, 60, 6]);
  // cut inside the header: the fields before the cut
  await writeFile(join(dir, 'head.hic'), good.subarray(0, 7 + model.length + 6));
  r = hic(['info', 'head.hic']);
  assert.equal(r.status, EXIT_STATUS.E_TRUNCATED);
  assert.match(r.stdout.toString(), new RegExp(`model ${model} — damaged[\\s\\S]*300×\\?`));
  // not a .hic file at all: the error alone
  await writeFile(join(dir, 'hello.hic'), 'hello, world');
  r = hic(['info', 'hello.hic']);
  assert.equal(r.status, EXIT_STATUS.E_BAD_MAGIC);
  assert.equal(r.stdout.toString(), '');
});
