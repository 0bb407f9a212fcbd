// The codecs a benchmark compares: hicodec and the ones people use (mozjpeg, WebP, AVIF via
// sharp; JPEG XL via @jsquash/jxl's wasm build), each with its quality sweep and version.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';

import sharp, { type Sharp } from 'sharp';

import { Codec, type RgbImage } from '../codec/codec.js';
import { DEFAULT_EFFORT } from '../codec/effort.js';
import { rgbaToRgb, rgbToRgba } from '../core/pixels.js';
import { resolveModelDir } from '../node/index.js';
import { loadPackageFromDir } from '../node/package.js';
import { nodeRuntime } from '../runtime/node.js';

export interface BenchCodec {
  readonly id: string;
  readonly label: string;
  readonly version: string;
  readonly settings: string;
  readonly qualities: readonly number[];
  /** The encoder's whole quality scale, lowest to highest (`qualities` is the benchmark's sweep
   *  within it); `hic compare` searches it for a file size. */
  readonly range: readonly [number, number];
  encode(img: RgbImage, quality: number): Promise<Uint8Array>;
  decode(bytes: Uint8Array): Promise<RgbImage>;
  dispose?(): Promise<void>;
}

const require = createRequire(import.meta.url);
const u8 = (b: Buffer | ArrayBuffer) => (b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength));

async function sharpDecode(bytes: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(bytes).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: u8(data) };
}

/** libvips threads for the sharp codecs. sharp's default on glibc Linux is 1 (to limit memory
 *  fragmentation), which would time libaom single-threaded next to a 2-thread hicodec; AVIF
 *  effort 9 on kodim01 takes 15.3 s with 1 thread and 8.9 s with 2 on the 2-core machine. */
export const SHARP_THREADS = availableParallelism();

function sharpCodec(id: string, label: string, settings: string, qualities: number[], enc: (s: Sharp, q: number) => Sharp): BenchCodec {
  sharp.concurrency(SHARP_THREADS);
  const v = sharp.versions as Record<string, string>;
  const lib = id.startsWith('mozjpeg') ? `mozjpeg ${v['mozjpeg']}` : id.startsWith('webp') ? `libwebp ${v['webp']}` : `libaom ${v['aom']}, libheif ${v['heif']}`;
  return {
    id, label, settings: `${settings}, libvips threads ${SHARP_THREADS}`, qualities, range: [1, 100], // sharp's scale for jpeg, webp, avif
    version: `sharp ${v['sharp']} (libvips ${v['vips']}), ${lib}`,
    encode: async (img, q) => u8(await enc(sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }), q).toBuffer()),
    decode: sharpDecode,
  };
}

/** @jsquash/jxl in Node: its default loader fetches the .wasm, so hand it compiled modules. */
async function jxlCodec(): Promise<BenchCodec> {
  const root = dirname(require.resolve('@jsquash/jxl/package.json'));
  const version = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const encMod = await import('@jsquash/jxl/encode.js');
  const decMod = await import('@jsquash/jxl/decode.js');
  await encMod.init(await WebAssembly.compile(await readFile(join(root, 'codec/enc/jxl_enc.wasm'))) as never);
  await decMod.init(await WebAssembly.compile(await readFile(join(root, 'codec/dec/jxl_dec.wasm'))) as never);
  return {
    id: 'jxl-e7', label: 'JPEG XL (effort 7)', settings: 'libjxl via @jsquash/jxl wasm (single-threaded), effort 7 (default)',
    version: `@jsquash/jxl ${version}`,
    qualities: [10, 20, 30, 40, 50, 60, 70, 80, 90],
    range: [0, 100],
    async encode(img, q) {
      const rgba = rgbToRgba(img);
      return u8(await encMod.default({ width: img.width, height: img.height, data: rgba, colorSpace: 'srgb' } as ImageData, { quality: q, effort: 7 }));
    },
    async decode(bytes) {
      const d = await decMod.default(bytes.slice().buffer);
      return rgbaToRgb(d.width, d.height, d.data)!;
    },
  };
}

export interface HicodecBench extends BenchCodec {
  /** The same model with one inference thread, for the speed table. */
  readonly oneThread: Codec;
  readonly codec: Codec;
}

export async function hicodecCodec(model?: string): Promise<HicodecBench> {
  const pkg = await loadPackageFromDir(await resolveModelDir(model));
  const codec = await Codec.create({ model: pkg, runtime: nodeRuntime({ threads: 2 }) });
  const oneThread = await Codec.create({ model: pkg, runtime: nodeRuntime({ threads: 1 }) });
  return {
    id: 'hicodec', label: `hicodec (${codec.modelId})`, settings: `model ${codec.modelId}, effort ${DEFAULT_EFFORT} (default), onnxruntime-node, 2 threads`,
    version: `hicodec ${codec.modelId}`,
    qualities: [0, 15, 30, 45, 60, 75, 90, 100],
    range: [0, 100],
    codec, oneThread,
    encode: async (img, q) => (await codec.encode(img, { quality: q })).bytes,
    decode: (bytes) => codec.decode(bytes),
    async dispose() {
      await codec.dispose();
      await oneThread.dispose();
    },
  };
}

export const CLASSIC_IDS = ['mozjpeg-420', 'mozjpeg-444', 'webp', 'avif-e4', 'avif-e9', 'jxl-e7'] as const;
export type ClassicId = (typeof CLASSIC_IDS)[number];

export async function classicCodec(id: ClassicId): Promise<BenchCodec> {
  const jpegQ = [5, 10, 20, 30, 40, 50, 60, 70, 80, 90];
  switch (id) {
    case 'mozjpeg-420':
      return sharpCodec(id, 'mozjpeg 4:2:0', 'sharp jpeg({ mozjpeg: true, chromaSubsampling: "4:2:0" })', jpegQ, (s, q) => s.jpeg({ quality: q, mozjpeg: true, chromaSubsampling: '4:2:0' }));
    case 'mozjpeg-444':
      return sharpCodec(id, 'mozjpeg 4:4:4', 'sharp jpeg({ mozjpeg: true, chromaSubsampling: "4:4:4" })', jpegQ, (s, q) => s.jpeg({ quality: q, mozjpeg: true, chromaSubsampling: '4:4:4' }));
    case 'webp':
      return sharpCodec(id, 'WebP', 'sharp webp() (effort 4, default)', jpegQ, (s, q) => s.webp({ quality: q }));
    case 'avif-e4':
      return sharpCodec(id, 'AVIF (effort 4)', 'sharp avif() (effort 4 = default, 4:4:4)', [10, 20, 30, 40, 50, 60, 70, 80], (s, q) => s.avif({ quality: q, chromaSubsampling: '4:4:4' }));
    case 'avif-e9':
      return sharpCodec(id, 'AVIF (effort 9)', 'sharp avif({ effort: 9 }) (slowest, 4:4:4)', [20, 35, 50, 65], (s, q) => s.avif({ quality: q, effort: 9, chromaSubsampling: '4:4:4' }));
    case 'jxl-e7':
      return jxlCodec();
  }
}
