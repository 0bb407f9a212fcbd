// The helper thread of parsing: what it runs (the float half: μ_h, the slices' means, ŷ_g = q + μ)
// and which pictures use it. SessionEngine (engine.ts) runs a chain itself or hands it to a helper
// (node/workers.ts meanHelper: a worker thread).
import { tileGrid } from '../bitstream/container.js';
import type { ZRegion } from './engine.js';
import type { Layout } from './tiles.js';

/**
 * The float half of parsing a tile: μ_h = hyper_mean(ẑ), each slice's μ from μ_h and the ŷ_g of
 * the slices before (the mean nets), ŷ_g = q + μ. The symbols never depend on it (their table
 * indices come from the integer half: hyper_scale, the scale nets), so it can run beside the
 * integer half and rANS, in another thread (a helper worker: node/workers.ts). One chain per tile,
 * by id; the calls of a chain are served in order.
 */
export interface MeanSide {
  /** μ_h on the ẑ around a tile, or μ_h as given (the tile's, planar [M, lh, lw]; transferred to a
   *  helper: not used after); the chain will take `slices` slices (a reduced-size decode: the first
   *  ones). With `withMu`, resolves to μ of the first slice (the encoder needs each μ). */
  meanStart(id: number, from: ZRegion | Float32Array, lh: number, lw: number, slices: number, withMu: boolean): Promise<Float32Array | undefined>;
  /** The next slice's symbols q [c, lh, lw] (transferred to a helper: not used after); with
   *  `withMu`, resolves to μ of the slice after it (undefined after the last). */
  meanPush(id: number, q: Int32Array): Promise<Float32Array | undefined>;
  /** ŷ_g of the channels pushed, and μ_h when every slice was pushed (for the refinement). */
  meanFinish(id: number): Promise<{ yHatG: Float32Array; muH?: Float32Array }>;
}

/** A helper as an engine holds it: the float half of parsing, disposed with the engine. */
export type Helper = MeanSide & { dispose(): Promise<void> };

/** A chain's state between its calls (SessionEngine). */
export interface MeanChain {
  readonly muH: Float32Array;
  readonly yHatG: Float32Array;
  readonly lh: number;
  readonly lw: number;
  readonly slices: number;
  readonly withMu: boolean;
  /** slices pushed so far */
  next: number;
  /** μ of slice `next`, computed as soon as the slices before it were in */
  mu: Float32Array;
}

/** Pictures of at most this many tiles parse with the helper thread (CodecOptions.helper). Its
 *  thread holds memory of its own (glibc keeps a malloc arena per thread at its peak): a 24 MP
 *  decode at 1/8 took 3.5 s against 3.9 but peaked at 418 MB against 335 (hic-base-v6, 24 tiles),
 *  so a big picture keeps its whole parse in one thread and uses tile workers for speed. */
export const HELPER_MAX_TILES = 4;

/** Whether a picture of this layout parses with the helper. */
export const helps = (L: Layout): boolean => L.tiles.length <= HELPER_MAX_TILES;

/**
 * Whether a one-shot command on a picture of these sides and tiles starts the parse helper (a
 * worker thread that takes the float half of parsing: node/workers.ts). Starting it (a thread, its
 * modules and sessions) costs more than it saves on a picture of one tile: through the CLI on
 * Kodak (768×512, 3 runs each, interleaved, training paused) a 1/8 decode took 790–853 ms without
 * it against 943–995 with it, an encode 1560–1621 against 1672–1725, a full decode the same; on
 * a photo of four tiles (1365×2048) the helper wins (full decode 3520–3821 against 3744–4101 ms).
 * Pictures of more than HELPER_MAX_TILES tiles never use it. `tileSize` 0: one tile (format 1).
 */
export function helperPays(width: number, height: number, tileSize: number): boolean {
  const { cols, rows } = tileGrid(width, height, tileSize || Math.max(width, height));
  return cols * rows > 1 || width * height > ONE_SHOT_HELPER_PIXELS;
}

/** A picture of one tile but more pixels than a default 1024-px tile (a format-1 file, or tiles
 *  made larger with --tile) has the parse work of several: it gets the helper too. */
const ONE_SHOT_HELPER_PIXELS = 1024 * 1024;
