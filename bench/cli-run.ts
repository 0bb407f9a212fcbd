// Runs the built `hic` CLI in a child process for the benchmarks: wall time and the process's peak
// memory (hic-rss: process.resourceUsage().maxRSS, printed when HIC_REPORT_RSS is set).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = join(fileURLToPath(new URL('../../', import.meta.url)), 'dist/src/cli/hic.js');

export interface CliRun { ms: number; maxrss_mb: number }

export function runCli(args: string[]): CliRun {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, HIC_REPORT_RSS: '1' }, maxBuffer: 1 << 26 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`hic ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const m = /hic-rss (\{.*\})/.exec(r.stderr);
  return { ms: Math.round(ms), maxrss_mb: m ? Math.round(JSON.parse(m[1]!).maxrss_kb / 1024) : NaN };
}
