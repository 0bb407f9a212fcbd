// Safe file output for the CLI: never overwrite without force, write to a temporary file in the
// target folder and move it into place, leave nothing partial behind on failure or Ctrl-C.
import { randomBytes } from 'node:crypto';
import { constants, unlinkSync } from 'node:fs';
import { access, link, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
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

// Temporary files are named `.<name>.<host>.<pid>.<random>.tmp` next to their target, so that a
// process killed mid-write (kill -9: no signal handler runs) leaves something recognisable.
const HOST = hostname().replace(/[^A-Za-z0-9-]/g, '_') || 'host';
const STALE_MS = 10 * 60 * 1000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the temporary files a killed writer left for `path`: those of dead processes on this
 *  host, and any older than 10 minutes (another host's). */
export async function cleanStaleTemps(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix) || !n.endsWith('.tmp')) continue;
    const [host, pid] = n.slice(prefix.length, -4).split('.');
    const p = join(dir, n);
    const old = await stat(p).then((s) => Date.now() - s.mtimeMs > STALE_MS, () => false);
    if ((host === HOST && pid && !alive(Number(pid))) || old) await unlink(p).catch(() => undefined);
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
  const tmp = join(dirname(path), `.${basename(path)}.${HOST}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
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
