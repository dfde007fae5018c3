#!/usr/bin/env bash
# Regenerates the TypeScript contracts from /proto and fails if the committed code differs (stale generation).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
out=libs/contracts/proto-ts/src/generated
npx buf lint proto
rm -rf "$out"
npx buf generate
if ! git diff --quiet -- "$out" || [ -n "$(git status --porcelain -- "$out")" ]; then
  git status --short -- "$out"
  echo "generated contracts are stale: run 'npm run generate' and commit $out" >&2
  exit 1
fi
echo "generated contracts are up to date"
