// Image files in Node through sharp. In: PNG, JPEG, WebP, TIFF, AVIF, GIF (first frame refused
// if animated), with the ICC profile, Exif and XMP; the pixels as they are (no conversion to sRGB)
// except what cannot be coded (CMYK and other spaces → sRGB; 16 bits → 8), EXIF orientation
// applied to the pixels and reset to 1. Out: PNG, JPEG, WebP, AVIF, TIFF by extension, with the
// metadata written back; an unknown extension is refused before any work; JPEG, WebP and AVIF at
// OUTPUT_QUALITY unless a quality is given.
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';

import type { DecodedPicture, ImageMetadata, Picture, RgbImage } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';
import { exifOrientation, exifTiff, resetOrientation } from '../core/exif.js';
import { writePng } from './png.js';

sharp.cache(false);

/** Largest input accepted before decoding (sharp's limitInputPixels): 2^27 pixels, as the codec. */
export const MAX_INPUT_PIXELS = 2 ** 27;

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'avif' | 'tiff';

/** Output formats by file extension. */
export const OUTPUT_EXTENSIONS: Readonly<Record<string, ImageFormat>> = Object.freeze({
  png: 'png', jpg: 'jpeg', jpeg: 'jpeg', webp: 'webp', avif: 'avif', tif: 'tiff', tiff: 'tiff',
});

/** Default quality (1..100, sharp's scale) of the lossy output formats; the others are lossless. */
export const OUTPUT_QUALITY: Readonly<Partial<Record<ImageFormat, number>>> = Object.freeze({ jpeg: 95, webp: 95, avif: 90 });

/** An output quality for `format`: an integer in 1..100, and only for a lossy format. */
export function checkOutputQuality(format: ImageFormat, q: unknown, name = 'quality'): number {
  if (typeof q !== 'number' || !Number.isInteger(q) || q < 1 || q > 100) {
    throw new CodecError('E_INVALID_OPTION', `Expected an integer between 1 and 100 for ${name} but received ${String(q)}`);
  }
  if (OUTPUT_QUALITY[format] === undefined) {
    throw new CodecError('E_INVALID_OPTION', `Expected a JPEG, WebP or AVIF output for ${name} but received ${format} (lossless)`);
  }
  return q;
}

/** What to carry from the input: nothing, the ICC profile only, or ICC + Exif + XMP. */
export type KeepMetadata = 'none' | 'icc' | 'all';

/** Output format from a file name's extension ('-' and no extension: PNG); anything else is
 *  refused with E_INVALID_OPTION, so no file ever holds the wrong format under its name. */
export function formatForPath(path: string): ImageFormat {
  if (path === '-') return 'png';
  const base = path.split(/[\\/]/).pop()!;
  if (!base.includes('.')) return 'png';
  const ext = base.split('.').pop()!.toLowerCase();
  const f = OUTPUT_EXTENSIONS[ext];
  if (!f) throw new CodecError('E_INVALID_OPTION', `Expected an output extension of ${Object.keys(OUTPUT_EXTENSIONS).join(', ')} but received .${ext}`);
  return f;
}

export interface ReadImage {
  readonly image: Picture & { channels: 1 | 2 | 3 | 4 };
  readonly metadata: ImageMetadata;
  /** The input as it was. */
  readonly source: { format: string; width: number; height: number; channels: number; bitDepth: number; space: string; alpha: boolean; orientation: number };
  /** What was changed to code it, in words ("16-bit → 8-bit", "EXIF orientation 6 applied", …). */
  readonly converted: string[];
}

function open(input: Uint8Array, maxPixels: number): Sharp {
  return sharp(input, { failOn: 'error', limitInputPixels: maxPixels });
}

const BITS: Record<string, number> = { uchar: 8, char: 8, ushort: 16, short: 16, uint: 32, int: 32, float: 32, double: 64 };

/** Reads an image file for coding. */
export async function readImageFile(input: Uint8Array, name = 'input', opts: { keep?: KeepMetadata; maxPixels?: number } = {}): Promise<ReadImage> {
  const keep = opts.keep ?? 'all';
  const maxPixels = opts.maxPixels ?? MAX_INPUT_PIXELS;
  let meta: Metadata;
  try {
    meta = await open(input, maxPixels).metadata();
  } catch (e) {
    // sharp refuses a header over limitInputPixels before decoding anything (decompression bombs)
    if (/pixel limit/i.test((e as Error).message)) throw new CodecError('E_LIMIT_EXCEEDED', `${name}: more pixels than the limit of ${maxPixels}`, { cause: e });
    throw new CodecError('E_UNSUPPORTED_IMAGE', `${name}: not a readable PNG, JPEG, WebP, TIFF, AVIF or GIF image`, { cause: e });
  }
  const { width = 0, height = 0 } = meta;
  if (width * height > maxPixels) throw new CodecError('E_LIMIT_EXCEEDED', `${name}: ${width}×${height} exceeds the pixel limit of ${maxPixels}`);
  if ((meta.pages ?? 1) > 1) throw new CodecError('E_UNSUPPORTED_IMAGE', `${name}: animated or multi-page images are not supported`);
  const converted: string[] = [];
  const space = meta.space ?? 'srgb';
  const gray = space === 'b-w' || space === 'grey16';
  const codable = gray || space === 'srgb' || space === 'rgb16' || space === 'rgb';
  const bitDepth = meta.bitsPerSample ?? BITS[meta.depth ?? 'uchar'] ?? 8;
  if (bitDepth > 8) converted.push(`${bitDepth}-bit → 8-bit`);
  if (meta.isPalette) converted.push('palette → RGB');
  const orientation = meta.orientation ?? 1;
  if (orientation !== 1) converted.push(`EXIF orientation ${orientation} applied to the pixels (stored orientation reset to 1)`);
  let img = open(input, maxPixels).rotate();
  if (codable) {
    img = img.keepIccProfile(); // the pixels as they are, in their own colour space
  } else {
    img = img.toColourspace('srgb');
    converted.push(`${space} → sRGB (only gray and RGB can be coded; the ICC profile is dropped)`);
  }
  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }));
  } catch (e) {
    if (/pixel limit/i.test((e as Error).message)) throw new CodecError('E_LIMIT_EXCEEDED', `${name}: more pixels than the limit of ${maxPixels}`, { cause: e });
    throw new CodecError('E_UNSUPPORTED_IMAGE', `${name}: cannot decode the image data`, { cause: e });
  }
  let channels = info.channels as number;
  let pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (gray && (channels === 3 || channels === 4)) {
    // libvips hands gray images out as R = G = B (its b-w output would drop alpha): keep one
    const g = toGray(pixels, channels);
    if (g) {
      pixels = g;
      channels -= 2;
    }
  }
  if (channels === 2 || channels === 4) {
    let opaque = true;
    for (let i = channels - 1; i < pixels.length && opaque; i += channels) opaque = pixels[i] === 255;
    if (opaque) {
      pixels = dropLast(pixels, channels);
      channels -= 1;
      converted.push('fully opaque alpha dropped');
    }
  }
  if (channels < 1 || channels > 4) throw new CodecError('E_UNSUPPORTED_IMAGE', `${name}: ${channels} channels`);
  const metadata: { icc?: Uint8Array; exif?: Uint8Array; xmp?: Uint8Array } = {};
  if (keep !== 'none' && codable && meta.icc?.length) metadata.icc = new Uint8Array(meta.icc);
  if (keep === 'all') {
    const tiff = exifTiff(meta.exif ? new Uint8Array(meta.exif) : undefined);
    if (tiff) metadata.exif = exifOrientation(tiff) !== undefined && exifOrientation(tiff) !== 1 ? resetOrientation(tiff) : tiff;
    if (meta.xmp?.length) metadata.xmp = new Uint8Array(meta.xmp);
  }
  return {
    image: { width: info.width, height: info.height, channels: channels as 1 | 2 | 3 | 4, data: pixels },
    metadata,
    source: { format: meta.format ?? 'unknown', width, height, channels: meta.channels ?? channels, bitDepth, space, alpha: !!meta.hasAlpha, orientation },
    converted,
  };
}

/** One gray channel (+ alpha) from R = G = B pixels; undefined if any pixel is not gray. */
function toGray(px: Uint8Array, ch: number): Uint8Array | undefined {
  const n = px.length / ch;
  const out = new Uint8Array(n * (ch - 2));
  for (let i = 0; i < n; i++) {
    const r = px[i * ch]!;
    if (px[i * ch + 1] !== r || px[i * ch + 2] !== r) return undefined;
    out[i * (ch - 2)] = r;
    if (ch === 4) out[2 * i + 1] = px[i * 4 + 3]!;
  }
  return out;
}

function dropLast(px: Uint8Array, ch: number): Uint8Array {
  const n = px.length / ch;
  const out = new Uint8Array(n * (ch - 1));
  for (let i = 0; i < n; i++) for (let c = 0; c < ch - 1; c++) out[i * (ch - 1) + c] = px[i * ch + c]!;
  return out;
}

/** Decodes an image file to 8-bit sRGB (benchmarks and tests: Kodak-style photos). EXIF
 *  orientation applied; images with transparent pixels are refused (E_UNSUPPORTED_IMAGE). */
export async function decodeImageFile(input: Uint8Array, name = 'input'): Promise<RgbImage> {
  let img: Sharp;
  try {
    img = open(input, MAX_INPUT_PIXELS).rotate();
    const meta = await img.metadata();
    if ((meta.pages ?? 1) > 1) throw new Error('animated');
    if (meta.hasAlpha && !(await sharp(input).stats()).isOpaque) {
      throw new CodecError('E_UNSUPPORTED_IMAGE', `${name}: has transparent pixels (use readImageFile for alpha)`);
    }
    const { data, info } = await img.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError('E_UNSUPPORTED_IMAGE', `${name}: not a readable PNG, JPEG, WebP, TIFF or AVIF image`, { cause: e });
  }
}

export interface WrittenImage {
  readonly bytes: Uint8Array;
  /** What the format could not hold (e.g. alpha in JPEG, Exif in TIFF). */
  readonly dropped: string[];
}

/** Writes a picture in `format` with its metadata (ICC profile, Exif, XMP) where the format holds it:
 *  PNG and TIFF lossless; JPEG, WebP and AVIF at `opts.quality` (1..100; default OUTPUT_QUALITY:
 *  95, 95, 90). WebP lossless for alpha edges is not forced. */
export async function writeImageFile(p: Picture | DecodedPicture, format: ImageFormat = 'png', metadata: ImageMetadata = (p as DecodedPicture).metadata ?? {}, opts: { quality?: number } = {}): Promise<WrittenImage> {
  const quality = opts.quality === undefined ? OUTPUT_QUALITY[format] : checkOutputQuality(format, opts.quality);
  const dropped: string[] = [];
  const ch = p.channels ?? 3;
  const m = { ...metadata };
  if (format === 'tiff' && m.exif) {
    delete (m as { exif?: Uint8Array }).exif;
    dropped.push('Exif (sharp cannot write it to TIFF)');
  }
  // our own PNG carries the metadata into sharp, which keeps it in any output format
  let s = sharp(writePng(p, m, 1), { limitInputPixels: false }).keepIccProfile();
  if (m.exif) s = s.keepExif();
  if (m.xmp) s = s.keepXmp();
  // gray stays gray (sharp would otherwise write our gray PNG back out as sRGB colour)
  if (ch === 1 || ch === 2) s = s.toColourspace('b-w');
  if (format === 'jpeg' && (ch === 2 || ch === 4)) {
    s = s.flatten({ background: '#ffffff' });
    dropped.push('alpha (JPEG has none: flattened on white)');
  }
  const out =
    format === 'jpeg' ? s.jpeg({ quality, chromaSubsampling: '4:4:4' })
      : format === 'webp' ? s.webp({ quality, alphaQuality: 100 })
        : format === 'avif' ? s.avif({ quality, chromaSubsampling: '4:4:4' })
          : format === 'tiff' ? s.tiff({ compression: 'lzw' })
            : s.png({ compressionLevel: 6 });
  try {
    const buf = await out.toBuffer();
    return { bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), dropped };
  } catch (e) {
    throw new CodecError('E_IO', `cannot write ${format}: ${(e as Error).message}`, { cause: e });
  }
}

/** Encodes a picture as PNG (lossless), or JPEG/WebP/AVIF/TIFF, without metadata. */
export async function encodeImageFile(image: Picture, format: ImageFormat = 'png'): Promise<Uint8Array> {
  return (await writeImageFile(image, format, {})).bytes;
}
