#!/usr/bin/env bash
# Builds one service's image, tagged with the service's own version (apps/<service>/package.json):
#   bash tools/docker/build-image.sh <service> [extra docker build args...]
# NOT RUN by the project (no container engine on its machines). ENGINE=podman works the same way.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
svc="${1:?usage: build-image.sh <service>}"; shift
[[ -f "$ROOT/apps/$svc/Dockerfile" ]] || { echo "no Dockerfile for '$svc' (apps/$svc/Dockerfile)" >&2; exit 2; }
version="$(node -p "require('$ROOT/apps/$svc/package.json').version")"
exec "${ENGINE:-docker}" build -f "$ROOT/apps/$svc/Dockerfile" --build-arg "VERSION=$version" \
  -t "${REGISTRY:+$REGISTRY/}ais-platform/$svc:$version" "$@" "$ROOT"
