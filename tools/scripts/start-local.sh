#!/usr/bin/env bash
# The main job on a fresh machine: npm ci if needed, then stack.sh installs (cached) and starts the real servers;
# start-local.ts starts every service, connects a user through the hosted pages and prints the summary of their data
# (see it). Runs until Ctrl-C (or exits after the summary with --once); stops only what it started. The servers keep
# running (in $AIS_STACK_DIR, default .infra; `npm run stack:down` stops them).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export AIS_STACK_DIR="${AIS_STACK_DIR:-$ROOT/.infra}"
if [ ! -d node_modules ]; then
  echo "[start] installing the npm packages (npm ci, 1-2 minutes the first time)"
  npm ci --no-audit --no-fund --loglevel=error
fi
bash infra/stack.sh up --dir "$AIS_STACK_DIR"
export KAFKAJS_NO_PARTITIONER_WARNING=1
exec node --require tsx/cjs tools/scripts/start-local.ts "$@"
