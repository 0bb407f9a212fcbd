// The README's figures are generated from bench/results (scripts/readme-figures.mjs): a README
// that says something else than the newest results fails here, so the numbers cannot go stale.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

import { REPO } from './helpers.js';

test('README figures match the newest benchmark results', () => {
  const r = spawnSync(process.execPath, [join(REPO, 'scripts/readme-figures.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
