// Bytes spent on what photos carry besides colour (issue 14): the lossless alpha chunk against PNG
// and lossless WebP of the same alpha plane, and grayscale against colour for the same photos.
//   npm run bench:photos        → bench/results/photos-<date>.{json,md}
// Alpha planes are made at run time from photos of ../shared/data (a hard cut-out from a
// luminance threshold, the same cut-out feathered, a radial vignette, and a text overlay).
import { readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { machine } from '../src/bench/machine.js';
import { encodeAlpha } from '../src/codec/alpha.js';
import { decodeImageFile } from '../src/node/image.js';
import { createCodec } from '../src/node/index.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = process.env['HICODEC_SHARED'] ?? join(REPO, '..', 'shared', 'data');

async function planes(file: string): Promise<[string, number, number, Uint8Array][]> {
  const { data, info } = await sharp(file).resize(768, 512, { fit: 'cover' }).greyscale().raw().toBuffer({ resolveWithObject: true });
  const w = info.width;
  const h = info.height;
  const lum = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const cut = lum.map((v) => (v > 110 ? 255 : 0));
  const feather = new Uint8Array(await sharp(Buffer.from(cut), { raw: { width: w, height: h, channels: 1 } }).blur(2).extractChannel(0).raw().toBuffer());
  const vignette = new Uint8Array(w * h).map((_, i) => {
    const x = (i % w) / w - 0.5;
    const y = Math.floor(i / w) / h - 0.5;
    return Math.max(0, Math.min(255, Math.round(255 * (1.6 - 2.4 * Math.hypot(x, y)))));
  });
  const svg = `<svg width="${w}" height="${h}"><rect width="100%" height="100%" fill="black"/><text x="40" y="300" font-size="160" font-family="DejaVu Sans" fill="white">hicodec</text></svg>`;
  const text = new Uint8Array(await sharp(Buffer.from(svg)).greyscale().extractChannel(0).raw().toBuffer());
  return [['cut-out', w, h, cut], ['feathered cut-out', w, h, feather], ['vignette', w, h, vignette], ['text overlay', w, h, text.subarray(0, w * h)]];
}

const kodak = join(SHARED, 'kodak');
const photos = readdirSync(kodak).filter((f) => f.endsWith('.png')).sort().slice(0, 6).map((f) => join(kodak, f));
const alphaRows = [];
for (const f of photos.slice(0, 3)) {
  for (const [kind, w, h, a] of await planes(f)) {
    const raw = { raw: { width: w, height: h, channels: 1 as const } };
    const png = await sharp(Buffer.from(a), raw).png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer();
    const webp = await sharp(Buffer.from(a), raw).webp({ lossless: true, effort: 6 }).toBuffer();
    const alph = encodeAlpha(a, w, h);
    alphaRows.push({ image: f.split('/').pop(), alpha: kind, pixels: w * h, alph_bytes: alph.length, png_bytes: png.length, webp_lossless_bytes: webp.length, alph_vs_png: alph.length / png.length });
  }
}
const codec = await createCodec({ threads: 2 });
const grayRows = [];
for (const f of photos) {
  const img = await decodeImageFile(await readFile(f));
  const n = img.width * img.height;
  const g = new Uint8Array(n).map((_, i) => Math.round(0.299 * img.data[3 * i]! + 0.587 * img.data[3 * i + 1]! + 0.114 * img.data[3 * i + 2]!));
  const rgbOfGray = new Uint8Array(3 * n).map((_, i) => g[Math.floor(i / 3)]!);
  for (const quality of [30, 75]) {
    const colour = (await codec.encode(img, { quality })).bytes.length;
    const gray = (await codec.encode({ width: img.width, height: img.height, channels: 1, data: g }, { quality })).bytes.length;
    const grayAsRgb = (await codec.encode({ width: img.width, height: img.height, data: rgbOfGray }, { quality })).bytes.length;
    grayRows.push({ image: f.split('/').pop(), quality, colour_bytes: colour, gray_bytes: gray, gray_as_rgb_bytes: grayAsRgb, gray_vs_colour: gray / colour });
  }
}
await codec.dispose();
const date = new Date().toISOString().slice(0, 10);
const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
const result = { name: `photos-${date}`, machine: machine(), model: codec.modelId, command: 'node dist/bench/photos.js',
  alpha: { rows: alphaRows, mean_alph_vs_png: mean(alphaRows.map((r) => r.alph_vs_png)) },
  gray: { rows: grayRows, mean_gray_vs_colour: mean(grayRows.map((r) => r.gray_vs_colour)) } };
await mkdir(join(REPO, 'bench/results'), { recursive: true });
const base = join(REPO, 'bench/results', result.name);
await writeFile(`${base}.json`, JSON.stringify(result, null, 1) + '\n');
const md = [
  `# Alpha and grayscale bytes ${date}`, '', `Model ${result.model}. Command: \`${result.command}\`.`, '',
  '| image | alpha plane | ALPH bytes | PNG (level 9) | WebP lossless | ALPH / PNG |', '|---|---|---:|---:|---:|---:|',
  ...alphaRows.map((r) => `| ${r.image} | ${r.alpha} | ${r.alph_bytes} | ${r.png_bytes} | ${r.webp_lossless_bytes} | ${r.alph_vs_png.toFixed(2)} |`),
  '', '| image | quality | colour bytes | gray bytes | gray sent as RGB | gray / colour |', '|---|---:|---:|---:|---:|---:|',
  ...grayRows.map((r) => `| ${r.image} | ${r.quality} | ${r.colour_bytes} | ${r.gray_bytes} | ${r.gray_as_rgb_bytes} | ${r.gray_vs_colour.toFixed(2)} |`), '',
].join('\n');
await writeFile(`${base}.md`, md);
process.stdout.write(md);
