// Exif blocks: strip the JPEG/WebP "Exif\0\0" prefix (the .hic EXIF chunk holds the TIFF
// structure, as PNG's eXIf does) and reset the orientation tag to 1 once the pixels are upright.
// Every offset is checked: a damaged block is returned unchanged, never read out of bounds.

const PREFIX = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0"

/** The TIFF structure of an Exif block (without the "Exif\0\0" prefix), or undefined. */
export function exifTiff(exif: Uint8Array | undefined): Uint8Array | undefined {
  if (!exif || exif.length < 8) return undefined;
  const prefixed = PREFIX.every((b, i) => exif[i] === b);
  const t = prefixed ? exif.subarray(6) : exif;
  const ok = (t[0] === 0x49 && t[1] === 0x49 && t[2] === 0x2a && t[3] === 0) || (t[0] === 0x4d && t[1] === 0x4d && t[2] === 0 && t[3] === 0x2a);
  return ok ? t.slice() : undefined;
}

/** The orientation tag (0x0112) of IFD0, or undefined. */
export function exifOrientation(tiff: Uint8Array): number | undefined {
  const at = orientationOffset(tiff);
  if (at === undefined) return undefined;
  const le = tiff[0] === 0x49;
  return new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength).getUint16(at, le);
}

/** A copy with IFD0's orientation set to 1 (upright); unchanged when there is none. */
export function resetOrientation(tiff: Uint8Array): Uint8Array {
  const out = tiff.slice();
  const at = orientationOffset(out);
  if (at !== undefined) new DataView(out.buffer, out.byteOffset, out.byteLength).setUint16(at, 1, out[0] === 0x49);
  return out;
}

function orientationOffset(t: Uint8Array): number | undefined {
  if (t.length < 8) return undefined;
  const le = t[0] === 0x49;
  const v = new DataView(t.buffer, t.byteOffset, t.byteLength);
  const ifd = v.getUint32(4, le);
  if (ifd + 2 > t.length) return undefined;
  const n = v.getUint16(ifd, le);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > t.length) return undefined;
    // tag 0x0112, type SHORT (3), count 1: the value sits in the entry's first two value bytes
    if (v.getUint16(e, le) === 0x0112 && v.getUint16(e + 2, le) === 3 && v.getUint32(e + 4, le) === 1) return e + 8;
  }
  return undefined;
}
