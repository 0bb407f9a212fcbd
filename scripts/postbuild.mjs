// After `tsc`: the CLI entry must stay executable (tsc rewrites dist/ and drops the mode bit, and
// then `npx hic` fails with "Permission denied").
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
for (const bin of Object.values(pkg.bin ?? {})) {
  const path = `${root}/${bin}`;
  if (existsSync(path)) chmodSync(path, 0o755);
}
