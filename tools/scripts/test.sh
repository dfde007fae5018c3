#!/usr/bin/env bash
# The whole test suite: what the tests need first (the browser, as .ci/run installs it: cached, idempotent; without
# root it stops at once naming the command to run), generated-code freshness, lint (module boundaries), typecheck,
# unit tests, then the integration tests against real Kafka / MongoDB-wire / Vault / Zipkin (reused when
# `npm run stack:up` or CI started them, otherwise started privately and stopped again). Prints each phase's time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false KAFKAJS_NO_PARTITIONER_WARNING=1

phase() { # name, command...
  local name="$1"; shift
  local t0; t0=$(date +%s)
  echo "::phase $name"
  "$@"
  echo "::phase $name done in $(( $(date +%s) - t0 ))s"
}

phase browser   bash infra/install-browser.sh
phase tools     bash infra/install.sh grpcurl compose-check kubernetes-validate
phase generated bash tools/scripts/check-generated.sh
phase lint      npx nx run-many -t lint --parallel=2 --outputStyle=static
phase typecheck npx nx run-many -t typecheck --parallel=2 --outputStyle=static
phase unit      npx nx run-many -t test --parallel=2 --outputStyle=static
mkdir -p tmp
phase integration npx jest -c jest.integration.config.js --runInBand --json --outputFile=tmp/integration-results.json
node -e '
  const r = require("./tmp/integration-results.json");
  console.log(`integration: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
'
