#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (driven by playwright-core with executablePath /usr/bin/chromium).
# Idempotent: does nothing when /usr/bin/chromium exists (the package manager's cache keeps the .deb files), and
# prints the version either way. Run by `npm test` (tools/scripts/test.sh) and `.ci/run`.
# Without root and without password-less sudo it changes nothing: it prints one line naming the command to run
# and exits 1, so a missing browser never shows up as failing tests.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ ! -x "$CHROMIUM" ]]; then
  SUDO=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
      echo "install-browser: the browser tests need Chromium at $CHROMIUM, and installing it needs root: run 'sudo bash infra/install-browser.sh' once, then run the tests again" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "install-browser: installing Debian chromium (once)"
  # A package that is registered but whose binary is gone is reinstalled; the package lists are refreshed only
  # when the install cannot find the package without them.
  reinstall=(); dpkg -s chromium >/dev/null 2>&1 && reinstall=(--reinstall)
  if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${reinstall[@]}" chromium; then
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${reinstall[@]}" chromium
  fi
fi

if [[ ! -x "$CHROMIUM" ]]; then
  echo "install-browser: $CHROMIUM missing after install" >&2
  exit 1
fi
# The Debian wrapper script may print shell noise on stderr; keep only the version line.
"$CHROMIUM" --version 2>/dev/null | head -n1
