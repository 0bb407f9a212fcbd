// Node conveniences: the shipped default model, the onnxruntime-node backend, files.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

import { Classifier } from '../classify/classifier.js';
import { Codec } from '../codec/codec.js';
import { CodecError } from '../core/errors.js';
import type { Runtime } from '../runtime/types.js';
import { nodeRuntime } from '../runtime/node.js';
import { loadPackageFromDir } from './package.js';
import { meanHelper, workerEngines } from './workers.js';

/** The repository's models/ folder (dist/src/node/ → ../../../models). */
export const MODELS_DIR = process.env['HICODEC_MODELS'] ?? fileURLToPath(new URL('../../../models/', import.meta.url));

/** Folder of a model: an id under MODELS_DIR, a path to a package folder, or the default. */
export async function resolveModelDir(model?: string): Promise<string> {
  if (model && (model.includes('/') || model.includes('\\'))) return model;
  let id = model;
  if (!id) {
    try {
      id = (await readFile(join(MODELS_DIR, 'DEFAULT'), 'utf8')).trim();
    } catch (e) {
      throw new CodecError('E_MODEL_INTEGRITY', `no default model: cannot read ${join(MODELS_DIR, 'DEFAULT')}`, { cause: e });
    }
  }
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(id)) throw new CodecError('E_UNKNOWN_MODEL', `bad model id ${JSON.stringify(id)}`);
  const dir = join(MODELS_DIR, id);
  if (!existsSync(join(dir, 'manifest.json'))) {
    const have = existsSync(MODELS_DIR) ? readdirSync(MODELS_DIR).filter((d) => existsSync(join(MODELS_DIR, d, 'manifest.json'))) : [];
    throw new CodecError('E_UNKNOWN_MODEL', `model ${id} is not installed (installed: ${have.join(', ') || 'none'}; a package folder can be given as --model DIR or $HICODEC_MODELS)`);
  }
  return dir;
}

export interface NodeCodecOptions {
  /** Model id (under models/) or package folder; default: models/DEFAULT. */
  readonly model?: string;
  /** Backend: 'node' (onnxruntime-node, default) or a Runtime of your own (e.g. webRuntime()). */
  readonly runtime?: Runtime;
  /** Intra-op threads for the default backend (per worker when there are workers). */
  readonly threads?: number;
  readonly maxPixels?: number;
  /** Worker threads that take the tiles (default 0: this thread). Each loads its own sessions. */
  readonly workers?: number;
  /** Default tile size for encoding (pixels, multiple of 128). */
  readonly tileSize?: number;
  /** A worker thread (1 ONNX Runtime thread) for the float half of parsing beside this thread
   *  (engine.ts, MeanSide). Default: on with the default runtime, no `workers`, and `threads`
   *  and the cores ≥ 2. */
  readonly helper?: boolean;
  /** Pictures of more than 4 tiles free their pieces' leftovers as they go (RuntimeOptions.reclaim:
   *  sets V8's --expose-gc flag for the process; a 24 MP decode at 1/4 peaked at 345 MB instead of
   *  ~420, ~10 ms per 1024-px tile). Default off; the hic CLI turns it on. */
  readonly reclaim?: boolean;
}

/** A Codec on the shipped model with onnxruntime-node. Call dispose() when done. */
export async function createCodec(opts: NodeCodecOptions = {}): Promise<Codec> {
  const dir = await resolveModelDir(opts.model);
  const model = await loadPackageFromDir(dir);
  const runtime = opts.runtime ?? nodeRuntime({ ...(opts.threads ? { threads: opts.threads } : {}), ...(opts.reclaim ? { reclaim: true } : {}) });
  if (opts.workers !== undefined && (!Number.isInteger(opts.workers) || opts.workers < 0 || opts.workers > 64)) {
    throw new CodecError('E_INVALID_OPTION', `Expected an integer between 0 and 64 for workers but received ${String(opts.workers)}`);
  }
  const engines = opts.workers ? workerEngines(dir, opts.workers, opts.threads ?? 1) : undefined;
  // with no tile workers and two cores or more, a worker takes the float half of parsing (μ_h and
  // the slice means) beside this thread's integer half and rANS (engine.ts, MeanSide)
  const cores = availableParallelism();
  const helper = !engines && !opts.runtime && (opts.helper ?? true) && Math.min(opts.threads ?? cores, cores) >= 2 ? meanHelper(model) : undefined;
  return Codec.create({
    model, runtime,
    ...(helper ? { helper } : {}),
    ...(opts.maxPixels ? { maxPixels: opts.maxPixels } : {}),
    ...(opts.tileSize ? { tileSize: opts.tileSize } : {}),
    ...(engines ? { engines } : {}),
  });
}

/** A classifier package folder: an id under MODELS_DIR, a path, or (none given) the first
 *  package under MODELS_DIR of kind "classifier" that reads `codecModel`'s latent. */
export async function resolveClassifierDir(codecModel: string, classifier?: string): Promise<string> {
  if (classifier && (classifier.includes('/') || classifier.includes('\\'))) return classifier;
  if (classifier) {
    const dir = join(MODELS_DIR, classifier);
    if (!existsSync(join(dir, 'manifest.json'))) throw new CodecError('E_UNKNOWN_MODEL', `classifier ${classifier} is not installed`);
    return dir;
  }
  const found = (existsSync(MODELS_DIR) ? readdirSync(MODELS_DIR).sort() : []).find((d) => {
    try {
      const m = JSON.parse(readFileSync(join(MODELS_DIR, d, 'manifest.json'), 'utf8')) as { kind?: string; codec_model?: string };
      return m.kind === 'classifier' && m.codec_model === codecModel;
    } catch {
      return false;
    }
  });
  if (!found) throw new CodecError('E_UNKNOWN_MODEL', `no classifier installed for model ${codecModel} (train one: training/recipes/vit-flowers.sh)`);
  return join(MODELS_DIR, found);
}

/** Loads a classifier package from a folder, on onnxruntime-node. */
export async function loadClassifier(dir: string, threads?: number): Promise<Classifier> {
  return Classifier.load(async (name) => {
    try {
      return new Uint8Array(await readFile(join(dir, name)));
    } catch (e) {
      throw new CodecError('E_MODEL_INTEGRITY', `cannot read ${join(dir, name)}`, { cause: e });
    }
  }, nodeRuntime(threads ? { threads } : {}));
}
