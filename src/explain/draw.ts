// Explain panels drawn as RGB images (no I/O; used by the CLI and the web page): heat maps over
// the image, the token grid, receptive-field boxes.
import type { RgbImage } from '../codec/codec.js';
import { attentionByStride, type AttentionAtPoint, type Explanation, type FeatureStage } from './explain.js';

/** Inferno-like colour map, t ∈ [0, 1]. */
const STOPS: [number, number, number][] = [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]];
function colour(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = STOPS[i]!;
  const b = STOPS[i + 1]!;
  return [a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])];
}

/** A grid of values (gw × gh cells of `cell` pixels) blended over a grey copy of the image. */
export function heatOver(img: RgbImage, values: ArrayLike<number>, gw: number, gh: number, cell: number, alpha = 0.65, gamma = 1): RgbImage {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]!);
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const gx = Math.min(gw - 1, Math.floor(x / cell));
      const gy = Math.min(gh - 1, Math.floor(y / cell));
      const v = max > 0 ? (values[gy * gw + gx]! / max) ** gamma : 0;
      const [r, g, b] = colour(v);
      const i = (y * img.width + x) * 3;
      const grey = 0.299 * img.data[i]! + 0.587 * img.data[i + 1]! + 0.114 * img.data[i + 2]!;
      out[i] = alpha * r + (1 - alpha) * grey;
      out[i + 1] = alpha * g + (1 - alpha) * grey;
      out[i + 2] = alpha * b + (1 - alpha) * grey;
    }
  }
  return { width: img.width, height: img.height, data: out };
}

function rect(img: RgbImage, x0: number, y0: number, x1: number, y1: number, rgb: [number, number, number], thick = 1, dot = 0): void {
  const set = (x: number, y: number) => {
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
    if (dot && (x + y) % (2 * dot) >= dot) return;
    const i = (y * img.width + x) * 3;
    img.data[i] = rgb[0];
    img.data[i + 1] = rgb[1];
    img.data[i + 2] = rgb[2];
  };
  for (let t = 0; t < thick; t++) {
    for (let x = x0; x <= x1; x++) {
      set(x, y0 + t);
      set(x, y1 - t);
    }
    for (let y = y0; y <= y1; y++) {
      set(x0 + t, y);
      set(x1 - t, y);
    }
  }
}

/** The image with the token grid (every 16×16 patch) and the point's token highlighted. */
export function tokenGrid(img: RgbImage, e: Explanation): RgbImage {
  const out = { ...img, data: img.data.slice() };
  const p = e.tokens.patch;
  for (let i = 0; i < out.data.length; i++) out.data[i] = Math.round(out.data[i]! * 0.8);
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) if (x % p === 0 || y % p === 0) out.data.set([255, 255, 255], (y * img.width + x) * 3);
  const tx = Math.floor(e.point.x / p) * p;
  const ty = Math.floor(e.point.y / p) * p;
  rect(out, tx, ty, tx + p - 1, ty + p - 1, [255, 40, 40], 2);
  return out;
}

/** Receptive-field boxes around the point: theoretical per stage (solid colours), effective per stage
 *  (dotted, same colours) and at y (white). */
export function rfBoxes(img: RgbImage, e: Explanation): RgbImage {
  const out = { ...img, data: img.data.slice() };
  const colours: [number, number, number][] = [[80, 200, 255], [80, 255, 120], [255, 220, 60], [255, 80, 80]];
  const { x, y } = e.point;
  (e.receptiveField.theoretical ?? []).forEach((s, i) => {
    const h = Math.floor(s.size / 2);
    rect(out, x - h, y - h, x + h, y + h, colours[i % colours.length]!, 2);
  });
  // effective, per stage: dotted in the stage's colour; at /16 (y) also solid white
  e.receptiveField.effectivePerStage.forEach((s, i, all) => {
    const h = Math.floor(s.size / 2);
    const c = colours[(i + colours.length - all.length) % colours.length]!;
    rect(out, x - h, y - h, x + h, y + h, c, 1, 3);
  });
  const h = Math.floor(e.receptiveField.effective / 2);
  rect(out, x - h, y - h, x + h, y + h, [255, 255, 255], 1);
  rect(out, x - 1, y - 1, x + 1, y + 1, [255, 0, 255], 1);
  return out;
}

export interface Panels {
  readonly [name: string]: TiledPanel;
}

export function panels(img: RgbImage, e: Explanation): Panels {
  const errGrid = Float64Array.from(e.error);
  const out: Record<string, TiledPanel> = {
    tokens: tokenGrid(img, e),
    bits_y: heatOver(img, e.bitsY, e.tokens.gridW, e.tokens.gridH, e.tokens.patch),
    bits_z: heatOver(img, e.bitsZ, e.zGrid.w, e.zGrid.h, e.zGrid.patch),
    error: heatOver(img, errGrid, img.width, img.height, 1, 0.85, 0.5),
    receptive_field: rfBoxes(img, e),
    decoded: e.decoded,
  };
  for (const f of e.features ?? []) out[`features_${f.stride}`] = featureGrid(img, f);
  const rf = e.receptiveField.theoretical;
  for (const [stride, blocks] of attentionByStride(e)) out[`attention_${stride}`] = attentionGrid(img, blocks, e.point, rf ? rf[rf.length - 1]!.size : null);
  const c = e.classAttention;
  if (c) out['class_attention'] = heatOver(img, c.map, c.gridW, c.gridH, e.tokens.patch * c.pooled, 0.7, 0.5);
  return out;
}


/** A panel made of equal tiles, each a scaled view of the image (the web page maps clicks back). */
export type TiledPanel = RgbImage & { readonly tile?: { readonly w: number; readonly h: number; readonly cols: number } };

/** 3×5 glyphs for tile labels. */
const GLYPHS: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111', '4': '101101111001001',
  '5': '111100111001111', '6': '111100111101111', '7': '111001001010010', '8': '111101111101111', '9': '111101111001111',
  c: '000111100100111', h: '100100111101101', b: '100100111101111', ' ': '000000000000000',
};

/** Writes `text` at (x, y) in white on a black box, glyphs scaled by `s`. */
function label(img: RgbImage, text: string, x: number, y: number, s = 2): void {
  const w = (text.length * 4 + 1) * s;
  const h = 7 * s;
  for (let yy = y; yy < Math.min(img.height, y + h); yy++) for (let xx = x; xx < Math.min(img.width, x + w); xx++) img.data.fill(0, (yy * img.width + xx) * 3, (yy * img.width + xx) * 3 + 3);
  [...text].forEach((ch, k) => {
    const g = GLYPHS[ch] ?? GLYPHS[' ']!;
    for (let gy = 0; gy < 5; gy++) {
      for (let gx = 0; gx < 3; gx++) {
        if (g[gy * 3 + gx] !== '1') continue;
        for (let dy = 0; dy < s; dy++) {
          for (let dx = 0; dx < s; dx++) {
            const px = x + (1 + k * 4 + gx) * s + dx;
            const py = y + (1 + gy) * s + dy;
            if (px < img.width && py < img.height) img.data.fill(255, (py * img.width + px) * 3, (py * img.width + px) * 3 + 3);
          }
        }
      }
    }
  });
}

/** Nearest-neighbour resize. */
function resize(img: RgbImage, w: number, h: number): RgbImage {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(img.height - 1, Math.floor((y * img.height) / h));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(img.width - 1, Math.floor((x * img.width) / w));
      out.set(img.data.subarray((sy * img.width + sx) * 3, (sy * img.width + sx) * 3 + 3), (y * w + x) * 3);
    }
  }
  return { width: w, height: h, data: out };
}

/** Tiles laid out in `cols` columns. */
function tiles(list: readonly RgbImage[], cols: number): TiledPanel {
  const tw = list[0]!.width;
  const th = list[0]!.height;
  const rows = Math.ceil(list.length / cols);
  const out = { width: cols * tw, height: rows * th, data: new Uint8Array(cols * tw * rows * th * 3), tile: { w: tw, h: th, cols } };
  list.forEach((t, i) => {
    const ox = (i % cols) * tw;
    const oy = Math.floor(i / cols) * th;
    for (let y = 0; y < th; y++) out.data.set(t.data.subarray(y * tw * 3, (y + 1) * tw * 3), ((oy + y) * out.width + ox) * 3);
  });
  return out;
}

/** Blue–grey–red for signed values, t ∈ [−1, 1]. */
function diverging(t: number): [number, number, number] {
  const u = Math.min(1, Math.max(-1, t));
  const mid = [221, 221, 221];
  const end = u < 0 ? [59, 76, 192] : [180, 4, 38];
  const a = Math.abs(u);
  return [mid[0]! + a * (end[0]! - mid[0]!), mid[1]! + a * (end[1]! - mid[1]!), mid[2]! + a * (end[2]! - mid[2]!)];
}

/** One encoder stage: its strongest channels as a labelled grid (each scaled to ±max|v|). */
export function featureGrid(img: RgbImage, stage: FeatureStage, cols = 4): TiledPanel {
  const tw = Math.max(96, Math.ceil(img.width / 4));
  const th = Math.max(1, Math.round((tw * img.height) / img.width));
  const list = stage.top.map((ch) => {
    let m = 0;
    for (const v of ch.map) m = Math.max(m, Math.abs(v));
    const t = { width: tw, height: th, data: new Uint8Array(tw * th * 3) };
    for (let y = 0; y < th; y++) {
      const sy = Math.min(stage.h - 1, Math.floor((y * stage.h) / th));
      for (let x = 0; x < tw; x++) {
        const sx = Math.min(stage.w - 1, Math.floor((x * stage.w) / tw));
        t.data.set(diverging(m > 0 ? ch.map[sy * stage.w + sx]! / m : 0), (y * tw + x) * 3);
      }
    }
    label(t, `c${ch.channel}`, 0, 0);
    return t;
  });
  return tiles(list, cols);
}

/** One attention stage: a row per block, a tile per head (the query token's weights over a half-size
 *  image, square-root scale), with the query token (red) and the encoder's receptive field (cyan). */
export function attentionGrid(img: RgbImage, blocks: readonly AttentionAtPoint[], point: { x: number; y: number }, rf: number | null): TiledPanel {
  const s = 2;
  const small = resize(img, Math.ceil(img.width / s), Math.ceil(img.height / s));
  const list: RgbImage[] = [];
  const cols = Math.max(...blocks.map((b) => b.heads));
  for (const b of blocks) {
    for (let h = 0; h < cols; h++) {
      if (h >= b.heads) {
        list.push({ width: small.width, height: small.height, data: new Uint8Array(small.data.length) });
        continue;
      }
      const t = heatOver(small, b.maps[h]!, b.gridW, b.gridH, b.stride / s, 0.7, 0.5);
      const qx = (b.query.x * b.stride) / s;
      const qy = (b.query.y * b.stride) / s;
      rect(t, qx, qy, qx + b.stride / s - 1, qy + b.stride / s - 1, [255, 40, 40], 1);
      if (rf) {
        const r = Math.floor(rf / (2 * s));
        rect(t, Math.floor(point.x / s) - r, Math.floor(point.y / s) - r, Math.floor(point.x / s) + r, Math.floor(point.y / s) + r, [80, 220, 255], 1);
      }
      label(t, `b${b.block}h${h}`, 0, 0);
      list.push(t);
    }
  }
  return tiles(list, cols);
}
