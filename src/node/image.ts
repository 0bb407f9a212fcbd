// Image I/O for Node through sharp: PNG, JPEG, WebP, TIFF, AVIF in; PNG, JPEG, WebP out.
// EXIF orientation is applied, 16-bit is reduced to 8-bit, grayscale becomes RGB. Images whose
// alpha channel is not fully opaque are refused (E_UNSUPPORTED_IMAGE): hicodec codes RGB only.
import sharp, { type Metadata, type Sharp } from 'sharp';

import type { RgbImage } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';

sharp.cache(false);

/** Decodes an image file's bytes to 8-bit RGB. */
export async function decodeImageFile(input: Uint8Array, name = 'input'): Promise<RgbImage> {
  let img: Sharp;
  let meta: Metadata;
  try {
    img = sharp(input, { failOn: 'error', limitInputPixels: 65535 * 65535 }).rotate();
    meta = await img.metadata();
  } catch (e) {
    throw new CodecError('E_UNSUPPORTED_IMAGE', `${name}: not a readable PNG, JPEG, WebP, TIFF or AVIF image`, { cause: e });
  }
  if ((meta.pages ?? 1) > 1) throw new CodecError('E_UNSUPPORTED_IMAGE', `${name}: animated or multi-page images are not supported`);
  if (meta.hasAlpha) {
    const { isOpaque } = await sharp(input).stats();
    if (!isOpaque) throw new CodecError('E_UNSUPPORTED_IMAGE', `${name}: has transparent pixels; hicodec codes RGB only (flatten it first)`);
  }
  try {
    const { data, info } = await img.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (e) {
    throw new CodecError('E_UNSUPPORTED_IMAGE', `${name}: cannot convert to 8-bit RGB`, { cause: e });
  }
}

export type ImageFormat = 'png' | 'jpeg' | 'webp';

/** Output format from a file name's extension (PNG when there is none or it is unknown). */
export function formatForPath(path: string): ImageFormat {
  const ext = path.toLowerCase().split('.').pop();
  if (ext === 'jpg' || ext === 'jpeg') return 'jpeg';
  if (ext === 'webp') return 'webp';
  return 'png';
}

/** Encodes 8-bit RGB as PNG (lossless), or JPEG/WebP at quality 95. */
export async function encodeImageFile(image: RgbImage, format: ImageFormat = 'png'): Promise<Uint8Array> {
  const s = sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
  const out = format === 'jpeg' ? s.jpeg({ quality: 95 }) : format === 'webp' ? s.webp({ quality: 95 }) : s.png({ compressionLevel: 6 });
  const buf = await out.toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
