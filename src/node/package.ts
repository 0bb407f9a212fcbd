// Loading a model package from disk (Node).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { CodecError } from '../core/errors.js';
import { loadPackage, type ModelPackage } from '../model/package.js';

export async function loadPackageFromDir(dir: string): Promise<ModelPackage> {
  return loadPackage(async (name) => {
    if (name.includes('/') || name.includes('\\') || name.startsWith('.')) {
      throw new CodecError('E_MODEL_INTEGRITY', `refusing package file name ${JSON.stringify(name)}`);
    }
    try {
      return new Uint8Array(await readFile(join(dir, name)));
    } catch (e) {
      throw new CodecError('E_MODEL_INTEGRITY', `cannot read ${join(dir, name)}`, { cause: e });
    }
  });
}
