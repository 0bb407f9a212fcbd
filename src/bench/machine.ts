// Machine and tool versions recorded with every benchmark result.
import { cpus, totalmem, platform, release } from 'node:os';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function machine(): Record<string, unknown> {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    versions: Object.fromEntries(['onnxruntime-node', 'onnxruntime-web', 'sharp'].map((n) => [n, pkgVersion(n)])),
    date: new Date().toISOString(),
  };
}
