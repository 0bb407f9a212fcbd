// `hic explain IMAGE`: panels and a self-contained HTML report in a folder, summary on stdout.
// The folder is written under a temporary name and renamed into place (nothing partial is left).
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';

import { CodecError } from '../core/errors.js';
import { decodeImageFile } from '../node/image.js';
import { createCodec, loadClassifier, resolveClassifierDir } from '../node/index.js';
import { explainImage, summaryText } from './explain.js';
import { panels, png, reportHtml } from './render.js';

export interface ExplainCliOptions {
  quality: number;
  output?: string;
  point?: string;
  json?: boolean;
  force?: boolean;
  model?: string;
  threads?: number;
}

function parsePoint(s: string | undefined): { x: number; y: number } | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+),(\d+)$/.exec(s.trim());
  if (!m) throw new CodecError('E_INVALID_OPTION', `Expected --point x,y (pixels) but received ${JSON.stringify(s)}`);
  return { x: Number(m[1]), y: Number(m[2]) };
}

export async function explainCommand(input: string, o: ExplainCliOptions): Promise<void> {
  const point = parsePoint(o.point);
  const out = o.output ?? join(dirname(input), `${basename(input, extname(input))}.explain`);
  const exists = await stat(out).then(() => true, () => false);
  if (exists && !o.force) throw new CodecError('E_EXISTS', `${out} exists (use -f to replace it)`);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(input));
  } catch (e) {
    throw new CodecError('E_IO', `cannot read ${input}`, { cause: e });
  }
  const image = await decodeImageFile(bytes, input);
  const codec = await createCodec({ ...(o.model ? { model: o.model } : {}), ...(o.threads ? { threads: o.threads } : {}) });
  // the classifier for this model, when one is installed: where its class token attends
  const classifier = await resolveClassifierDir(codec.modelId).then((d) => loadClassifier(d, o.threads), () => undefined);
  try {
    const e = await explainImage(codec, image, { quality: o.quality, ...(point ? { point } : {}), ...(classifier ? { classifier } : {}) });
    const summary = summaryText(e, image.width, image.height);
    const tmp = `${out}.${process.pid}.tmp`;
    await mkdir(tmp, { recursive: true });
    try {
      const files: Record<string, Uint8Array> = {};
      for (const [name, img] of Object.entries(panels(image, e))) {
        files[name] = await png(img);
        await writeFile(join(tmp, `${name}.png`), files[name]!);
      }
      await writeFile(join(tmp, 'report.html'), reportHtml(`hicodec explain: ${basename(input)}`, summary, files, e));
      const numbers = {
        image: input, width: image.width, height: image.height, model: codec.modelId, quality: e.quality, bytes: e.bytes, psnr: e.psnr,
        tokens: e.tokens, bits: { y: e.totalBitsY, z: e.totalBitsZ, y_stream: 8 * e.yBytes, z_stream: 8 * e.zBytes },
        bits_per_channel: { y: Array.from(e.bitsPerChannelY), z: Array.from(e.bitsPerChannelZ) },
        point: e.point, receptive_field: e.receptiveField,
        ...(e.classAttention ? { class: { classifier: e.classAttention.classifier, label: e.classAttention.label, probability: e.classAttention.probability } } : {}),
      };
      await writeFile(join(tmp, 'summary.json'), JSON.stringify(numbers, null, 1) + '\n');
      if (exists) await rm(out, { recursive: true, force: true });
      await rename(tmp, out);
      process.stdout.write(o.json ? JSON.stringify(numbers, null, 2) + '\n' : `${summary}\nwrote ${out}/ (report.html, ${Object.keys(files).map((f) => `${f}.png`).join(', ')})\n`);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  } finally {
    await codec.dispose();
    await classifier?.dispose();
  }
}
