#!/usr/bin/env bash
# Runs one service from source: TypeScript through tsx, telemetry registered before anything else loads.
# usage: tools/scripts/run-service.sh <service-name>   (environment: the service's config variables)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
name="${1:?usage: run-service.sh <service>}"
[ -f "$ROOT/apps/$name/src/main.ts" ] || { echo "no such service: $name" >&2; exit 2; }
cd "$ROOT"
export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-$name}"
exec node --enable-source-maps --require tsx/cjs --require ./libs/platform/telemetry/src/register.ts "apps/$name/src/main.ts"
