#!/usr/bin/env bash
# The test command (README, CI): TypeScript tests (node:test on the compiled output, including
# the browser test of the built web page), then the Python training-package tests (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist dist-web
npx tsc -p .
node scripts/postbuild.mjs   # the CLI stays executable (npx hic)
npx tsc -p web   # type-check the page
npx vite build --config web/vite.config.ts --logLevel warn   # the page the browser test loads
node --test dist/test/
/usr/bin/python3 -m pytest -q -p no:cacheprovider training/tests "$@"
