#!/usr/bin/env bash
# The test command (README, CI): TypeScript tests (node:test on the compiled output), then the
# Python training-package tests (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist
npx tsc -p .
node --test dist/test/
/usr/bin/python3 -m pytest -q -p no:cacheprovider training/tests "$@"
