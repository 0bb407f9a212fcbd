// Safe file output for the CLI: never overwrite without force, write to a temporary file in the
// target folder and move it into place, leave nothing partial behind on failure or Ctrl-C.
import { randomBytes } from 'node:crypto';
import { constants, unlinkSync } from 'node:fs';
import { access, link, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { CodecError } from '../core/errors.js';

const pending = new Set<string>();
let hooked = false;

function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const p of pending) {
        try {
          unlinkSync(p); // synchronous on purpose: the process is about to exit
        } catch {
          /* already gone */
        }
      }
      process.kill(process.pid, sig); // the default action now: exit by the signal
    });
  }
}

/** Fails early (before any work) when `path` exists and `force` is not set. */
export async function checkOutput(path: string, force: boolean): Promise<void> {
  if (path === '-' || force) return;
  try {
    await access(path, constants.F_OK);
  } catch {
    return;
  }
  throw new CodecError('E_EXISTS', `${path} exists (use -f to overwrite)`);
}

/** Writes `bytes` to `path` ('-' = stdout) atomically; without `force` an existing file is kept. */
export async function writeOutput(path: string, bytes: Uint8Array, force: boolean): Promise<void> {
  if (path === '-') {
    await new Promise<void>((resolve, reject) => process.stdout.write(bytes, (e) => (e ? reject(e) : resolve())));
    return;
  }
  hookSignals();
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  pending.add(tmp);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (force) {
      await rename(tmp, path);
    } else {
      await link(tmp, path); // fails with EEXIST instead of replacing a file that appeared meanwhile
      await unlink(tmp);
    }
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CodecError('E_EXISTS', `${path} exists (use -f to overwrite)`);
    throw new CodecError('E_IO', `cannot write ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    pending.delete(tmp);
  }
}

/** Reads a whole file, or stdin for '-'. */
export async function readInput(path: string): Promise<Uint8Array> {
  try {
    if (path === '-') {
      const parts: Buffer[] = [];
      for await (const c of process.stdin) parts.push(c as Buffer);
      return new Uint8Array(Buffer.concat(parts));
    }
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new CodecError('E_IO', `cannot read ${path === '-' ? 'stdin' : path}: ${(e as Error).message}`, { cause: e });
  }
}
