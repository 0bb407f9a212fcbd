// `hic classify FILE.hic…`: what each picture shows, from its latent (no pixels decoded).
import { performance } from 'node:perf_hooks';

import { inspectContainer } from '../bitstream/container.js';
import type { Classifier } from '../classify/classifier.js';
import type { Codec } from '../codec/codec.js';
import { readInput } from '../node/files.js';
import { createCodec, loadClassifier, resolveClassifierDir } from '../node/index.js';

export interface ClassifyCliOptions {
  classifier?: string;
  threads?: number;
  json?: boolean;
  top?: number;
}

export async function classifyCommand(files: string[], o: ClassifyCliOptions): Promise<void> {
  const codecs = new Map<string, Codec>();
  const classifiers = new Map<string, Classifier>();
  const results = [];
  try {
    for (const file of files) {
      const bytes = await readInput(file);
      const model = inspectContainer(bytes).modelId;
      if (!codecs.has(model)) codecs.set(model, await createCodec({ model, ...(o.threads ? { threads: o.threads } : {}) }));
      if (!classifiers.has(model)) classifiers.set(model, await loadClassifier(await resolveClassifierDir(model, o.classifier), o.threads));
      const t0 = performance.now();
      const r = await classifiers.get(model)!.classify(codecs.get(model)!, bytes);
      const ms = Math.round(performance.now() - t0);
      const top = r.classes.slice(0, o.top ?? 3);
      results.push({ file, model, classifier: classifiers.get(model)!.id, label: r.top.label, probability: r.top.probability, top, grid: r.grid, ms });
      if (!o.json) process.stdout.write(`${file}: ${r.top.label} (${(100 * r.top.probability).toFixed(1)}%)  [${top.map((c) => `${c.label} ${(100 * c.probability).toFixed(1)}%`).join(', ')}]  ${ms} ms\n`);
    }
    if (o.json) process.stdout.write(JSON.stringify(files.length === 1 ? results[0] : results, null, 2) + '\n');
  } finally {
    for (const c of codecs.values()) await c.dispose();
    for (const c of classifiers.values()) await c.dispose();
  }
}
