#!/usr/bin/env bash
# The test command (README, CI): Python training-package tests (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 -m pytest -q -p no:cacheprovider training/tests "$@"
