// Explain panels drawn as RGB images (no I/O; used by the CLI and the web page): heat maps over
// the image, the token grid, receptive-field boxes.
import type { RgbImage } from '../codec/codec.js';
import type { Explanation } from './explain.js';

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

function rect(img: RgbImage, x0: number, y0: number, x1: number, y1: number, rgb: [number, number, number], thick = 1): void {
  const set = (x: number, y: number) => {
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
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

/** Receptive-field boxes around the point: theoretical per stage (colours) and effective (white). */
export function rfBoxes(img: RgbImage, e: Explanation): RgbImage {
  const out = { ...img, data: img.data.slice() };
  const colours: [number, number, number][] = [[80, 200, 255], [80, 255, 120], [255, 220, 60], [255, 80, 80]];
  const { x, y } = e.point;
  (e.receptiveField.theoretical ?? []).forEach((s, i) => {
    const h = Math.floor(s.size / 2);
    rect(out, x - h, y - h, x + h, y + h, colours[i % colours.length]!, 2);
  });
  const h = Math.floor(e.receptiveField.effective / 2);
  rect(out, x - h, y - h, x + h, y + h, [255, 255, 255], 1);
  rect(out, x - 1, y - 1, x + 1, y + 1, [255, 0, 255], 1);
  return out;
}

export interface Panels {
  readonly [name: string]: RgbImage;
}

export function panels(img: RgbImage, e: Explanation): Panels {
  const errGrid = Float64Array.from(e.error);
  return {
    tokens: tokenGrid(img, e),
    bits_y: heatOver(img, e.bitsY, e.tokens.gridW, e.tokens.gridH, e.tokens.patch),
    bits_z: heatOver(img, e.bitsZ, e.zGrid.w, e.zGrid.h, e.zGrid.patch),
    error: heatOver(img, errGrid, img.width, img.height, 1, 0.85, 0.5),
    receptive_field: rfBoxes(img, e),
    decoded: e.decoded,
  };
}

