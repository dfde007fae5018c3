#!/usr/bin/env bash
# tools/scripts/start-repeat.sh [RUNS]  (default 5)
#
# Proves that the README's first command works the first time, every time: RUNS times in a row it starts the
# servers on a fresh stack directory (infra/stack.sh up --dir <new dir>), runs `npm start -- --once` against them,
# stops the servers, and checks that none of the processes `npm start` reported ([start] spawned <name> pid <pid>)
# is still alive. Installs are reused (cached). Prints each step's time and "<ok> of <runs> succeeded"; exits 1
# unless every run succeeded. Stops only what it started: the stacks it created, by their recorded PIDs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
RUNS="${1:-5}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [RUNS]" >&2; exit 2; }

BASE="$(mktemp -d "${TMPDIR:-/tmp}/ais-start-repeat.XXXXXX")"
CURRENT=""
now_ms() { date +%s%3N; }
secs() { local d=$(( $(now_ms) - $1 )); printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100)); }
say() { printf '[start-repeat] %s\n' "$*"; }

cleanup() {
  local rc=$?
  if [[ -n "$CURRENT" && -d "$CURRENT/pids" ]]; then bash infra/stack.sh down --dir "$CURRENT" >/dev/null 2>&1 || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T0="$(now_ms)"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
bash infra/install.sh all >"$BASE/install.log" 2>&1 || { tail -n 30 "$BASE/install.log" >&2; say "install failed"; exit 1; }
say "installs ready in $(secs "$T0")s; logs in $BASE"

ok=0
for ((i = 1; i <= RUNS; i++)); do
  dir="$BASE/stack-$i"; CURRENT="$dir"
  result="ok"
  t="$(now_ms)"
  if bash infra/stack.sh up --dir "$dir" >"$BASE/up-$i.log" 2>&1; then up="$(secs "$t")s"; else up="FAILED"; result="stack up failed"; fi
  start="-"
  if [[ "$result" == ok ]]; then
    t="$(now_ms)"
    if AIS_STACK_DIR="$dir" npm start -- --once >"$BASE/start-$i.log" 2>&1; then start="$(secs "$t")s"
    else start="FAILED ($(secs "$t")s)"; result="npm start failed"; fi
  fi
  t="$(now_ms)"
  bash infra/stack.sh down --dir "$dir" >"$BASE/down-$i.log" 2>&1 || result="stack down failed"
  down="$(secs "$t")s"; CURRENT=""
  left=()
  if [[ -f "$BASE/start-$i.log" ]]; then
    while read -r name pid; do
      if kill -0 "$pid" 2>/dev/null; then left+=("$name:$pid"); fi
    done < <(sed -n 's/^\[start\] spawned \([^ ]*\) pid \([0-9]*\)$/\1 \2/p' "$BASE/start-$i.log")
  fi
  (( ${#left[@]} == 0 )) || result="left running: ${left[*]}"
  say "run $i/$RUNS: stack up $up, npm start -- --once $start, stack down $down: $result"
  if [[ "$result" == ok ]]; then
    ok=$((ok + 1))
  else
    for f in "$BASE/up-$i.log" "$BASE/start-$i.log"; do
      [[ -f "$f" ]] || continue
      say "----- last lines of $f -----"
      grep -v '^{' "$f" | tail -n 25 || true
    done
  fi
done
say "$ok of $RUNS succeeded in $(secs "$T0")s"
(( ok == RUNS )) || exit 1
rm -rf "$BASE"
