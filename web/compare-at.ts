// What the right half of the split view shows for a comparison codec: its encode at hicodec's
// size ("same size", the row of the table) or the one whose PSNR is closest to hicodec's
// ("same quality"), with the label that says which.
import type { Picture } from '../src/web.js';
import type { Compared, Shown } from './protocol.js';

export type CompareAt = 'size' | 'quality';

const fmtBytes = (n: number) => n.toLocaleString('en');

/** The picture and label of `o` at `at` (hicodec's PSNR `hicPsnr`); undefined when `o` has no
 *  encode for it (hicodec's own row, or a .hic dropped without its original). */
export function rightSide(o: Shown | Compared, at: CompareAt, hicPsnr: number): { image: Picture; label: string } | undefined {
  if (at === 'size') return { image: o.image, label: `${o.codec} (${fmtBytes(o.bytes)} bytes) ▶` };
  const e = 'atPsnr' in o ? o.atPsnr : null;
  if (!e) return undefined;
  const what = `q${e.quality} · ${fmtBytes(e.bytes)} bytes · ${e.psnr.toFixed(1)} dB`;
  if (e.reached) return { image: e.image, label: `${o.codec} ${what} ▶` };
  const why = e.psnr < hicPsnr ? `cannot reach ${hicPsnr.toFixed(1)} dB` : `stays above ${hicPsnr.toFixed(1)} dB`;
  return { image: e.image, label: `${o.codec} ${why}; closest: ${what} ▶` };
}
