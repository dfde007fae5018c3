#!/usr/bin/env bash
# Benchmarks (not tests): each writes bench/results/<name>.json and prints itself next to its baseline.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
node --require tsx/cjs bench/get-access-token.bench.ts
