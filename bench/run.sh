#!/usr/bin/env bash
# Benchmarks (not tests): each writes bench/results/<name>.json and prints itself next to its baseline.
#   npm run bench                 every benchmark but pipeline, memory and scale
#   npm run bench -- store        only bench/store.bench.ts (likewise get-access-token, fetch)
#   npm run bench -- pipeline     enrichment + reconciliation throughput next to Kafka consume + bulk upsert
#                                 (10k and 100k transactions; not in the default list: ~30 min on 2 shared cores;
#                                 BENCH_PIPELINE_SIZES=2000 is the smoke, 10000,100000,1000000 the full run)
#   npm run bench -- memory       RSS of the five services idle and under load (their shipped bundles) next to a
#                                 bare Node process and a bare kafkajs consumer (not in the default list: a heavy
#                                 user's backfill and a 10k pipeline, 5-15 min; BENCH_MEMORY_MOCK_USER=john is quicker)
#                                 (BENCH_PIPELINE_REFRESH_ROUNDS=2: then two rounds of scheduled refreshes of the stored
#                                 users, each measured; BENCH_PIPELINE_REFRESH_SIZES=100000 only at that size)
#   npm run bench -- scale        the scale model (docs/SCALE.md) from bench/results/{pipeline,pipeline-small-users,memory}.json;
#                                 no servers (pipeline-small-users: BENCH_PIPELINE_RESULT=pipeline-small-users
#                                 BENCH_PIPELINE_TX_PER_USER=100 BENCH_PIPELINE_SIZES=10000, beside the full pipeline run,
#                                 which needs BENCH_PIPELINE_REFRESH_ROUNDS=2 BENCH_PIPELINE_REFRESH_SIZES=100000)
#   npm run bench -- read-api     the gateway's transactions page and change feed under load next to a bare
#                                 Express + MongoDB driver server (same query, same data)
#   npm run bench -- consent      connection.authorized to the full history through the read API, next to the raw
#                                 Data API read + bulk insert of the same transactions
#   BENCH_RESULTS_DIR=<dir>       results there instead of bench/results (CI's smoke:
#                                 tests/integration/bench-smoke.int-spec.ts, every benchmark at a small size)
#   BENCH_RUNTIME=tsx             the services from their sources through tsx, as every benchmark but memory ran them
#                                 before 6 December 16:47; by default (bundle) they run as their images run them: the
#                                 esbuild bundles, built here first from the sources as they are (tools/scripts/build-app.mjs;
#                                 AIS_SERVICE_BUNDLES=<dir> runs bundles already built there instead)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
names=("$@")
runtime="${BENCH_RUNTIME:-bundle}"
case "$runtime" in
  bundle)
    # what ships: tsx adds work the images never do (its require hook runs for every `require`, and kafkajs requires a
    # protocol module on each produce, fetch and commit), and its source maps weigh on the services' heaps
    if [ -z "${AIS_SERVICE_BUNDLES:-}" ]; then
      for service in auth-gateway token-vault data-fetcher enrichment reconciliation; do node tools/scripts/build-app.mjs "$service" >/dev/null; done
      export AIS_SERVICE_BUNDLES=dist/apps
    fi
    ;;
  tsx) unset AIS_SERVICE_BUNDLES ;;
  *) echo "BENCH_RUNTIME must be bundle or tsx, not $runtime" >&2; exit 2 ;;
esac
[ ${#names[@]} -gt 0 ] || names=(get-access-token store fetch read-api consent)
for name in "${names[@]}"; do
  [ -f "bench/$name.bench.ts" ] || { echo "no benchmark bench/$name.bench.ts" >&2; exit 2; }
  echo "==> bench $name"
  node --require tsx/cjs "bench/$name.bench.ts"
done
