// The model's latent refinement (LRP: ŷ_g ← ŷ_g + ½·tanh(lrp([μ_h, ŷ_g]))) across tiles. It is float
// and after parsing, so it need not stop at a tile's border: each tile is refined with a halo of
// the parsed latent around it, and a tiled stream decodes as if it were one tile there (refined
// per tile, the error along 128-px tile borders was 1.6× the interior's with hic-base-v5).
import type { TileEngine } from './engine.js';
import { quiet, type Reclaiming, schedule } from './schedule.js';
import { cropPlanar, grow, pastePlanar, rectHeight, rectWidth, type Layout } from './tiles.js';
import type { WorkOptions } from './codec.js';

/** Latent positions around a tile: the LRP network's two 3×3 convolutions see ±2. */
export const REFINE_HALO = 2;

/** Refines ŷ_g on the global grid [m, hy, wy] in place, given μ_h of at least its first `r`
 *  channels: those (the model's refineChannels) refined, the rest (lean slices) as they are. The
 *  refined channels are collected apart and written back once every tile has read its unrefined
 *  neighbourhood, so the extra memory is r channels, not m (a 24 MP picture: 72 MB, not 144). */
export async function refineTiles(engines: readonly TileEngine[], yHatG: Float32Array, muH: Float32Array, r: number, L: Layout, opts: WorkOptions & Reclaiming): Promise<Float32Array> {
  const n = r * L.wy * L.hy;
  const out = new Float32Array(n);
  const mu = muH.subarray(0, n);
  const y = yHatG.subarray(0, n);
  await schedule(engines, L.tiles.length, async (e, i) => {
    const t = L.tiles[i]!;
    const reg = grow(t.latent, REFINE_HALO, L.wy, L.hy);
    const res = await e.refine(cropPlanar(mu, r, L.wy, L.hy, reg), cropPlanar(y, r, L.wy, L.hy, reg), rectHeight(reg), rectWidth(reg));
    pastePlanar(out, L.wy, L.hy, t.latent, res, reg, r);
  }, quiet(opts), 'parsing');
  yHatG.set(out);
  return yHatG;
}
