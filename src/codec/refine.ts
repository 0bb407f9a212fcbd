// The model's latent refinement (LRP: ŷ_g ← ŷ_g + ½·tanh(lrp([μ_h, ŷ_g]))) across tiles. It is float
// and after parsing, so it need not stop at a tile's border: each tile is refined with a halo of
// the parsed latent around it, and a tiled stream decodes as if it were one tile there (refined
// per tile, the error along 128-px tile borders was 1.6× the interior's with hic-base-v5).
import type { TileEngine } from './engine.js';
import { quiet, schedule } from './schedule.js';
import { cropPlanar, grow, pastePlanar, rectHeight, rectWidth, type Layout } from './tiles.js';
import type { WorkOptions } from './codec.js';

/** Latent positions around a tile: the LRP network's two 3×3 convolutions see ±2. */
export const REFINE_HALO = 2;

/** Refined ŷ_g on the global grid [m, hy, wy] from the unrefined one and μ_h. */
export async function refineTiles(engines: readonly TileEngine[], yHatG: Float32Array, muH: Float32Array, m: number, L: Layout, opts: WorkOptions): Promise<Float32Array> {
  const out = new Float32Array(yHatG.length);
  await schedule(engines, L.tiles.length, async (e, i) => {
    const t = L.tiles[i]!;
    const reg = grow(t.latent, REFINE_HALO, L.wy, L.hy);
    const r = await e.refine(cropPlanar(muH, m, L.wy, L.hy, reg), cropPlanar(yHatG, m, L.wy, L.hy, reg), rectHeight(reg), rectWidth(reg));
    pastePlanar(out, L.wy, L.hy, t.latent, r, reg, m);
  }, quiet(opts), 'parsing');
  return out;
}
