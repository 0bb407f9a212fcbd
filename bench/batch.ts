// Batch benchmark (issue 17): `hic batch` on the 24 Kodak images plus the large set with --jobs 1
// and --jobs 2 (speed-up on this machine's cores), then the same batch through a real Redis queue
// with two `hic worker` processes, and a byte-for-byte comparison of the outputs.
//   npm run bench:batch        → bench/results/batch-<date>.{json,md}
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { machine } from '../src/bench/machine.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = process.env['HICODEC_SHARED'] ?? join(REPO, '..', 'shared', 'data');
const HIC = join(REPO, 'dist/src/cli/hic.js');
const QUALITY = '60';

function batch(args: string[]): { seconds: number; summary: Record<string, unknown> } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [HIC, 'batch', ...args, '-q', QUALITY, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`hic batch ${args.join(' ')}: ${r.status}\n${r.stderr}`);
  return { seconds: (performance.now() - t0) / 1000, summary: JSON.parse(r.stdout) };
}

const dir = mkdtempSync(join(tmpdir(), 'hic-bench-batch-'));
const src = join(dir, 'in');
for (const set of ['kodak', 'large']) {
  mkdirSync(join(src, set), { recursive: true });
  for (const f of readdirSync(join(SHARED, set)).filter((n) => n.endsWith('.png'))) copyFileSync(join(SHARED, set, f), join(src, set, f));
}
const files = readdirSync(src, { recursive: true }).filter((f) => String(f).endsWith('.png')).length;
let redis: ChildProcess | undefined;
const workers: ChildProcess[] = [];
try {
  const runs: Record<string, { seconds: number; summary: Record<string, unknown> }> = {};
  for (const jobs of [1, 2]) runs[`jobs${jobs}`] = batch([src, join(dir, `out${jobs}`), '--jobs', String(jobs)]);
  // the queue: a local Redis, two worker processes (2 ORT threads each would oversubscribe 2 cores: 1 each)
  const port = 6400 + Math.floor(Math.random() * 500);
  redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 2; i++) workers.push(spawn(process.execPath, [HIC, 'worker', '--queue', url, '--threads', '1'], { stdio: 'ignore' }));
  await new Promise((r) => setTimeout(r, 3000));
  runs['queue2'] = batch([src, join(dir, 'outq'), '--queue', url, '--wait']);
  const outs = (d: string) => readdirSync(join(dir, d), { recursive: true }).map(String).filter((f) => f.endsWith('.hic')).sort();
  const same = outs('out1').every((f) => readFileSync(join(dir, 'out1', f)).equals(readFileSync(join(dir, 'out2', f))) && readFileSync(join(dir, 'out1', f)).equals(readFileSync(join(dir, 'outq', f))));
  const result = {
    name: `batch-${new Date().toISOString().slice(0, 10)}`, machine: machine(), command: 'node dist/bench/batch.js', quality: Number(QUALITY), files,
    seconds: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, +v.seconds.toFixed(2)])),
    speedup_jobs2: +(runs['jobs1']!.seconds / runs['jobs2']!.seconds).toFixed(3),
    speedup_queue2: +(runs['jobs1']!.seconds / runs['queue2']!.seconds).toFixed(3),
    outputs_identical: same, outputs: outs('out1').length, summaries: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.summary])),
  };
  mkdirSync(join(REPO, 'bench/results'), { recursive: true });
  const base = join(REPO, 'bench/results', result.name);
  await writeFile(`${base}.json`, JSON.stringify(result, null, 1) + '\n');
  const md = [`# Batch benchmark ${result.name.slice(6)}`, '', `${files} files (24 Kodak + the large set), quality ${QUALITY}, ${(result.machine as { cores: number }).cores} cores. Command: \`${result.command}\`.`, '',
    '| run | seconds | speed-up vs --jobs 1 |', '|---|---:|---:|',
    `| --jobs 1 | ${result.seconds['jobs1']} | 1.00 |`, `| --jobs 2 | ${result.seconds['jobs2']} | ${result.speedup_jobs2.toFixed(2)} |`,
    `| queue, 2 worker processes | ${result.seconds['queue2']} | ${result.speedup_queue2.toFixed(2)} |`, '',
    `Outputs byte-identical across the three runs: ${same ? 'yes' : 'NO'} (${result.outputs} files).`, ''].join('\n');
  await writeFile(`${base}.md`, md);
  process.stdout.write(md);
} finally {
  for (const w of workers) w.kill('SIGKILL');
  redis?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
