// `hic classify FILE.hic…`: what each picture shows, from its latent (no pixels decoded). The
// classifier knows a few classes only (the shipped one: 5 kinds of flower); a top-1 probability
// under --threshold is answered "unknown", and the output names the classes it knows.
import { performance } from 'node:perf_hooks';

import { inspectContainer } from '../bitstream/container.js';
import { DEFAULT_THRESHOLD, UNKNOWN, type Classifier } from '../classify/classifier.js';
import type { Codec } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';
import { readInput } from '../node/files.js';
import { createCodec, loadClassifier, resolveClassifierDir } from '../node/index.js';

export interface ClassifyCliOptions {
  classifier?: string;
  threads?: number;
  json?: boolean;
  top?: number;
  threshold?: number;
}

/** --threshold P: a number in 0..1, refused with E_INVALID_OPTION otherwise (the message quotes
 *  what was typed). */
export function thresholdArg(v: string): number {
  const n = v.trim() === '' ? NaN : Number(v);
  if (!(n >= 0 && n <= 1)) throw new CodecError('E_INVALID_OPTION', `Expected a number between 0 and 1 for --threshold but received ${v}`);
  return n;
}

const pct = (p: number) => `${(100 * p).toFixed(1)}%`;

export async function classifyCommand(files: string[], o: ClassifyCliOptions): Promise<void> {
  const threshold = o.threshold ?? DEFAULT_THRESHOLD;
  const codecs = new Map<string, Codec>();
  const classifiers = new Map<string, Classifier>();
  const results = [];
  try {
    for (const file of files) {
      const bytes = await readInput(file);
      const model = inspectContainer(bytes).modelId;
      if (!codecs.has(model)) codecs.set(model, await createCodec({ model, ...(o.threads ? { threads: o.threads } : {}) }));
      if (!classifiers.has(model)) {
        const c = await loadClassifier(await resolveClassifierDir(model, o.classifier), o.threads);
        classifiers.set(model, c);
        if (!o.json) process.stderr.write(`hic: classifier ${c.id} knows ${c.known} (${c.labels.join(', ')}); a top-1 probability under ${pct(threshold)} is "${UNKNOWN}"\n`);
      }
      const classifier = classifiers.get(model)!;
      const t0 = performance.now();
      const r = await classifier.classify(codecs.get(model)!, bytes, { threshold });
      const ms = Math.round(performance.now() - t0);
      const top = r.classes.slice(0, o.top ?? 3);
      results.push({
        file, model, classifier: classifier.id, label: r.label, probability: r.top.probability, threshold, top,
        known: classifier.known, labels: classifier.labels, grid: r.grid, ms,
      });
      const answer = r.label === UNKNOWN ? `${UNKNOWN} (not one of: ${classifier.labels.join(', ')})` : `${r.label} (${pct(r.top.probability)})`;
      if (!o.json) process.stdout.write(`${file}: ${answer}  [${top.map((c) => `${c.label} ${pct(c.probability)}`).join(', ')}]  ${ms} ms\n`);
    }
    if (o.json) process.stdout.write(JSON.stringify(files.length === 1 ? results[0] : results, null, 2) + '\n');
  } finally {
    for (const c of codecs.values()) await c.dispose();
    for (const c of classifiers.values()) await c.dispose();
  }
}
