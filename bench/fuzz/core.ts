// Stream fuzzing for the .hic decoder: a seed corpus of valid files covering every chunk type,
// structure-aware mutations (header fields, chunk table, lengths, tile streams, optional chunks,
// with the CRCs recomputed so that the damage reaches the entropy decoder and the networks) and
// byte-level ones (flips, inserts, deletes, truncations). Deterministic for a seed.
import { crc32 } from '../../src/bitstream/crc32.js';
import { parseContainer, writeContainer, type Container } from '../../src/bitstream/container.js';
import type { Codec, Picture } from '../../src/codec/codec.js';
import { CodecError } from '../../src/core/errors.js';
import { syntheticImage } from '../../test/helpers.js';

/** xorshift32: the same inputs for the same seed on every machine. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Valid streams: untiled and tiled, gray, alpha, ICC/Exif/XMP, tiny and odd sizes. */
export async function seedCorpus(codec: Codec): Promise<{ name: string; bytes: Uint8Array }[]> {
  const out: { name: string; bytes: Uint8Array }[] = [];
  const add = async (name: string, p: Picture, q: number, extra: Parameters<Codec['encode']>[1] = {}) => {
    out.push({ name, bytes: (await codec.encode(p, { quality: q, ...extra })).bytes });
  };
  const img = syntheticImage(48, 40, 3);
  await add('rgb-48x40', img, 50);
  await add('rgb-1x1', syntheticImage(1, 1, 1), 0);
  await add('tiled-300x200', syntheticImage(300, 200, 4), 70, { tileSize: 128 });
  const n = 40 * 32;
  const gray = { width: 40, height: 32, channels: 1 as const, data: new Uint8Array(n).map((_, i) => (i * 7) & 255) };
  await add('gray-40x32', gray, 30);
  const rgba = new Uint8Array(n * 4).map((_, i) => (i % 4 === 3 ? (i >> 4) & 255 : (i * 13) & 255));
  await add('rgba-40x32', { width: 40, height: 32, channels: 4, data: rgba }, 40);
  const ga = new Uint8Array(n * 2).map((_, i) => (i % 2 ? ((i >> 3) % 3) * 127 : i & 255));
  await add('gray-alpha-40x32', { width: 40, height: 32, channels: 2, data: ga }, 60);
  const meta = { icc: new Uint8Array(300).map((_, i) => i & 255), exif: Uint8Array.of(0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 0, 0), xmp: new TextEncoder().encode('<x:xmpmeta/>') };
  await add('metadata-32x24', syntheticImage(32, 24, 5), 80, { metadata: meta });
  await add('tiled-alpha-meta-260x130', { width: 260, height: 130, channels: 4, data: new Uint8Array(260 * 130 * 4).map((_, i) => (i % 4 === 3 ? (i % 1040 < 520 ? 255 : 0) : (i * 31) & 255)) }, 20, { tileSize: 128, metadata: meta });
  return out;
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

function mutateBytes(r: () => number, b: Uint8Array): Uint8Array {
  const kind = Math.floor(r() * 5);
  const n = b.length;
  if (kind === 0) return b.subarray(0, Math.floor(r() * n)); // truncation
  if (kind === 1) {
    const c = b.slice();
    for (let k = 0; k <= Math.floor(r() * 8); k++) {
      const at = Math.floor(r() * n);
      c[at] = c[at]! ^ (1 << Math.floor(r() * 8));
    }
    return c;
  }
  if (kind === 2) {
    const at = Math.floor(r() * n);
    const ins = new Uint8Array(1 + Math.floor(r() * 16)).map(() => Math.floor(r() * 256));
    return Uint8Array.from([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
  }
  if (kind === 3) {
    const at = Math.floor(r() * n);
    return Uint8Array.from([...b.subarray(0, at), ...b.subarray(Math.min(n, at + 1 + Math.floor(r() * 16)))]);
  }
  const c = b.slice();
  for (let k = 0; k < 1 + Math.floor(r() * 4); k++) c[Math.floor(r() * n)] = pick(r, [0, 0xff, 0x7f, 0x80, 1]);
  return c;
}

/** Recomputes the header CRC of a version-2 file after its header was edited (so the edit gets
 *  past the checksum and reaches the field checks). */
function fixHeaderCrc(b: Uint8Array): Uint8Array {
  if (b.length < 7 || b[4] !== 2) return b;
  const idLen = b[6]!;
  const p = 7 + idLen + 14;
  if (p > b.length) return b;
  const count = b[p - 2]! | (b[p - 1]! << 8);
  const end = p + 12 * count;
  if (end + 4 > b.length) return b;
  const c = b.slice();
  new DataView(c.buffer).setUint32(end, crc32(c.subarray(0, end)), true);
  return c;
}

function mutateStructure(r: () => number, b: Uint8Array, c: Container): Uint8Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const idLen = b[6]!;
  const fields = 7 + idLen;
  const kind = Math.floor(r() * 9);
  const edit = (f: (d: Uint8Array, dv: DataView) => void) => {
    const d = b.slice();
    f(d, new DataView(d.buffer));
    return fixHeaderCrc(d);
  };
  const tiles = c.tiles.map((t) => ({ z: t.z.slice(), y: t.y.slice() }));
  const rewrite = (over: Partial<Parameters<typeof writeContainer>[0]>) => {
    try {
      return writeContainer({ ...c, tiles, ...over });
    } catch {
      return b;
    }
  };
  switch (kind) {
    case 0: // width, height: anything up to and past the limits
      return edit((_d, dv) => dv.setUint32(fields + (r() < 0.5 ? 0 : 4), pick(r, [0, 1, 2, 63, 64, 65, 4096, 65535, 65536, 0xffffffff, Math.floor(r() * 3000)]), true));
    case 1: // quality, colour, tile size
      return edit((d, dv) => {
        const f = Math.floor(r() * 3);
        if (f === 0) d[fields + 8] = Math.floor(r() * 256);
        else if (f === 1) d[fields + 9] = Math.floor(r() * 4);
        else dv.setUint16(fields + 10, pick(r, [0, 64, 100, 128, 192, 1024, 65472, 65535, Math.floor(r() * 65536)]), true);
      });
    case 2: // chunk count
      return edit((_d, dv) => dv.setUint16(fields + 12, pick(r, [0, 1, c.tiles.length - 1, c.tiles.length + 1, 0xffff, Math.floor(r() * 40)]), true));
    case 3: { // a chunk table entry: type or length, CRC of the header recomputed
      const count = v.getUint16(fields + 12, true);
      const e = fields + 14 + 12 * Math.floor(r() * Math.max(1, count));
      return edit((d, dv) => {
        if (r() < 0.5) d.set(new TextEncoder().encode(pick(r, ['TILE', 'ALPH', 'ICCP', 'EXIF', 'XMP ', 'ZHAT', 'YHAT', 'JUNK'])), e);
        else dv.setUint32(e + 4, pick(r, [0, 1, 3, 4, 5, 0xffffffff, Math.floor(r() * 5000)]), true);
      });
    }
    case 4: { // a tile's streams damaged, CRCs valid: the rANS decoder and the networks see it
      const t = tiles[Math.floor(r() * tiles.length)]!;
      const s = r() < 0.3 ? t.z : t.y;
      for (let k = 0; k <= Math.floor(r() * 6); k++) if (s.length) s[Math.floor(r() * s.length)] = Math.floor(r() * 256);
      if (r() < 0.3) {
        const cut = Math.floor(r() * (s.length + 1));
        if (s === t.z) t.z = t.z.subarray(0, cut);
        else t.y = t.y.subarray(0, cut);
      }
      return rewrite({});
    }
    case 5: { // z_len inside a TILE lies (payload CRC recomputed by rewriting the chunk)
      const i = Math.floor(r() * tiles.length);
      const t = tiles[i]!;
      const joined = Uint8Array.from([...t.z, ...t.y]);
      const zl = pick(r, [0, 1, joined.length, Math.floor(r() * (joined.length + 1))]);
      tiles[i] = { z: joined.subarray(0, zl), y: joined.subarray(zl) };
      return rewrite({});
    }
    case 6: { // optional chunks: damaged alpha or metadata, added, dropped
      const extra = { ...c.extra } as Record<string, Uint8Array>;
      const k = pick(r, ['ALPH', 'ICCP', 'EXIF', 'XMP ']);
      if (extra[k] && r() < 0.7) {
        const d = extra[k]!.slice();
        for (let j = 0; j <= Math.floor(r() * 6); j++) if (d.length) d[Math.floor(r() * d.length)] = Math.floor(r() * 256);
        extra[k] = r() < 0.3 ? d.subarray(0, Math.floor(r() * d.length)) : d;
      } else if (r() < 0.5) {
        extra[k] = new Uint8Array(Math.floor(r() * 200)).map(() => Math.floor(r() * 256));
      } else delete extra[k];
      return rewrite({ extra });
    }
    case 7: // lying header: other size, quality or colour with the same tiles
      return rewrite({ width: 1 + Math.floor(r() * 400), height: 1 + Math.floor(r() * 300), quality: Math.floor(r() * 101), color: r() < 0.5 ? 'gray' : 'rgb', tileSize: pick(r, [128, 256, 512, 1024, 2048]) });
    default: // model id and version
      return edit((d) => {
        if (r() < 0.5) d[4] = Math.floor(r() * 4);
        else d[7 + Math.floor(r() * idLen)] = Math.floor(r() * 256);
      });
  }
}

/** The i-th fuzz input for a seed: a structure-aware mutation half of the time, else byte-level;
 *  sometimes mutated twice. */
export function fuzzInput(seeds: readonly { bytes: Uint8Array }[], seed: number, i: number): Uint8Array {
  const r = rng(seed * 1_000_003 + i * 7919 + 1);
  const base = seeds[Math.floor(r() * seeds.length)]!.bytes;
  let b: Uint8Array = base;
  for (let round = 0; round < (r() < 0.2 ? 2 : 1); round++) {
    let c: Container | undefined;
    try {
      c = parseContainer(b);
    } catch {
      c = undefined;
    }
    b = c && r() < 0.55 ? mutateStructure(r, b, c) : mutateBytes(r, b);
  }
  return b;
}

/** Decodes one input; the outcome is a stable error code or "decoded" (with sizes checked). */
export async function outcome(codec: Codec, b: Uint8Array): Promise<string> {
  try {
    const p = await codec.decode(b);
    if (!(p.width >= 1 && p.height >= 1 && p.data.length === p.width * p.height * p.channels)) return 'BAD_OUTPUT';
    return 'decoded';
  } catch (e) {
    if (e instanceof CodecError) return e.code;
    return `CRASH ${(e as Error)?.name}: ${(e as Error)?.message}`;
  }
}
