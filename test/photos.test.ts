// Photos as people have them: every PNG of the PNG suite round-trips (size, channels, alpha exact)
// or is refused with a stable code; ICC profile, Exif and XMP survive encode → decode into every
// output format; EXIF orientation is applied once; gray stays gray; the alpha coder is pinned.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { decodeAlpha, encodeAlpha } from '../src/codec/alpha.js';
import { CodecError } from '../src/core/errors.js';
import { exifOrientation, exifTiff } from '../src/core/exif.js';
import { formatForPath, readImageFile, writeImageFile } from '../src/node/image.js';
import { disposeAll, node, REPO, syntheticImage } from './helpers.js';

after(disposeAll);
const made: string[] = []; // temporary folders, removed when the file's tests are done
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const PNGSUITE = process.env['HICODEC_PNGSUITE'] ?? fileURLToPath(new URL('../../../shared/data/pngsuite/', import.meta.url));
const hasSuite = existsSync(PNGSUITE);
const CLI = join(REPO, 'dist/src/cli/hic.js');

// pinned bytes of a 7×5 matte: method 0, each context's bitmap and listed frequencies, the stream
const GOLDEN_ALPHA =
  '0001000000000000000000000000000000020000000000000000000000000000' +
  '0041f2c00c010000000000000000000000000000000100000000000000000000' +
  '000000000001ee001104aa28fd36';

test('the alpha coder: golden bytes, exact round trip, flat planes nearly free', () => {
  const w = 7;
  const h = 5;
  const a = new Uint8Array(w * h).map((_, i) => (i % w < 3 ? 255 : i % w === 3 ? 128 : 0));
  const bytes = encodeAlpha(a, w, h);
  assert.deepEqual(Array.from(decodeAlpha(bytes, w, h)), Array.from(a));
  assert.equal(Buffer.from(bytes).toString('hex'), GOLDEN_ALPHA);
  const flat = encodeAlpha(new Uint8Array(256 * 256).fill(255), 256, 256);
  assert.ok(flat.length < 130, `a fully flat 256×256 plane costs ${flat.length} bytes`);
  const noisy = new Uint8Array(64 * 64).map((_, i) => (i * 2654435761) >>> 24);
  assert.deepEqual(Array.from(decodeAlpha(encodeAlpha(noisy, 64, 64), 64, 64)), Array.from(noisy));
  assert.throws(() => decodeAlpha(bytes.subarray(0, bytes.length - 3), w, h), (e: unknown) => e instanceof CodecError && ['E_CORRUPT', 'E_TRUNCATED'].includes(e.code));
  assert.throws(() => decodeAlpha(Uint8Array.of(7, ...bytes.subarray(1)), w, h), (e: unknown) => e instanceof CodecError && e.code === 'E_CORRUPT');
});

test('output formats by extension; anything else is refused', () => {
  assert.deepEqual(['a.png', 'a.JPG', 'b.jpeg', 'c.webp', 'd.avif', 'e.tif', 'f.tiff', 'noext', '-'].map(formatForPath), ['png', 'jpeg', 'jpeg', 'webp', 'avif', 'tiff', 'tiff', 'png', 'png']);
  for (const bad of ['x.bmp', 'x.gif', 'x.hic', 'x.jxl']) assert.throws(() => formatForPath(bad), (e: unknown) => e instanceof CodecError && e.code === 'E_INVALID_OPTION');
});

test('every PNG of the suite round-trips or is refused with a stable code', { skip: !hasSuite && 'PNG suite not present' }, async (t) => {
  const codec = await node();
  const files = readdirSync(PNGSUITE).filter((f) => f.endsWith('.png')).sort();
  const outcomes: Record<string, number> = {};
  for (const f of files) {
    const bytes = new Uint8Array(await readFile(join(PNGSUITE, f)));
    let outcome: string;
    try {
      const r = await readImageFile(bytes, f);
      const meta = await sharp(bytes).metadata();
      const { bytes: hic } = await codec.encode(r.image, { quality: 80, metadata: r.metadata });
      const d = await codec.decode(hic);
      assert.deepEqual([d.width, d.height], [meta.width, meta.height], f);
      assert.equal(d.channels, r.image.channels, f);
      const gray = meta.space === 'b-w' || meta.space === 'grey16';
      assert.equal(d.channels === 1 || d.channels === 2, gray, `${f}: gray in, gray out`);
      if (d.channels === 2 || d.channels === 4) {
        for (let i = d.channels - 1; i < d.data.length; i += d.channels) assert.equal(d.data[i], r.image.data[i], `${f}: alpha is exact`);
      }
      if (r.metadata.exif) assert.deepEqual(Array.from(d.metadata.exif!), Array.from(r.metadata.exif), `${f}: Exif kept`);
      outcome = `coded ${['gray', 'gray+alpha', 'rgb', 'rgba'][d.channels - 1]}`;
    } catch (e) {
      if (!(e instanceof CodecError)) throw new Error(`${f}: ${String(e)}`, { cause: e });
      outcome = e.code;
    }
    if (f.startsWith('x')) assert.equal(outcome, 'E_UNSUPPORTED_IMAGE', `${f} is corrupt`);
    else assert.ok(outcome.startsWith('coded'), `${f}: ${outcome}`);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  t.diagnostic(`PNG suite: ${JSON.stringify(outcomes)}`);
  assert.ok((outcomes['coded gray'] ?? 0) > 10 && (outcomes['coded rgba'] ?? 0) > 5 && (outcomes['coded gray+alpha'] ?? 0) > 3, JSON.stringify(outcomes));
});

test('the CLI refuses a corrupt PNG with exit 12 and leaves nothing behind', { skip: !hasSuite && 'PNG suite not present' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hic-x-'));
  made.push(dir);
  for (const f of ['xc1n0g08.png', 'xd0n2c08.png', 'xhdn0g08.png', 'xs1n0g01.png']) {
    const out = join(dir, `${f}.hic`);
    const r = spawnSync(process.execPath, [CLI, 'encode', join(PNGSUITE, f), '-o', out], { encoding: 'utf8' });
    assert.equal(r.status, 12, `${f}: ${r.stderr}`);
    assert.match(r.stderr, /E_UNSUPPORTED_IMAGE/);
  }
  assert.deepEqual(readdirSync(dir), []);
});

async function cameraJpeg(): Promise<Uint8Array> {
  // a 96×64 photo shot "rotated": Display P3 profile, Exif (camera make, orientation 6) and XMP
  const img = syntheticImage(96, 64, 4);
  const xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>';
  const base = await sharp(img.data, { raw: { width: 96, height: 64, channels: 3 } })
    .withIccProfile('p3').withExif({ IFD0: { Make: 'hicodec-test', Model: 'T1' } }).jpeg({ quality: 95 }).toBuffer();
  // (keepMetadata() + orientation would silently convert to sRGB; naming the profile keeps P3)
  return new Uint8Array(await sharp(base).withMetadata({ orientation: 6, icc: 'p3' }).withXmp(xmp).jpeg({ quality: 95 }).toBuffer());
}

test('ICC profile, Exif and XMP survive into JPEG, PNG, WebP and AVIF; orientation is applied once', async () => {
  const codec = await node();
  const jpeg = await cameraJpeg();
  const inMeta = await sharp(jpeg).metadata();
  assert.equal(inMeta.orientation, 6);
  const r = await readImageFile(jpeg, 'camera.jpg');
  assert.deepEqual([r.image.width, r.image.height], [64, 96], 'rotated upright');
  assert.ok(r.converted.some((c) => c.includes('orientation 6')));
  assert.equal(exifOrientation(r.metadata.exif!), 1);
  const { bytes } = await codec.encode(r.image, { quality: 85, metadata: r.metadata });
  const d = await codec.decode(bytes);
  assert.deepEqual(Array.from(d.metadata.icc!), Array.from(new Uint8Array(inMeta.icc!)));
  for (const format of ['jpeg', 'png', 'webp', 'avif'] as const) {
    const { bytes: out, dropped } = await writeImageFile(d, format);
    assert.deepEqual(dropped, []);
    const m = await sharp(out).metadata();
    assert.deepEqual([m.width, m.height], [64, 96], format);
    assert.deepEqual(Array.from(new Uint8Array(m.icc!)), Array.from(d.metadata.icc!), `${format}: ICC kept`);
    const tiff = exifTiff(new Uint8Array(m.exif!))!;
    assert.ok(Buffer.from(tiff).includes(Buffer.from('hicodec-test')), `${format}: Exif kept`);
    assert.ok((exifOrientation(tiff) ?? 1) === 1 && (m.orientation ?? 1) === 1, `${format}: no second rotation`);
    assert.ok(m.xmp && Buffer.from(m.xmp).includes(Buffer.from('xmpmeta')), `${format}: XMP kept`);
  }
  // --keep none / icc
  const none = await readImageFile(jpeg, 'camera.jpg', { keep: 'none' });
  assert.deepEqual(none.metadata, {});
  const icc = await readImageFile(jpeg, 'camera.jpg', { keep: 'icc' });
  assert.deepEqual(Object.keys(icc.metadata), ['icc']);
});

test('pixels are coded as they are: a P3 image is not converted to sRGB', async () => {
  const jpeg = await cameraJpeg();
  const r = await readImageFile(jpeg, 'camera.jpg');
  const asIs = await sharp(jpeg).rotate().keepIccProfile().raw().toBuffer();
  const srgb = await sharp(jpeg).rotate().raw().toBuffer();
  assert.ok(Buffer.from(r.image.data).equals(asIs));
  assert.ok(!Buffer.from(r.image.data).equals(srgb), 'the sRGB conversion changes pixels, so this test can tell');
});

test('gray stays gray and costs fewer bytes than colour; 16-bit input is reported', async () => {
  const codec = await node();
  const img = syntheticImage(256, 192, 12);
  const grayData = new Uint8Array(256 * 192).map((_, i) => Math.round(0.299 * img.data[3 * i]! + 0.587 * img.data[3 * i + 1]! + 0.114 * img.data[3 * i + 2]!));
  const gray = await codec.encode({ width: 256, height: 192, channels: 1, data: grayData }, { quality: 60 });
  const colour = await codec.encode(img, { quality: 60 });
  assert.equal(gray.stats.color, 'gray');
  assert.ok(gray.bytes.length < 0.9 * colour.bytes.length, `gray ${gray.bytes.length} vs colour ${colour.bytes.length}`);
  const d = await codec.decode(gray.bytes);
  assert.equal(d.channels, 1);
  assert.equal(d.data.length, 256 * 192);
  // written out, gray stays gray (was: sharp turned our gray PNG into an sRGB one)
  for (const [f, want] of [['png', 1], ['jpeg', 1], ['tiff', 1]] as const) {
    const m = await sharp(Buffer.from((await writeImageFile(d, f)).bytes)).metadata();
    assert.equal(m.channels, want, `${f}: ${m.channels} channels, ${m.space}`);
  }
  const ga = { width: 4, height: 2, channels: 2 as const, data: Uint8Array.from({ length: 16 }, (_, i) => i * 9) };
  assert.deepEqual((await readImageFile((await writeImageFile(ga, 'png')).bytes)).image, ga);
  const png16 = new Uint8Array(await sharp(Buffer.from(grayData), { raw: { width: 256, height: 192, channels: 1 } }).toColourspace('grey16').png().toBuffer());
  const r = await readImageFile(png16, 'g16.png');
  assert.equal(r.image.channels, 1);
  assert.ok(r.converted.includes('16-bit → 8-bit'), JSON.stringify(r.converted));
});

test('decode -o writes the format its extension names, with metadata; unknown extensions are refused before work', async () => {
  const codec = await node();
  const dir = mkdtempSync(join(tmpdir(), 'hic-fmt-'));
  made.push(dir);
  const r = await readImageFile(await cameraJpeg(), 'camera.jpg');
  writeFileSync(join(dir, 'c.hic'), (await codec.encode(r.image, { quality: 70, metadata: r.metadata })).bytes);
  const magic: Record<string, (b: Buffer) => boolean> = {
    png: (b) => b.subarray(1, 4).toString() === 'PNG', jpg: (b) => b[0] === 0xff && b[1] === 0xd8, webp: (b) => b.subarray(8, 12).toString() === 'WEBP',
    avif: (b) => b.subarray(4, 12).toString().startsWith('ftypavif'), tiff: (b) => ['II*\0', 'MM\0*'].includes(b.subarray(0, 4).toString('latin1')),
  };
  for (const [ext, ok] of Object.entries(magic)) {
    const out = join(dir, `c.${ext}`);
    const res = spawnSync(process.execPath, [CLI, 'decode', join(dir, 'c.hic'), '-o', out], { encoding: 'utf8' });
    assert.equal(res.status, 0, res.stderr);
    assert.ok(ok(await readFile(out)), `${ext}: the bytes are ${ext}`);
  }
  const bad = spawnSync(process.execPath, [CLI, 'decode', join(dir, 'c.hic'), '-o', join(dir, 'c.bmp')], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal(existsSync(join(dir, 'c.bmp')), false);
});
