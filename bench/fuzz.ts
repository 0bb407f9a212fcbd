// Fuzzing the decoder at scale (issue 18): N mutated streams (bench/fuzz/core.ts) decoded in a
// child process under a supervisor, which records crashes (uncaught exceptions or the process
// dying: the input is kept), hangs (no answer within --timeout ms: the child is killed), the error
// code of every input and the peak memory, then restarts after the bad input.
//   node dist/bench/fuzz.js [--count 100000] [--seed 1] [--timeout 10000] [--jobs 2]
// → bench/results/fuzz-<date>.{json,md}, and bench/results/fuzz-crashes/ with any crashing input.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { machine } from '../src/bench/machine.js';
import { createCodec } from '../src/node/index.js';
import { fuzzInput, outcome, seedCorpus } from './fuzz/core.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const COUNT = arg('count', 100_000);
const SEED = arg('seed', 1);
const TIMEOUT = arg('timeout', 10_000);
const JOBS = arg('jobs', 1);
/** Decoder pixel limit while fuzzing: lying headers may ask for anything up to it. */
const MAX_PIXELS = 1 << 22;

if (process.argv.includes('--child')) {
  // the child: decode inputs [from, to), one line per input: "index outcome ms"
  const from = arg('from', 0);
  const to = arg('to', COUNT);
  const codec = await createCodec({ threads: 1, maxPixels: MAX_PIXELS });
  const seeds = await seedCorpus(codec);
  for (let i = from; i < to; i++) {
    process.stdout.write(`start ${i}\n`);
    const t0 = performance.now();
    const o = await outcome(codec, fuzzInput(seeds, SEED, i));
    process.stdout.write(`${i} ${(performance.now() - t0).toFixed(1)} ${o}\n`);
  }
  process.stdout.write(`rss ${process.resourceUsage().maxRSS}\n`);
  await codec.dispose();
  process.exit(0);
}

const counts: Record<string, number> = {};
const crashes: { index: number; what: string }[] = [];
const hangs: number[] = [];
let slowest = { index: -1, ms: 0 };
let peakRssKb = 0;
const t0 = performance.now();
const crashDir = join(REPO, 'bench/results/fuzz-crashes');

async function keepInput(index: number, what: string): Promise<void> {
  crashes.push({ index, what });
  const codec = await createCodec({ threads: 1 });
  const seeds = await seedCorpus(codec);
  mkdirSync(crashDir, { recursive: true });
  writeFileSync(join(crashDir, `seed${SEED}-${index}.hic`), fuzzInput(seeds, SEED, index));
  await codec.dispose();
}

let done = 0;
/** One supervised child at a time over inputs [from, to), restarted after an input that kills it. */
async function supervise(from: number, to: number): Promise<void> {
  let next = from;
  while (next < to) {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', '--from', String(next), '--to', String(to), '--seed', String(SEED)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let started = -1;
    let timer: NodeJS.Timeout | undefined;
    let hung = false;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, TIMEOUT + 60_000 * (started < 0 ? 1 : 0)); // the first input also waits for the model to load
    };
    arm();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const lines = createInterface({ input: child.stdout });
    for await (const line of lines) {
      const [a, b, ...rest] = line.split(' ');
      if (a === 'start') {
        started = Number(b);
        arm();
      } else if (a === 'rss') {
        peakRssKb = Math.max(peakRssKb, Number(b));
      } else {
        const i = Number(a);
        const ms = Number(b);
        const o = rest.join(' ');
        counts[o.startsWith('CRASH') ? 'CRASH' : o] = (counts[o.startsWith('CRASH') ? 'CRASH' : o] ?? 0) + 1;
        if (o.startsWith('CRASH') || o === 'BAD_OUTPUT') await keepInput(i, o);
        if (ms > slowest.ms) slowest = { index: i, ms };
        next = i + 1;
        if (++done % 5000 === 0) process.stderr.write(`fuzz: ${done}/${COUNT} ${JSON.stringify(counts)} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
      }
    }
    const code: number | null = await new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (c) => r(c))));
    clearTimeout(timer);
    if (code !== 0 && next < to) {
      // the process died or hung on input `started`: keep it, go on after it
      const i = Math.max(started, next);
      if (hung) hangs.push(i);
      else await keepInput(i, `process died (exit ${code}): ${stderr.split('\n').slice(-3).join(' ')}`);
      counts[hung ? 'HANG' : 'PROCESS_DIED'] = (counts[hung ? 'HANG' : 'PROCESS_DIED'] ?? 0) + 1;
      next = i + 1;
      done++;
    }
  }
}
// --jobs N supervisors over contiguous ranges (the same inputs as one: input i depends on i alone)
const bounds = Array.from({ length: JOBS + 1 }, (_, j) => Math.round((COUNT * j) / JOBS));
await Promise.all(bounds.slice(0, -1).map((from, j) => supervise(from, bounds[j + 1]!)));

const result = {
  name: `fuzz-${new Date().toISOString().slice(0, 10)}`, machine: machine(), command: `node dist/bench/fuzz.js --count ${COUNT} --seed ${SEED} --timeout ${TIMEOUT} --jobs ${JOBS}`,
  inputs: COUNT, seed: SEED, max_pixels: MAX_PIXELS, seconds: Math.round((performance.now() - t0) / 1000),
  crashes: crashes.length, hangs: hangs.length, outcomes: counts, slowest_ms: slowest, peak_rss_mb: Math.round(peakRssKb / 1024), crash_inputs: crashes,
};
const base = join(REPO, 'bench/results', result.name);
mkdirSync(join(REPO, 'bench/results'), { recursive: true });
writeFileSync(`${base}.json`, JSON.stringify(result, null, 1) + '\n');
const md = [`# Decoder fuzzing ${result.name.slice(5)}`, '', `Command: \`${result.command}\` (${result.seconds} s).`, '',
  `${COUNT.toLocaleString('en')} inputs: **${crashes.length} crashes, ${hangs.length} hangs**; slowest input ${slowest.ms.toFixed(0)} ms; peak RSS ${result.peak_rss_mb} MB.`, '',
  '| outcome | inputs |', '|---|---:|', ...Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `| ${k} | ${v.toLocaleString('en')} |`), ''].join('\n');
writeFileSync(`${base}.md`, md);
process.stdout.write(md);
process.exitCode = crashes.length || hangs.length ? 1 : 0;
