// `hic explain` output in Node: PNG encoding (sharp) and the self-contained HTML report (PNG panels
// inlined as data URIs). The drawing itself is in draw.ts (shared with the web page).
import sharp from 'sharp';

import type { RgbImage } from '../codec/codec.js';
import { attentionByStride, type Explanation } from './explain.js';

export { panels, type Panels } from './draw.js';

export async function png(img: RgbImage): Promise<Uint8Array> {
  const b = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function barsSvg(values: Float64Array, label: string): string {
  const w = 760;
  const h = 140;
  const max = Math.max(...values, 1e-9);
  const bw = w / values.length;
  const bars = Array.from(values, (v, i) => `<rect x="${(i * bw).toFixed(2)}" y="${(h - (v / max) * (h - 20)).toFixed(1)}" width="${Math.max(0.5, bw - 0.5).toFixed(2)}" height="${((v / max) * (h - 20)).toFixed(1)}" fill="#b5367a"><title>${label} channel ${i}: ${Math.round(v)} bits</title></rect>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><text x="4" y="12" font-size="11">${label}: bits per channel (max ${Math.round(max)})</text>${bars}</svg>`;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function reportHtml(title: string, summary: string, pngs: Readonly<Record<string, Uint8Array>>, e: Explanation): string {
  const captions: Record<string, string> = {
    tokens: 'Tokens: the latent grid the Transformer decoder attends over, one token per 16×16 patch (red: the chosen point\'s token).',
    bits_y: 'Bits of y per token (real code lengths under the shipped integer tables, all channels).',
    bits_z: 'Bits of the hyper-latent z per 64×64 block.',
    error: 'Per-pixel absolute error of the decoded image (mean over R, G, B; square-root colour scale).',
    receptive_field: 'Receptive fields around the point: theoretical per encoder stage (solid: blue 1/2, green 1/4, yellow 1/8, red 1/16, from the model\'s layer list) and effective (dotted in the same colours, and white at 1/16: the square holding 95% of the stage\'s response to a 5×5 perturbation of the point).',
    decoded: 'Decoded image.',
  };
  for (const f of e.features ?? []) {
    captions[`features_${f.stride}`] = `Encoder features at 1/${f.stride} (${f.w}×${f.h}, ${f.channels} channels${f.stride === 16 ? ': the latent y itself' : ', after GDN'}): the ${f.top.length} channels with the most energy (label c = channel), each scaled to ±its largest magnitude (blue negative, red positive).`;
  }
  for (const [stride, bl] of attentionByStride(e)) {
    const d = bl.flatMap((a) => a.meanDistance);
    captions[`attention_${stride}`] = `Decoder attention at 1/${stride}: where the token of the point (red box) looks, one row per Transformer block (b0 regular windows, b1 shifted), one tile per head; square-root colour scale. Mean distance ${Math.round(Math.min(...d))}–${Math.round(Math.max(...d))} px; window ${bl[0]!.window * stride}×${bl[0]!.window * stride} px. Cyan: the encoder's theoretical receptive field at the same point, for comparison.`;
  }
  const figs = Object.entries(pngs).map(([k, b]) => `<figure><img alt="${k}" src="data:image/png;base64,${Buffer.from(b).toString('base64')}"><figcaption>${esc(captions[k] ?? k)}</figcaption></figure>`).join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;max-width:1000px;margin:auto;padding:16px}figure{margin:16px 0}img{max-width:100%;image-rendering:pixelated}pre{background:#f4f4f4;padding:8px;white-space:pre-wrap}</style></head>
<body><h1>${esc(title)}</h1><pre>${esc(summary)}</pre>
${barsSvg(e.bitsPerChannelY, 'y')}
${barsSvg(e.bitsPerChannelZ, 'z')}
${figs}
${e.features ? '' : '<p>Encoder feature maps and decoder attention maps: this model package was exported without explain outputs (re-export it with training/export.py).</p>'}
</body></html>
`;
}
