#!/usr/bin/env bash
# infra/stack.sh up|down|status|env|restart [--dir DIR] [--only kafka,mongo,vault,zipkin,prometheus] [--timeout SECS]
#                [--fresh] [--signal TERM|KILL]
#
# Runs the local infrastructure as native background processes on free 127.0.0.1 ports:
#   kafka  - Apache Kafka (KRaft, single combined broker+controller); starts empty at every `up` (see step 3 of cmd_up)
#   mongo  - FerretDB 2 (MongoDB wire protocol) over PostgreSQL 15 with the DocumentDB extension; its data
#            (DIR/data/mongo) survives down/up, `up --fresh` wipes it
#   vault  - OpenBao server with PebbleDB storage (Vault API; KV v2 at secret/, Transit at transit/, PKI at pki/ for gRPC
#            mTLS); its data (DIR/data/vault, the unseal key and root token included) survives down/up like the
#            store's, `up --fresh` wipes both
#   zipkin - Zipkin server, in-memory storage, UI at /zipkin/
#   prometheus - Prometheus server (built from the Go module proxy): scrapes every service whose metrics endpoint is
#            listed in DIR/run/prometheus-targets/*.json (file-based discovery; tools/scripts/start-local.ts and
#            @ais/testing `registerScrapeTarget` write them) and evaluates infra/prometheus/alerts.yml; query API only
#            (the module carries no built web UI)
#
# State lives in DIR (default <repo>/.infra): pids/<name>.pid, data/, logs/, run/, stack.env.
# `up` writes connection settings to DIR/stack.env as plain KEY=value lines.
# `down` stops only the PIDs recorded in DIR/pids (TERM, then KILL after 15 s).
# `restart --only kafka|mongo` stops those servers by their recorded PIDs (`--signal KILL` for a crash; PostgreSQL
# behind the store always gets a fast shutdown) and starts them again on the same ports and data dirs, so clients
# keep their stack.env (the fault and chaos runs, tools/scripts/chaos.ts, use it).
#
# Environment:
#   AIS_INFRA_HOME          install cache (see install.sh)
#   AIS_STACK_TIMEOUT       readiness timeout per server in seconds (default 120)
#   AIS_KAFKA_JVM_OPTS      override the broker JVM flags
#   AIS_ZIPKIN_JVM_OPTS     override the Zipkin JVM flags
#   AIS_FERRETDB_LOG_LEVEL  debug|info|warn|error (default warn)
#   AIS_PG_OPTS             extra `-c name=value` options for PostgreSQL (e.g. -c shared_buffers=512MB)
#   JAVA_HOME               Java 17+ to use (default: java on PATH)
# shellcheck disable=SC2317  # readiness predicates are invoked indirectly through wait_until
set -euo pipefail
set +m

if (( BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1) )); then
  echo "[stack] ERROR: bash >= 5.1 required (have $BASH_VERSION)" >&2; exit 1
fi
[[ -d /proc/self ]] || { echo "[stack] ERROR: Linux /proc required" >&2; exit 1; }

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
INFRA_HOME="${AIS_INFRA_HOME:-$HOME/.cache/ais-platform}"
# shellcheck source=versions.env
. "$SCRIPT_DIR/versions.env"

KAFKA_HOME="$INFRA_HOME/kafka-$KAFKA_VERSION"
STORE_HOME="$INFRA_HOME/store-$FERRETDB_VERSION-$DOCUMENTDB_REV"
FERRETDB_BIN="$STORE_HOME/bin/ferretdb"
PG_BIN="$STORE_HOME/pg/usr/lib/postgresql/$POSTGRES_MAJOR/bin"
BAO_BIN="$INFRA_HOME/openbao-$OPENBAO_VERSION/bin/bao"
ZIPKIN_HOME="$INFRA_HOME/zipkin-$ZIPKIN_VERSION"
PROM_BIN="$INFRA_HOME/prometheus-$PROMETHEUS_VERSION/bin/prometheus"

ALL_SERVICES=(kafka mongo vault zipkin prometheus)
KAFKA_JVM_OPTS="${AIS_KAFKA_JVM_OPTS:--Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError -XX:-UsePerfData -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true}"
ZIPKIN_JVM_OPTS="${AIS_ZIPKIN_JVM_OPTS:--Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError -XX:-UsePerfData -Djava.net.preferIPv4Stack=true}"
TIMEOUT="${AIS_STACK_TIMEOUT:-120}"
STOP_GRACE=15

log() { printf '[stack] %s\n' "$*"; }
err() { printf '[stack] ERROR: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

usage() {
  cat <<EOF
usage: $(basename "$0") up|down|status|env|restart [--dir DIR] [--only kafka,mongo,vault,zipkin,prometheus] [--timeout SECS] [--fresh] [--signal TERM|KILL]
  up      install what is needed, start the servers on free 127.0.0.1 ports, wait until ready,
          write DIR/stack.env (reuses a stack that is already running and healthy)
  down    stop the processes recorded in DIR/pids
  status  print alive/dead per server (exit 0 only if every recorded server is alive)
  env     print the path of DIR/stack.env
  restart stop the servers named by --only (kafka, mongo) by their recorded PIDs (--signal KILL: a crash; default
          TERM) and start them again on the same ports with the same data (stack.env stays valid)
DIR defaults to $REPO_DIR/.infra. The store's data (DIR/data/mongo) survives down/up; --fresh wipes it first.
EOF
}

# ---- small helpers ---------------------------------------------------------------------------
now_ms() { date +%s%3N; }
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%02d' $((d / 1000)) $(((d % 1000) / 10)); }

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then printf '%s\n' "$JAVA_HOME/bin/java"; return; fi
  command -v java || die "java not found (need Java 17+)"
}

kafka_cluster_id() { # 16 random bytes, URL-safe base64 without padding (Kafka Uuid format)
  local id
  while :; do
    id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* ]] && { printf '%s\n' "$id"; return; }
  done
}

tcp_open() { (: <>"/dev/tcp/$1/$2") 2>/dev/null; }
http_ok() { curl -sf -o /dev/null --max-time 3 "$1"; }

# A recorded PID counts as ours only if the process is alive (not a zombie) and was started by
# this script for this DIR (its environment carries AIS_INFRA_STACK_DIR=DIR). This protects
# against PID reuse after a reboot or a crash.
pid_alive() {
  local pid="$1" st
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  st="$(ps -o stat= -p "$pid" 2>/dev/null || true)"
  [[ -n "$st" && "$st" != Z* ]]
}
pid_ours() {
  local pid="$1"
  pid_alive "$pid" || return 1
  grep -qzxF "AIS_INFRA_STACK_DIR=$DIR" "/proc/$pid/environ" 2>/dev/null
}
descendants() { # all descendant PIDs of $1
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do
    printf '%s\n' "$c"
    descendants "$c"
  done
}
read_pid() { [[ -f "$PIDS/$1.pid" ]] && tr -dc '0-9' <"$PIDS/$1.pid"; }

# Start a server in its own session as a direct background child: the PID recorded is the
# server's own PID (setsid does not fork when the caller is not a group leader, and env/java
# exec in place). Every inherited fd above 2 is closed so the server holds no lock or pipe of
# the caller's.
spawn() {
  local name="$1" logf="$2"; shift 2
  [[ -e "$RUN/abort" ]] && return 1
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd="${fd##*/}"
      if [[ "$fd" =~ ^[0-9]+$ ]] && (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec setsid "$@"
  ) </dev/null >>"$logf" 2>&1 &
  local pid=$!
  printf '%s\n' "$pid" >"$PIDS/$name.pid"
  SPAWNED_PID="$pid"
}

# Wait until "$@" succeeds; fail if the PID dies or the timeout passes.
wait_until() {
  local name="$1" pid="$2" limit="$3"; shift 3
  local deadline=$(( $(date +%s) + limit ))
  while :; do
    if "$@"; then return 0; fi
    [[ -e "$RUN/abort" ]] && return 1   # another server failed: give up quietly
    if ! pid_alive "$pid"; then err "$name: process $pid exited during startup"; return 1; fi
    if (( $(date +%s) >= deadline )); then err "$name: not ready after ${limit}s"; return 1; fi
    sleep 0.2
  done
}

fail_with_log() { # name logfile...
  local name="$1"; shift
  local f
  [[ -e "$RUN/abort" ]] && return 1   # aborted because another server failed: no noise
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    printf '[stack] ----- %s: last 40 lines of %s -----\n' "$name" "$f" >&2
    tail -n 40 "$f" >&2 || true
  done
  return 1
}

# Free ports: bind every requested port at once (so they are distinct), then release them.
# Vault needs a pair (P, P+1): the dev server also binds its cluster listener on port+1.
pick_ports() { # <singles> <pairs>  -> prints singles..., then the first port of each pair
  if ! command -v python3 >/dev/null 2>&1; then pick_ports_node "$@"; return; fi
  python3 - "$1" "$2" <<'PY'
import random, socket, sys
singles, pairs = int(sys.argv[1]), int(sys.argv[2])
# Ports below the kernel's ephemeral range: the kernel hands those out for bind(0) and for the local end of
# every outgoing connection, so a port picked from it can be taken by someone's client socket between our
# release and the server's bind (seen in CI as EADDRINUSE). Nothing is ever assigned below the range.
try:
    eph_low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    eph_low = 32768
lo, hi = 15000, max(15100, eph_low - 1)
held, out = [], []
def bind(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", p))
    held.append(s)
    return s.getsockname()[1]
def pick(width):
    for _attempt in range(500):
        p = random.randint(lo, hi - width)
        got = []
        try:
            for k in range(width):
                got.append(bind(p + k))
            return p
        except OSError:
            continue
    sys.exit("no free port found below the ephemeral range")
for _ in range(singles):
    out.append(pick(1))
for _ in range(pairs):
    out.append(pick(2))
print(" ".join(map(str, out)))
PY
}

pick_ports_node() { # same contract as pick_ports, for machines without python3
  node - "$1" "$2" <<'JS'
const net = require('net');
const fs = require('fs');
const [singles, pairs] = process.argv.slice(2).map(Number);
let ephLow = 32768;
try { ephLow = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768; } catch { /* default */ }
const lo = 15000, hi = Math.max(15100, ephLow - 1);
const held = [], out = [];
const bind = (p) => new Promise((ok, ko) => { const s = net.createServer(); s.once('error', ko);
  s.listen({ port: p, host: '127.0.0.1', exclusive: true }, () => { held.push(s); ok(s.address().port); }); });
const pick = async (width) => {
  for (let a = 0; a < 500; a++) {
    const p = lo + Math.floor(Math.random() * (hi - width - lo));
    try { for (let k = 0; k < width; k++) await bind(p + k); return p; } catch { /* try another */ }
  }
  throw new Error('no free port found below the ephemeral range');
};
(async () => {
  for (let i = 0; i < singles; i++) out.push(await pick(1));
  for (let i = 0; i < pairs; i++) out.push(await pick(2));
  console.log(out.join(' '));
  held.forEach((s) => s.close());
})().catch((e) => { console.error(e.message); process.exit(1); });
JS
}

# ---- per-server start functions (each runs in the background during `up`) -------------------
# Each writes run/<name>.env (its stack.env lines) and run/<name>.ready (seconds) on success.

start_kafka() {
  local kport="$1" cport="$2" t0; t0="$(now_ms)"
  local java; java="$(java_bin)"
  local data="$DATA/kafka" cfg="$DATA/kafka/server.properties"
  mkdir -p "$data/logs" "$data/tmp"
  cat >"$cfg" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$kport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$kport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/logs
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
num.network.threads=2
num.io.threads=2
EOF
  # shellcheck disable=SC2086  # JVM flag lists are meant to be split
  if ! env -i PATH="$PATH" HOME="$HOME" AIS_INFRA_STACK_DIR="$DIR" \
      "$java" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Djava.io.tmpdir="$data/tmp" -cp "$KAFKA_HOME/lib/*" \
      kafka.tools.StorageTool format -t "$(kafka_cluster_id)" -c "$cfg" </dev/null >"$LOGS/kafka-format.log" 2>&1; then
    err "kafka: storage format failed"
    fail_with_log kafka "$LOGS/kafka-format.log"; return 1
  fi
  launch_kafka "$kport" || return 1
  printf 'KAFKA_BROKERS=127.0.0.1:%s\n' "$kport" >"$RUN/kafka.env"
  secs_since "$t0" >"$RUN/kafka.ready"
}

launch_kafka() { # port: runs the broker of DIR/data/kafka (formatted, server.properties written) and waits for it
  local kport="$1" java; java="$(java_bin)"
  local data="$DATA/kafka" cfg="$DATA/kafka/server.properties" logf="$LOGS/kafka.log" from
  # the log is appended to: readiness counts only what this start writes
  from=$(( $(stat -c %s "$logf" 2>/dev/null || echo 0) + 1 ))
  # shellcheck disable=SC2086
  spawn kafka "$logf" env -i PATH="$PATH" HOME="$HOME" AIS_INFRA_STACK_DIR="$DIR" \
    "$java" $KAFKA_JVM_OPTS -Djava.io.tmpdir="$data/tmp" -cp "$KAFKA_HOME/lib/*" kafka.Kafka "$cfg"
  local pid="$SPAWNED_PID"
  kafka_ready() { tail -c "+$from" "$logf" | grep -q 'Kafka Server started' && tcp_open 127.0.0.1 "$kport"; }
  wait_until kafka "$pid" "$TIMEOUT" kafka_ready || { fail_with_log kafka "$logf"; return 1; }
}

# PostgreSQL refuses to run as root. As root, it runs in a user namespace of its own (`unshare -U`) in which this
# process's uid maps to the unprivileged `postgres` account (initdb looks its name up): files stay owned by the
# caller outside, the data dir stays under DIR, and the PID recorded is the server's own (unshare without
# --fork execs in place).
pg_prefix() {
  if [[ "$(id -u)" -eq 0 ]]; then
    printf '%s\n' unshare -U "--map-user=$(id -u postgres 2>/dev/null || echo 70)" "--map-group=$(id -g postgres 2>/dev/null || echo 70)"
  fi
}

start_mongo() { # port pgport: PostgreSQL + DocumentDB on pgport, FerretDB on port
  local port="$1" pgport="$2" t0; t0="$(now_ms)"
  local data="$DATA/mongo" pgdata="$DATA/mongo/pgdata" logf="$LOGS/mongo.log" pglog="$LOGS/postgres.log"
  local prefix; mapfile -t prefix < <(pg_prefix)
  mkdir -p "$data/ferretdb"
  if (( ${#prefix[@]} > 0 )) && ! "${prefix[@]}" true 2>/dev/null; then
    err "mongo: as root, PostgreSQL needs a user namespace (unshare -U) to run unprivileged, and this machine refuses one; run as a normal user"
    return 1
  fi
  if [[ ! -f "$pgdata/PG_VERSION" ]]; then
    rm -rf "$pgdata"
    if ! env -i PATH="$PATH" LANG=C.UTF-8 "${prefix[@]}" "$PG_BIN/initdb" -D "$pgdata" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 >"$LOGS/initdb.log" 2>&1; then
      err "mongo: initdb failed"; fail_with_log mongo "$LOGS/initdb.log"; return 1
    fi
    # Settings that belong to the data dir; the address and port are passed at each start.
    cat >>"$pgdata/postgresql.conf" <<EOF
# ais-platform local store (infra/stack.sh)
shared_preload_libraries = 'pg_cron,pg_documentdb_core,pg_documentdb'
cron.database_name = 'postgres'
documentdb.enableBackgroundWorker = true
documentdb.enableBackgroundWorkerJobs = true
# DocumentDB's jobs (index builds, TTL) run through pg_cron every few seconds: keep them out of the log
cron.log_run = off
cron.log_statement = off
ssl = off
EOF
  fi
  # Every index FerretDB creates uses DocumentDB's composite index terms (one term per document and index) instead of
  # one term per indexed path: the pipeline benchmark's bulk upsert (1.4 KB documents, the six indexes of
  # `transactions`) takes 2.5-2.6 ms per document with per-path terms and 0.7-0.9 ms with composite ones
  # (infra/README.md, "Composite index terms are on"; AIS_PG_OPTS='-c documentdb.defaultUseCompositeOpClass=off' brings
  # the old terms back). Passed at each start, so older data dirs get it for the indexes they create from then on.
  # shellcheck disable=SC2086  # AIS_PG_OPTS is a flag list
  spawn mongo-pg "$pglog" env -i PATH="$PATH" LANG=C.UTF-8 AIS_INFRA_STACK_DIR="$DIR" \
    "${prefix[@]}" "$PG_BIN/postgres" -D "$pgdata" -p "$pgport" -c listen_addresses=127.0.0.1 -c unix_socket_directories= \
    -c documentdb.defaultUseCompositeOpClass=on ${AIS_PG_OPTS:-}
  local pgpid="$SPAWNED_PID"
  pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$pgport" -U postgres -d postgres; }
  wait_until postgres "$pgpid" "$TIMEOUT" pg_ready || { fail_with_log mongo "$pglog"; return 1; }
  if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$pgport" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt \
      -c 'CREATE EXTENSION IF NOT EXISTS documentdb CASCADE;' >>"$LOGS/postgres-setup.log" 2>&1; then
    err "mongo: CREATE EXTENSION documentdb failed"; fail_with_log mongo "$LOGS/postgres-setup.log" "$pglog"; return 1
  fi
  local pg_ms=$(( $(now_ms) - t0 ))
  spawn mongo "$logf" env -i PATH="$PATH" HOME="$data/ferretdb" AIS_INFRA_STACK_DIR="$DIR" \
    "$FERRETDB_BIN" --listen-addr="127.0.0.1:$port" --debug-addr=127.0.0.1:0 --state-dir="$data/ferretdb" \
    --postgresql-url="postgres://postgres@127.0.0.1:$pgport/postgres" --no-auth --telemetry=disable \
    --log-level="${AIS_FERRETDB_LOG_LEVEL:-warn}"
  local pid="$SPAWNED_PID"
  mongo_ready() { tcp_open 127.0.0.1 "$port"; }
  wait_until mongo "$pid" "$TIMEOUT" mongo_ready || { fail_with_log mongo "$logf" "$pglog"; return 1; }
  printf 'MONGODB_URI=mongodb://127.0.0.1:%s/?directConnection=true\nAIS_STORE_PG_PORT=%s\nAIS_STORE_PSQL=%s\n' \
    "$port" "$pgport" "$PG_BIN/psql" >"$RUN/mongo.env"
  printf '%d.%02d' $((pg_ms / 1000)) $(((pg_ms % 1000) / 10)) >"$RUN/mongo.pg-ready"
  secs_since "$t0" >"$RUN/mongo.ready"
}

# OpenBao as a server with its embedded PebbleDB storage under DIR/data/vault, so its keys and secrets survive
# down/up as the store's data does (a Transit-encrypted token in the store is only readable with the Transit key that
# sealed it). The first start initialises it (one unseal key share), keeps the unseal key and the root token in
# DIR/data/vault (mode 600, never in argv or the log) and runs infra/vault-setup.sh; later starts unseal it and check
# that the mounts are there. `up --fresh` wipes it with the rest of the data.
start_vault() {
  local port="$1" t0; t0="$(now_ms)"
  local data="$DATA/vault" logf="$LOGS/vault.log" addr="http://127.0.0.1:$1" cfg="$DATA/vault/server.hcl"
  local keyf="$DATA/vault/unseal.json" hdr="$DATA/vault/root.hdr" out first=0
  mkdir -p "$data/db"
  chmod 700 "$data"
  if [[ ! -s "$keyf" || ! -s "$hdr" ]]; then
    # never initialised, or initialised without its keys kept (a start that died half-way): nothing in it is readable
    rm -rf "$data/db" "$keyf" "$hdr"; mkdir -p "$data/db"; first=1
  fi
  cat >"$cfg" <<EOF
storage "pebbledb" {
  path = "$data/db"
}
listener "tcp" {
  address     = "127.0.0.1:$port"
  tls_disable = true
}
api_addr      = "$addr"
cluster_addr  = "http://127.0.0.1:$((port + 1))"
ui            = false
EOF
  spawn vault "$logf" env -i PATH="$PATH" HOME="$data" AIS_INFRA_STACK_DIR="$DIR" "$BAO_BIN" server -config="$cfg"
  local pid="$SPAWNED_PID"
  vault_listening() { tcp_open 127.0.0.1 "$port"; }
  wait_until vault "$pid" "$TIMEOUT" vault_listening || { fail_with_log vault "$logf"; return 1; }
  if (( first )); then
    out="$(curl -sS -f --max-time 30 -X PUT --data '{"secret_shares":1,"secret_threshold":1}' "$addr/v1/sys/init" 2>>"$logf")" \
      || { err "vault: initialisation failed"; fail_with_log vault "$logf"; return 1; }
    local key token
    key="$(sed -n 's/.*"keys_base64":\["\([^"]*\)".*/\1/p' <<<"$out")"
    token="$(sed -n 's/.*"root_token":"\([^"]*\)".*/\1/p' <<<"$out")"
    [[ -n "$key" && -n "$token" ]] || { err "vault: initialisation answered without a key or a root token"; return 1; }
    (umask 077; printf '{"key":"%s"}\n' "$key" >"$keyf"; printf 'X-Vault-Token: %s\n' "$token" >"$hdr")
  fi
  # the key goes in on stdin, not argv
  curl -sS -f --max-time 30 -X PUT --data @- "$addr/v1/sys/unseal" <"$keyf" >/dev/null 2>>"$logf" \
    || { err "vault: unseal failed"; fail_with_log vault "$logf"; return 1; }
  vault_ready() { http_ok "$addr/v1/sys/health"; }
  wait_until vault "$pid" "$TIMEOUT" vault_ready || { fail_with_log vault "$logf"; return 1; }
  (umask 077; cp "$hdr" "$RUN/vault.hdr")

  local rc=0
  if (( first )); then
    # KV v2 at secret/ (what the dev server mounts by itself), then Transit, KV v2 and PKI: the same steps as the
    # testcontainers stack (infra/vault-setup.sh)
    curl -sS -f --max-time 10 -X POST -H @"$hdr" --data '{"type":"kv","options":{"version":"2"}}' "$addr/v1/sys/mounts/secret" \
      >>"$LOGS/vault-setup.log" 2>&1 || { err "vault: mounting KV v2 at secret/ failed"; fail_with_log vault "$LOGS/vault-setup.log" "$logf"; return 1; }
    bash "$SCRIPT_DIR/vault-setup.sh" "$addr" "$hdr" >>"$LOGS/vault-setup.log" 2>&1 || rc=$?
  else
    # kept from an earlier start: the three mounts must be there
    out="$(curl -sS -f --max-time 10 -H @"$hdr" "$addr/v1/sys/mounts" 2>>"$LOGS/vault-setup.log")" || rc=2
    if (( rc == 0 )); then
      [[ "$out" == *'"secret/"'* && "$out" == *'"transit/"'* ]] || rc=2
      [[ "$out" == *'"pki/"'* ]] || rc=3
    fi
  fi
  if (( rc == 2 )); then
    err "vault: enabling transit / KV v2 + transit smoke test failed"
    fail_with_log vault "$LOGS/vault-setup.log" "$logf"; return 1
  elif (( rc != 0 )); then
    err "vault: enabling PKI (CA, roles, policies) failed"
    fail_with_log vault "$LOGS/vault-setup.log" "$logf"; return 1
  fi
  printf 'VAULT_ADDR=%s\nVAULT_TOKEN=%s\n' "$addr" "$(sed -n 's/^X-Vault-Token: //p' "$hdr")" >"$RUN/vault.env"
  secs_since "$t0" >"$RUN/vault.ready"
}

start_zipkin() {
  local port="$1" t0; t0="$(now_ms)"
  local java; java="$(java_bin)"
  local logf="$LOGS/zipkin.log" url="http://127.0.0.1:$1" mode cp_args tmp="$DATA/zipkin/tmp"
  # native libs (brotli4j, netty) are extracted to java.io.tmpdir: keep them in the stack dir
  mkdir -p "$tmp"
  mode="$(cat "$ZIPKIN_HOME/MODE" 2>/dev/null || echo exec)"
  if [[ "$mode" == thin ]]; then
    cp_args=(-cp "$ZIPKIN_HOME/lib/*" zipkin.server.ZipkinServer)
  else
    cp_args=(-jar "$ZIPKIN_HOME/zipkin-server-$ZIPKIN_VERSION-exec.jar")
  fi
  # Clean environment: Zipkin auto-enables collectors/storage from env vars such as
  # KAFKA_BOOTSTRAP_SERVERS, RABBIT_ADDRESSES, STORAGE_TYPE, ES_HOSTS that a test env may set.
  # shellcheck disable=SC2086
  spawn zipkin "$logf" env -i PATH="$PATH" HOME="$HOME" AIS_INFRA_STACK_DIR="$DIR" \
    STORAGE_TYPE=mem MEM_MAX_SPANS=100000 SELF_TRACING_ENABLED=false \
    "$java" $ZIPKIN_JVM_OPTS -Djava.io.tmpdir="$tmp" "${cp_args[@]}" \
    "--armeria.ports[0].ip=127.0.0.1" "--armeria.ports[0].port=$port" "--armeria.ports[0].protocols[0]=http"
  local pid="$SPAWNED_PID"
  zipkin_ready() { http_ok "$url/health"; }
  wait_until zipkin "$pid" "$TIMEOUT" zipkin_ready || { fail_with_log zipkin "$logf"; return 1; }
  printf 'ZIPKIN_URL=%s\nOTEL_EXPORTER_ZIPKIN_ENDPOINT=%s/api/v2/spans\n' "$url" "$url" >"$RUN/zipkin.env"
  secs_since "$t0" >"$RUN/zipkin.ready"
}

start_prometheus() {
  local port="$1" t0; t0="$(now_ms)"
  local data="$DATA/prometheus" logf="$LOGS/prometheus.log" url="http://127.0.0.1:$1" cfg="$RUN/prometheus.yml"
  local targets="$RUN/prometheus-targets"
  mkdir -p "$data" "$targets"
  # the rules travel with the stack: a checkout that goes away (CI's clone) does not take them from a running server
  cp "$SCRIPT_DIR/prometheus/alerts.yml" "$RUN/prometheus-alerts.yml"
  # Local settings: a 2 s scrape and 5 s rule evaluation so a journey's numbers show within seconds (a deployment
  # scrapes every 15-30 s). One job; each target names its service in the `job` label (docs/METRICS.md).
  cat >"$cfg" <<EOF
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 5s
rule_files:
  - $RUN/prometheus-alerts.yml
scrape_configs:
  - job_name: ais-platform
    file_sd_configs:
      - files: ['$targets/*.json']
        refresh_interval: 5s
EOF
  spawn prometheus "$logf" env -i PATH="$PATH" HOME="$data" AIS_INFRA_STACK_DIR="$DIR" \
    "$PROM_BIN" --config.file="$cfg" --storage.tsdb.path="$data" --storage.tsdb.retention.time=2d \
    --web.listen-address="127.0.0.1:$port" --log.format=json
  local pid="$SPAWNED_PID"
  prometheus_ready() { http_ok "$url/-/ready"; }
  wait_until prometheus "$pid" "$TIMEOUT" prometheus_ready || { fail_with_log prometheus "$logf"; return 1; }
  printf 'PROMETHEUS_URL=%s\nPROMETHEUS_TARGETS_DIR=%s\n' "$url" "$targets" >"$RUN/prometheus.env"
  secs_since "$t0" >"$RUN/prometheus.ready"
}

# ---- commands --------------------------------------------------------------------------------
recorded_services() {
  local s
  for s in "${ALL_SERVICES[@]}"; do
    if [[ -f "$PIDS/$s.pid" ]] || [[ "$s" == mongo && -f "$PIDS/mongo-pg.pid" ]]; then printf '%s\n' "$s"; fi
  done
  return 0
}

env_value() { # key -> value from stack.env
  [[ -f "$ENVF" ]] || return 1
  sed -n "s/^$1=//p" "$ENVF" | head -n1
}

service_healthy() { # name: recorded PID is ours and its endpoint answers
  local s="$1" pid v
  pid="$(read_pid "$s")" || return 1
  pid_ours "$pid" || return 1
  case "$s" in
    kafka)  v="$(env_value KAFKA_BROKERS)" && tcp_open 127.0.0.1 "${v##*:}" ;;
    mongo)  pid_ours "$(read_pid mongo-pg)" && v="$(env_value MONGODB_URI)" && v="${v#mongodb://127.0.0.1:}" \
              && tcp_open 127.0.0.1 "${v%%/*}" ;;
    vault)  v="$(env_value VAULT_ADDR)" && http_ok "$v/v1/sys/health" ;;
    zipkin) v="$(env_value ZIPKIN_URL)" && http_ok "$v/health" ;;
    prometheus) v="$(env_value PROMETHEUS_URL)" && http_ok "$v/-/ready" ;;
  esac
}

stop_one() { # name [signal]: PostgreSQL gets INT (fast shutdown: TERM would wait for every client to leave)
  local s="$1" sig="${2:-TERM}" pid t0 kids k
  t0="$(now_ms)"
  pid="$(read_pid "$s")" || return 0
  if ! pid_ours "$pid"; then
    log "$s: not running (stale pid file for $pid removed)"
    rm -f "$PIDS/$s.pid"; return 0
  fi
  kids="$(descendants "$pid")"
  kill "-$sig" "$pid" 2>/dev/null || true
  local deadline=$(( $(date +%s) + STOP_GRACE ))
  while pid_alive "$pid" && (( $(date +%s) < deadline )); do sleep 0.1; done
  if pid_alive "$pid"; then
    log "$s: still alive after ${STOP_GRACE}s, sending SIGKILL to $pid"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_alive "$pid"; do sleep 0.1; done
  fi
  # it has exited; give its reaper (init) a moment so `ps` right after `down` shows no zombie
  local z=0
  while kill -0 "$pid" 2>/dev/null && (( z < 30 )); do sleep 0.1; z=$((z + 1)); done
  # children it had when we stopped it (none expected): stop them too, by PID
  for k in $kids; do
    if pid_ours "$k"; then
      log "$s: stopping leftover child $k"
      kill -TERM "$k" 2>/dev/null || true; sleep 1
      if pid_alive "$k"; then kill -KILL "$k" 2>/dev/null || true; fi
    fi
  done
  rm -f "$PIDS/$s.pid"
  log "$s: stopped (pid $pid) in $(secs_since "$t0")s"
}

cmd_down() {
  local s jobs=()
  local recorded; recorded="$(recorded_services)"
  if [[ -z "$recorded" ]]; then
    log "nothing recorded in $PIDS; nothing to stop"
  else
    for s in $recorded; do
      if [[ "$s" == mongo ]]; then { stop_one mongo; stop_one mongo-pg INT; } & else stop_one "$s" & fi
      jobs+=($!)
    done
    for s in "${jobs[@]}"; do wait "$s" || true; done
  fi
  rm -f "$ENVF" "$RUN/vault.hdr"
  # verification only (never used to kill): anything still running with this DIR's marker?
  local left=() p
  for p in $(grep -lzxF "AIS_INFRA_STACK_DIR=$DIR" /proc/[0-9]*/environ 2>/dev/null || true); do
    p="${p#/proc/}"; p="${p%/environ}"
    pid_alive "$p" && left+=("$p")
  done
  if (( ${#left[@]} > 0 )); then
    err "processes started for $DIR are still running: ${left[*]}"
    ps -o pid,ppid,args -p "$(IFS=,; echo "${left[*]}")" >&2 || true
    return 1
  fi
  return 0
}

cmd_status() {
  local s pid any=0 bad=0
  for s in "${ALL_SERVICES[@]}"; do
    if ! pid="$(read_pid "$s")"; then
      printf '%-10s not started\n' "$s"; continue
    fi
    any=1
    if pid_ours "$pid"; then
      printf '%-10s alive  (pid %s, rss %s MB)\n' "$s" "$pid" "$(( $(ps -o rss= -p "$pid" | tr -d ' ') / 1024 ))"
      if [[ "$s" == mongo ]]; then
        local pg; pg="$(read_pid mongo-pg || true)"
        if pid_ours "$pg"; then printf '%-10s alive  (postgres pid %s, rss %s MB with its backends)\n' '' "$pg" \
          "$(( $( { ps -o rss= -p "$pg"; ps -o rss= --ppid "$pg"; } | awk '{t+=$1} END {print t+0}') / 1024 ))"
        else printf '%-10s dead   (postgres pid %s recorded)\n' '' "$pg"; bad=1; fi
      fi
    else
      printf '%-10s dead   (pid %s recorded)\n' "$s" "$pid"; bad=1
    fi
  done
  [[ -f "$ENVF" ]] && printf 'env     %s\n' "$ENVF"
  (( any == 1 && bad == 0 ))
}

cmd_restart() { # the servers in SERVICES (kafka, mongo), each on its recorded port and data dir
  local s t0 v port pgport
  [[ -f "$ENVF" ]] || die "no env file at $ENVF: nothing to restart (run: $0 up --dir $DIR)"
  for s in "${SERVICES[@]}"; do
    case "$s" in kafka|mongo) ;; *) die "restart supports kafka and mongo, not $s" ;; esac
    read_pid "$s" >/dev/null || die "$s: no recorded PID in $PIDS (not started by up in $DIR)"
  done
  rm -f "$RUN/abort"
  for s in "${SERVICES[@]}"; do
    t0="$(now_ms)"
    case "$s" in
      kafka)
        v="$(env_value KAFKA_BROKERS)" || die "kafka: KAFKA_BROKERS missing from $ENVF"
        port="${v##*:}"
        [[ -f "$DATA/kafka/meta.properties" || -f "$DATA/kafka/logs/meta.properties" ]] || die "kafka: $DATA/kafka is not a formatted broker dir"
        stop_one kafka "$SIGNAL"
        launch_kafka "$port" || die "kafka: did not come back on port $port (log: $LOGS/kafka.log)"
        ;;
      mongo)
        v="$(env_value MONGODB_URI)" || die "mongo: MONGODB_URI missing from $ENVF"
        v="${v#mongodb://127.0.0.1:}"; port="${v%%/*}"
        pgport="$(env_value AIS_STORE_PG_PORT)" || die "mongo: AIS_STORE_PG_PORT missing from $ENVF"
        stop_one mongo "$SIGNAL"
        stop_one mongo-pg INT
        start_mongo "$port" "$pgport" || die "mongo: did not come back on port $port"
        ;;
    esac
    log "$s: restarted on port $port in $(secs_since "$t0")s (pid $(read_pid "$s"))"
  done
}

on_interrupt() {
  trap '' INT TERM
  err "interrupted; stopping what was started"
  touch "$RUN/abort"   # start jobs give up and spawn nothing more
  wait || true         # let them finish, so nothing is started after the stop below
  cmd_down || true
  exit 130
}

cmd_up() {
  local s t_up; t_up="$(now_ms)"
  # 1. reuse a running, healthy stack that covers what is asked for
  local recorded; recorded="$(recorded_services)"
  if [[ -n "$recorded" ]]; then
    local covered=1 healthy=1
    for s in "${SERVICES[@]}"; do grep -qx "$s" <<<"$recorded" || covered=0; done
    for s in $recorded; do service_healthy "$s" || { healthy=0; log "$s: recorded but not healthy"; }; done
    if (( covered && healthy )) && [[ -f "$ENVF" ]]; then
      log "stack in $DIR is already running and healthy ($(tr '\n' ' ' <<<"$recorded" | sed 's/ $//')); reusing it"
      log "env file: $ENVF"
      return 0
    fi
    if (( healthy )); then log "running stack in $DIR lacks some of: ${SERVICES[*]}; restarting it with those"
    else log "existing stack in $DIR is partial or unhealthy; stopping it and starting fresh"; fi
    cmd_down || die "could not stop the previous stack cleanly"
  fi

  # 2. install what is needed (fast when cached)
  local items=()
  for s in "${SERVICES[@]}"; do
    case "$s" in kafka) items+=(kafka) ;; mongo) items+=(store) ;; vault) items+=(openbao) ;; zipkin) items+=(zipkin) ;; prometheus) items+=(prometheus) ;; esac
  done
  bash "$SCRIPT_DIR/install.sh" "${items[@]}" || die "install failed"
  if [[ " ${SERVICES[*]} " == *" kafka "* || " ${SERVICES[*]} " == *" zipkin "* ]]; then
    local j jv; j="$(java_bin)"; jv="$("$j" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
    [[ "${jv%%.*}" -ge 17 ]] 2>/dev/null || die "Java 17+ required for Kafka/Zipkin; $j is ${jv:-unknown}"
  fi
  command -v curl >/dev/null || die "curl is required"

  # 3. fresh runtime dirs; the data of the store and of Vault survives (a second `up` reuses it: the store's tokens and
  # API keys need Vault's keys) unless --fresh. The broker starts empty: a kept broker recovers every partition it
  # holds before it is ready, and after a test run against the stack (thousands of partitions) that took longer than
  # the 120 s timeout here; nothing kept needs the old topics after a stop (consumer offsets start again on empty
  # topics, and a change-feed run left open is published again from its recorded number: at least once).
  if (( FRESH )); then rm -rf "$DATA"; else find "$DATA" -mindepth 1 -maxdepth 1 ! -name mongo ! -name vault -exec rm -rf {} + 2>/dev/null || true; fi
  rm -rf "$LOGS" "$RUN"
  mkdir -p "$DATA" "$LOGS" "$RUN" "$PIDS"
  chmod 700 "$DIR" "$RUN"

  # 4. ports
  local singles=0 pairs=0
  for s in "${SERVICES[@]}"; do
    case "$s" in kafka|mongo) singles=$((singles + 2)) ;; zipkin|prometheus) singles=$((singles + 1)) ;; vault) pairs=1 ;; esac
  done
  local ports; read -r -a ports <<<"$(pick_ports "$singles" "$pairs")"
  local i=0 kp cp mp mpg zp pp vp
  for s in "${SERVICES[@]}"; do
    case "$s" in
      kafka) kp="${ports[$i]}"; cp="${ports[$((i + 1))]}"; i=$((i + 2)) ;;
      mongo) mp="${ports[$i]}"; mpg="${ports[$((i + 1))]}"; i=$((i + 2)) ;;
      zipkin) zp="${ports[$i]}"; i=$((i + 1)) ;;
      prometheus) pp="${ports[$i]}"; i=$((i + 1)) ;;
    esac
  done
  (( pairs )) && vp="${ports[$i]}"

  # 5. start everything in parallel; stop what was started if anything fails or we are interrupted
  trap on_interrupt INT TERM
  log "starting ${SERVICES[*]} in $DIR"
  local -A svc_of=()
  local pending=()
  for s in "${SERVICES[@]}"; do
    case "$s" in
      kafka)  start_kafka "$kp" "$cp" & ;;
      mongo)  start_mongo "$mp" "$mpg" & ;;
      vault)  start_vault "$vp" & ;;
      zipkin) start_zipkin "$zp" & ;;
      prometheus) start_prometheus "$pp" & ;;
    esac
    svc_of[$!]="$s"; pending+=("$!")
  done
  # collect results as they come; on the first failure tell the others to give up (run/abort)
  local failed=() aborted=() done_pid rc p left
  while (( ${#pending[@]} > 0 )); do
    done_pid=""
    if wait -n -p done_pid "${pending[@]}"; then rc=0; else rc=$?; fi
    [[ -n "$done_pid" ]] || break
    left=(); for p in "${pending[@]}"; do [[ "$p" == "$done_pid" ]] || left+=("$p"); done
    pending=("${left[@]}")
    s="${svc_of[$done_pid]}"
    if (( rc == 0 )); then
      log "$(printf '%-10s' "$s") ready in $(cat "$RUN/$s.ready")s  (pid $(read_pid "$s")$([[ "$s" == mongo ]] && printf '; postgres pid %s, ready in %ss' "$(read_pid mongo-pg)" "$(cat "$RUN/mongo.pg-ready")"))"
    elif [[ -e "$RUN/abort" ]]; then
      aborted+=("$s")
    else
      failed+=("$s")
      touch "$RUN/abort"
    fi
  done
  if (( ${#failed[@]} > 0 )); then
    err "failed to start: ${failed[*]}${aborted[*]:+ (gave up on: ${aborted[*]})}; logs in $LOGS; stopping the rest"
    cmd_down || true
    exit 1
  fi
  trap - INT TERM

  # 6. env file (atomic)
  {
    printf 'AIS_STACK_DIR=%s\n' "$DIR"
    for s in "${SERVICES[@]}"; do cat "$RUN/$s.env"; done
  } >"$ENVF.tmp"
  chmod 600 "$ENVF.tmp"
  mv -f "$ENVF.tmp" "$ENVF"

  for s in "${SERVICES[@]}"; do
    local pid; pid="$(read_pid "$s")"
    log "$(printf '%-10s' "$s") rss $(( $(ps -o rss= -p "$pid" | tr -d ' ') / 1024 )) MB"
  done
  log "stack up in $(secs_since "$t_up")s; env file: $ENVF"
  sed 's/^VAULT_TOKEN=.*/VAULT_TOKEN=<redacted, see env file>/' "$ENVF" | sed 's/^/[stack]   /'
}

# ---- argument parsing ------------------------------------------------------------------------
CMD="${1:-}"; [[ $# -gt 0 ]] && shift
DIR="$REPO_DIR/.infra"
ONLY=""
FRESH=0
SIGNAL=TERM
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="${2:?--dir needs a value}"; shift 2 ;;
    --dir=*) DIR="${1#--dir=}"; shift ;;
    --only) ONLY="${2:?--only needs a value}"; shift 2 ;;
    --only=*) ONLY="${1#--only=}"; shift ;;
    --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#--timeout=}"; shift ;;
    --fresh) FRESH=1; shift ;;
    --signal) SIGNAL="${2:?--signal needs a value}"; shift 2 ;;
    --signal=*) SIGNAL="${1#--signal=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

SERVICES=()
if [[ -z "$ONLY" ]]; then
  SERVICES=("${ALL_SERVICES[@]}")
else
  IFS=',' read -r -a _only <<<"$ONLY"
  for s in "${ALL_SERVICES[@]}"; do # canonical order
    for o in "${_only[@]}"; do
      case "$o" in ferretdb|store|postgres) o=mongo ;; openbao|bao) o=vault ;; prom) o=prometheus ;; esac
      [[ "$o" == "$s" ]] && { SERVICES+=("$s"); break; }
    done
  done
  for o in "${_only[@]}"; do
    case "$o" in kafka|mongo|vault|zipkin|prometheus|prom|ferretdb|store|postgres|openbao|bao) ;; *) die "unknown service in --only: $o" ;; esac
  done
  [[ ${#SERVICES[@]} -gt 0 ]] || die "--only selected nothing"
fi

case "$SIGNAL" in TERM|KILL) ;; *) die "--signal must be TERM or KILL, not $SIGNAL" ;; esac
if [[ "$CMD" == restart && -z "$ONLY" ]]; then die "restart needs --only kafka, --only mongo or --only kafka,mongo"; fi

case "$CMD" in
  up|down|status|env|restart) ;;
  -h|--help|help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

if [[ "$CMD" == up ]]; then mkdir -p "$DIR"; fi
if [[ -d "$DIR" ]]; then DIR="$(cd "$DIR" && pwd -P)"
else DIR="$(cd "$(dirname "$DIR")" 2>/dev/null && pwd -P)/$(basename "$DIR")" || die "no such dir: $DIR"; fi
PIDS="$DIR/pids"; DATA="$DIR/data"; LOGS="$DIR/logs"; RUN="$DIR/run"; ENVF="$DIR/stack.env"

case "$CMD" in
  env)
    [[ -f "$ENVF" ]] || { err "no env file at $ENVF (run: $0 up${DIR:+ --dir $DIR})"; printf '%s\n' "$ENVF"; exit 1; }
    printf '%s\n' "$ENVF" ;;
  status)
    cmd_status ;;
  up|down|restart)
    if [[ "$CMD" != up && ! -d "$DIR" ]]; then
      [[ "$CMD" == restart ]] && die "no stack dir $DIR"
      log "no stack dir $DIR; nothing to stop"; exit 0
    fi
    mkdir -p "$DIR"
    exec 9>"$DIR/.lock"
    flock -w 600 9 || die "another stack.sh is working on $DIR"
    case "$CMD" in up) cmd_up ;; down) cmd_down ;; restart) cmd_restart ;; esac ;;
esac
