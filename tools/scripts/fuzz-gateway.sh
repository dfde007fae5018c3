#!/usr/bin/env bash
# tools/scripts/fuzz-gateway.sh [--install-only] [--max-examples N] [--seed S] [--report DIR]
#
# Property-based fuzzing of the auth-gateway's public API from its own OpenAPI document (/v1/openapi.json) with
# schemathesis. Installs schemathesis (PyPI, version pinned in infra/versions.env) with `infra/install.sh
# schemathesis` into a venv in the cache OUTSIDE the checkout, ${AIS_INFRA_HOME:-$HOME/.cache/ais-platform}/
# schemathesis-<version>/ (marker written last, per-item lock, as for the servers), then runs tools/scripts/fuzz-gateway.ts: it starts the TrueLayer simulator, token-vault,
# data-fetcher, enrichment, reconciliation and the gateway against the stack's servers (AIS_STACK_ENV, or the variables already
# set; `npm run stack:up` writes one), creates an API client and key, runs schemathesis with a fixed seed and
# example count, checks: no 5xx, response schema, status code and content type conform to the document, other
# methods answer 405 with Allow; and stops what it started by PID. Exit status 0 only when every check passed.
#
#   --install-only   install (or find) schemathesis and print the path of its `st` binary
#   --max-examples   examples per operation (default 20)
#   --seed           hypothesis seed (default 20261201)
#   --report DIR     schemathesis reports (JUnit, NDJSON per pass), the served document, the gateway log and
#                    summary.json (default tmp/fuzz-gateway)
set -euo pipefail
set +m
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
INFRA_HOME="${AIS_INFRA_HOME:-$HOME/.cache/ais-platform}"
# shellcheck source=../../infra/versions.env
. "$ROOT/infra/versions.env"

die() { printf '[fuzz-gateway] ERROR: %s\n' "$*" >&2; exit 1; }

# schemathesis comes from infra/install.sh (cached like the servers; its log lines go to stderr here)
install_schemathesis() {
  bash "$ROOT/infra/install.sh" schemathesis >&2 || die "could not install schemathesis $SCHEMATHESIS_VERSION"
  printf '%s\n' "$INFRA_HOME/schemathesis-$SCHEMATHESIS_VERSION/venv/bin/st"
}

install_only=0
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --install-only) install_only=1; shift ;;
    --max-examples|--seed|--report) [[ $# -ge 2 ]] || die "$1 needs a value"; args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done

ST="$(install_schemathesis)"
if [[ "$install_only" == 1 ]]; then printf '%s\n' "$ST"; exit 0; fi

cd "$ROOT"
if [[ -n "${AIS_STACK_ENV:-}" ]]; then
  [[ -f "$AIS_STACK_ENV" ]] || die "AIS_STACK_ENV=$AIS_STACK_ENV: no such file"
  set -a
  # shellcheck disable=SC1090
  . "$AIS_STACK_ENV"
  set +a
fi
exec node --require tsx/cjs tools/scripts/fuzz-gateway.ts --st "$ST" "${args[@]}"
