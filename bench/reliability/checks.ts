// Reliability checks shared by the CI test (short) and bench/reliability.ts (full figures):
// hostile images through `hic encode`, many encodes and decodes at once, kill -9 during CLI
// writes, and node ↔ web (wasm) symbol equality on random crops.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

import sharp from 'sharp';

import { crc32 } from '../../src/bitstream/crc32.js';
import type { Codec, RgbImage } from '../../src/codec/codec.js';
import { decodeImageFile } from '../../src/node/image.js';
import { rng } from '../fuzz/core.js';

function pngChunk(type: string, data: Buffer): Buffer {
  const o = Buffer.alloc(12 + data.length);
  o.writeUInt32BE(data.length, 0);
  o.write(type, 4, 'latin1');
  data.copy(o, 8);
  o.writeUInt32BE(crc32(o.subarray(4, 8 + data.length)), 8 + data.length);
  return o;
}

function rawPng(w: number, h: number, extra: Buffer[] = [], idat?: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const data = idat ?? deflateSync(Buffer.alloc((w * 3 + 1) * Math.min(h, 4)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), ...extra, pngChunk('IDAT', data), pngChunk('IEND', Buffer.alloc(0))]);
}

/** Hostile inputs for `hic encode`, written into `dir`: name → the error code it must get. */
export async function hostileImages(dir: string, photo: string): Promise<Record<string, string>> {
  const cases: Record<string, [Buffer, string]> = {
    'bomb-65535x65535.png': [rawPng(65535, 65535), 'E_LIMIT_EXCEEDED'],
    'bomb-ztxt-200mb.png': [rawPng(1, 1, [pngChunk('zTXt', Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), deflateSync(Buffer.alloc(200 * 2 ** 20), { level: 9 })]))], deflateSync(Buffer.from([0, 1, 2, 3]))), 'ok'],
    'empty.png': [Buffer.alloc(0), 'E_UNSUPPORTED_IMAGE'],
    'text.png': [Buffer.from('this is not an image\n'), 'E_UNSUPPORTED_IMAGE'],
    'hic-as-image.png': [Buffer.from([0x89, 0x48, 0x49, 0x43, 2, 0, 1, 0x61]), 'E_UNSUPPORTED_IMAGE'],
  };
  // a real small JPEG whose frame header claims 65500×65500
  const jpg = Buffer.from(await sharp(photo).jpeg().toBuffer());
  const sof = jpg.indexOf(Buffer.from([0xff, 0xc0]));
  jpg.writeUInt16BE(65500, sof + 5);
  jpg.writeUInt16BE(65500, sof + 7);
  cases['bomb-jpeg-65500x65500.jpg'] = [jpg, 'E_LIMIT_EXCEEDED'];
  for (const fmt of ['jpeg', 'png', 'webp'] as const) {
    const b = await sharp(photo).toFormat(fmt).toBuffer();
    cases[`truncated.${fmt}`] = [b.subarray(0, b.length >> 1), 'E_UNSUPPORTED_IMAGE'];
  }
  const out: Record<string, string> = {};
  for (const [name, [bytes, code]] of Object.entries(cases)) {
    writeFileSync(join(dir, name), bytes);
    out[name] = code;
  }
  return out;
}

/** Runs `hic encode` on a file in a child process: exit status, error code, peak RSS (MB). */
export function encodeHostile(cli: string, file: string, out: string): { status: number | null; code: string; rssMb: number; leftOutput: boolean } {
  const r = spawnSync(process.execPath, [cli, 'encode', file, '-o', out], { encoding: 'utf8', env: { ...process.env, HIC_REPORT_RSS: '1' } });
  const code = /hic: error (E_[A-Z_]+)/.exec(r.stderr)?.[1] ?? (r.status === 0 ? 'ok' : `exit ${r.status}`);
  const rss = /hic-rss (\{.*\})/.exec(r.stderr);
  return { status: r.status, code, rssMb: rss ? Math.round(JSON.parse(rss[1]!).maxrss_kb / 1024) : NaN, leftOutput: existsSync(out) && r.status !== 0 };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** `n` pictures coded at once on one codec give the bytes they give one by one; then decodes. */
export async function concurrency(codec: Codec, imgs: readonly RgbImage[]): Promise<{ encodes: number; decodes: number; differences: number }> {
  const one: Uint8Array[] = [];
  for (const img of imgs) one.push((await codec.encode(img, { quality: 55 })).bytes);
  const all = await Promise.all(imgs.map((img) => codec.encode(img, { quality: 55 })));
  let differences = all.filter((r, i) => sha(r.bytes) !== sha(one[i]!)).length;
  const dec1: string[] = [];
  for (const b of one) dec1.push(sha((await codec.decode(b)).data));
  const decAll = await Promise.all(one.map((b) => codec.decode(b)));
  differences += decAll.filter((d, i) => sha(d.data) !== dec1[i]).length;
  return { encodes: imgs.length, decodes: imgs.length, differences };
}

/** kill -9 of a CLI write at a random moment: the final output is absent or whole (equal to the
 *  reference), no temporary file is left behind once a later write cleans up, the input is intact. */
export async function killDuring(cli: string, args: string[], out: string, input: string, reference: Buffer, delayMs: number): Promise<'absent' | 'whole' | 'PARTIAL' | 'INPUT CHANGED'> {
  const before = sha(readFileSync(input));
  const child = spawn(process.execPath, [cli, ...args], { stdio: 'ignore' });
  // listen before waiting: a fast machine may finish the write before the kill comes, and an
  // 'exit' that already happened would never be heard
  const exited = new Promise((r) => child.once('exit', r));
  await Promise.race([new Promise((r) => setTimeout(r, delayMs)), exited]);
  child.kill('SIGKILL');
  await exited;
  if (sha(readFileSync(input)) !== before) return 'INPUT CHANGED';
  if (!existsSync(out)) return 'absent';
  return readFileSync(out).equals(reference) ? 'whole' : 'PARTIAL';
}

/** Leftover temporary files in a folder (`.<name>.<host>.<pid>.<rand>.tmp`). */
export const temps = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('.') && f.endsWith('.tmp'));

/** Random crops (sizes 1–320 px, random qualities) of the photos in `dirs`. */
export async function randomCrops(dirs: readonly string[], n: number, seed: number): Promise<{ img: RgbImage; quality: number }[]> {
  const r = rng(seed);
  const files = dirs.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => /\.(png|jpe?g)$/i.test(f)).map((f) => join(d, f)) : []));
  const cache = new Map<string, RgbImage>();
  const out: { img: RgbImage; quality: number }[] = [];
  for (let i = 0; i < n; i++) {
    const f = files[Math.floor(r() * files.length)]!;
    if (!cache.has(f)) cache.set(f, await decodeImageFile(readFileSync(f)));
    const src = cache.get(f)!;
    const w = Math.max(1, Math.min(src.width, Math.floor(r() ** 2 * 320) + 1));
    const h = Math.max(1, Math.min(src.height, Math.floor(r() ** 2 * 320) + 1));
    const x0 = Math.floor(r() * (src.width - w + 1));
    const y0 = Math.floor(r() * (src.height - h + 1));
    const data = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) data.set(src.data.subarray(((y0 + y) * src.width + x0) * 3, ((y0 + y) * src.width + x0 + w) * 3), y * w * 3);
    out.push({ img: { width: w, height: h, data }, quality: Math.floor(r() * 101) });
  }
  return out;
}

/** Node encodes, web parses (and the other way round): identical ẑ, table indices and symbols. */
export async function crossBackend(nodeCodec: Codec, webCodec: Codec, crops: readonly { img: RgbImage; quality: number }[]): Promise<{ encodes: number; differences: number }> {
  let differences = 0;
  for (const [i, { img, quality }] of crops.entries()) {
    const [enc, dec] = i % 2 ? [webCodec, nodeCodec] : [nodeCodec, webCodec];
    const { bytes } = await enc.encode(img, { quality });
    const a = await enc.decodeSymbols(bytes);
    const b = await dec.decodeSymbols(bytes);
    if (sha(new Uint8Array(a.q.buffer)) !== sha(new Uint8Array(b.q.buffer)) || sha(a.k) !== sha(b.k) || sha(new Uint8Array(a.zHat.buffer)) !== sha(new Uint8Array(b.zHat.buffer))) differences++;
  }
  return { encodes: crops.length, differences };
}
