#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (driven by playwright-core with executablePath /usr/bin/chromium).
# Idempotent: does nothing when /usr/bin/chromium exists. Prints the version either way.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ ! -x "$CHROMIUM" ]]; then
  SUDO=""
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else echo "install-browser: need root or sudo to apt-get install chromium" >&2; exit 1; fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium
fi

if [[ ! -x "$CHROMIUM" ]]; then
  echo "install-browser: $CHROMIUM missing after install" >&2
  exit 1
fi
# The Debian wrapper script may print shell noise on stderr; keep only the version line.
"$CHROMIUM" --version 2>/dev/null | head -n1
