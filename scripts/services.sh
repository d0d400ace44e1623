#!/usr/bin/env bash
# Local Kafka (KRaft, single node) + FerretDB (MongoDB wire protocol, SQLite backend)
# for integration tests and development. No Docker: Kafka jars come from Maven
# Central, FerretDB is built with Go from the Go module proxy; both are cached.
#
#   scripts/services.sh up       install if needed, start, wait until healthy; prints the
#                                export lines on stdout, so `eval "$(scripts/services.sh up)"` works
#   scripts/services.sh down     stop both, delete their data (next `up` starts empty)
#   scripts/services.sh status   show what runs (exit 0 only if both are healthy)
#   scripts/services.sh env      print `export BENCH_KAFKA_BOOTSTRAP=... BENCH_MONGO_URL=...`
#
# Environment:
#   BENCH_KAFKA_BOOTSTRAP / BENCH_MONGO_URL  use that server instead: `up` only health-waits on it
#   BENCH_KAFKA_PORT (9092), BENCH_KAFKA_CONTROLLER_PORT (kafka port + 1), BENCH_MONGO_PORT (27017)
#   BENCH_SERVICES_HOME   install cache  (default ~/.cache/benchmarks-services)
#   BENCH_SERVICES_STATE  pids, logs, data (default /tmp/benchmarks-services)
#   BENCH_SERVICES_TIMEOUT  seconds to wait for health (120)
#   BENCH_KAFKA_JAVA_OPTS   JVM options for the broker (-Xms128m -Xmx512m)
#   BENCH_PYTHON          interpreter for health probes (repo .venv if present, else python3)
#   BENCH_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT with BENCH_KAFKA_SASL_MECHANISM (PLAIN,
#     SCRAM-SHA-256 or SCRAM-SHA-512), BENCH_KAFKA_SASL_USERNAME and BENCH_KAFKA_SASL_PASSWORD:
#     the services' own settings; the Kafka we start then has a SASL listener only, knowing that
#     one user, and the health probe logs in as it. Unset (PLAINTEXT): a plaintext listener.
#     The mode is fixed when the data is formatted: `down` before switching. With
#     BENCH_KAFKA_BOOTSTRAP (an external broker) any protocol: the probe uses the same settings.
# Messages go to stderr; only `env` / the end of `up` write to stdout.
set -euo pipefail
# No job control: background children then stay out of their own process group, so
# `setsid` below execs in place and $! is the server's real pid (with -m it would fork).
set +m

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SVC=$ROOT/scripts/services
CACHE=${BENCH_SERVICES_HOME:-${HOME:-/root}/.cache/benchmarks-services}
STATE=${BENCH_SERVICES_STATE:-/tmp/benchmarks-services}
KAFKA_PORT=${BENCH_KAFKA_PORT:-9092}
KAFKA_CTRL_PORT=${BENCH_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
MONGO_PORT=${BENCH_MONGO_PORT:-27017}
TIMEOUT=${BENCH_SERVICES_TIMEOUT:-120}
STOP_TIMEOUT=${BENCH_SERVICES_STOP_TIMEOUT:-30}
KAFKA_JAVA_OPTS=${BENCH_KAFKA_JAVA_OPTS:--Xms128m -Xmx512m}
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
# External servers: when set, we neither start nor stop that service.
EXT_KAFKA=${BENCH_KAFKA_BOOTSTRAP:-}
EXT_MONGO=${BENCH_MONGO_URL:-}
KAFKA_BOOTSTRAP=${EXT_KAFKA:-127.0.0.1:$KAFKA_PORT}
MONGO_URL=${EXT_MONGO:-mongodb://127.0.0.1:$MONGO_PORT/}
KAFKA_SECURITY=$(tr '[:lower:]' '[:upper:]' <<<"${BENCH_KAFKA_SECURITY_PROTOCOL:-PLAINTEXT}")
SASL_MECHANISM=$(tr '[:lower:]' '[:upper:]' <<<"${BENCH_KAFKA_SASL_MECHANISM:-}")
SASL_USER=${BENCH_KAFKA_SASL_USERNAME:-}
SASL_PASSWORD=${BENCH_KAFKA_SASL_PASSWORD:-}

if [[ -n ${BENCH_PYTHON:-} ]]; then PY=$BENCH_PYTHON
elif [[ -x $ROOT/.venv/bin/python ]]; then PY=$ROOT/.venv/bin/python
else PY=$(command -v python3 || true); fi
[[ -z $PY ]] || command -v "$PY" >/dev/null || { echo "[services] ERROR: BENCH_PYTHON=$PY not found" >&2; exit 1; }

log() { echo "[services] $*" >&2; }
die() { echo "[services] ERROR: $*" >&2; exit 1; }
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# ---------------------------------------------------------------- helpers
# Short content hash of the given files: cache dirs are keyed by it, so editing
# the pom / Go wrapper automatically triggers a fresh install.

tcp_open() { timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# pid from $1's pid file if that process is alive AND is ours (guards against pid reuse).
live_pid() {
  local pidf=$STATE/$1.pid pid marker
  [[ -f $pidf ]] || return 1
  pid=$(cat "$pidf" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  case $1 in kafka) marker=kafka.Kafka ;; ferretdb) marker=bench-ferretdb ;; esac
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "$marker" || return 1
  echo "$pid"
}

kafka_healthy() {
  local host=${KAFKA_BOOTSTRAP%%,*}
  tcp_open "${host%:*}" "${host##*:}" || return 1
  if [[ -n $PY ]]; then
    "$PY" "$SVC/healthcheck.py" kafka "$KAFKA_BOOTSTRAP" 2>>"$STATE/health.log"
  else # no python: a broker we started logs this once it serves requests
    [[ -n $EXT_KAFKA ]] || grep -q 'Kafka Server started' "$STATE/kafka.log" 2>/dev/null
  fi
}

mongo_healthy() {
  local hp=${MONGO_URL#*://}; hp=${hp#*@}; hp=${hp%%[/?,]*}
  [[ $hp == *:* ]] || hp=$hp:27017
  tcp_open "${hp%:*}" "${hp##*:}" || return 1
  [[ -z $PY ]] || "$PY" "$SVC/healthcheck.py" mongo "$MONGO_URL" 2>>"$STATE/health.log"
}

print_env() {
  echo "export BENCH_KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP"
  echo "export BENCH_MONGO_URL=$MONGO_URL"
  if [[ $KAFKA_SECURITY != PLAINTEXT ]]; then # never the password: it stays where it was given
    echo "export BENCH_KAFKA_SECURITY_PROTOCOL=$KAFKA_SECURITY"
    [[ -z $SASL_MECHANISM ]] || echo "export BENCH_KAFKA_SASL_MECHANISM=$SASL_MECHANISM"
    [[ -z $SASL_USER ]] || echo "export BENCH_KAFKA_SASL_USERNAME=$SASL_USER"
  fi
}

# ---------------------------------------------------------------- install
install_kafka() { # sets KAFKA_LIBS
  local dir
  dir=$CACHE/kafka-$(hash_of "$SVC/kafka/pom.xml")
  KAFKA_LIBS=$dir/libs
  [[ -f $dir/.complete ]] && return 0
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  log "installing Kafka jars from Maven Central into $dir (first run: ~1-2 min)..."
  local tmp=$dir.tmp.$$
  rm -rf "$tmp"
  if ! mvn_copy_deps "$SVC/kafka/pom.xml" "$tmp/libs"; then
    rm -rf "$tmp"; die "mvn failed to fetch Kafka jars"
  fi
  touch "$tmp/.complete"
  mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp" # lost a race with a parallel install: fine
  log "Kafka jars ready ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
}

install_ferretdb() { # sets FERRETDB_BIN
  command -v go >/dev/null || die "go not found (Go >= 1.24 is needed to build FerretDB)"
  local f=$SVC/ferretdb dir
  dir=$CACHE/ferretdb-$( (cat "$f/go.mod" "$f/go.sum" "$f/main.go"; go env GOVERSION) | sha256sum | cut -c1-12)
  FERRETDB_BIN=$dir/bench-ferretdb
  [[ -x $FERRETDB_BIN ]] && return 0
  log "building FerretDB with Go into $dir (first run: ~2-3 min)..."
  go_build "$f" "$FERRETDB_BIN" # FerretDB's SQLite is the pure-Go modernc.org/sqlite: no CGO needed
  log "FerretDB built: $FERRETDB_BIN"
}

check_java() {
  command -v "$JAVA" >/dev/null || die "java not found (Kafka 4 needs Java >= 17)"
  local v
  v=$(java_major "$JAVA")
  ((v >= 17)) || die "Kafka 4 needs Java >= 17, found '$v' ($JAVA)"
}

# ---------------------------------------------------------------- start
port_free_or_die() { # $1 port, $2 what, $3 hint
  ! tcp_open 127.0.0.1 "$1" || die "port $1 ($2) is already in use by another process; $3"
}

# The listener's protocol (PLAINTEXT or SASL_PLAINTEXT) and, for SASL, its mechanism and user:
# written next to the data when it is formatted (SCRAM users live in the metadata log).
kafka_mode() {
  if [[ $KAFKA_SECURITY == PLAINTEXT ]]; then echo PLAINTEXT; return; fi
  echo "$KAFKA_SECURITY $SASL_MECHANISM $SASL_USER $(printf '%s' "$SASL_PASSWORD" | sha256sum | cut -c1-16)"
}

check_kafka_security() {
  case $KAFKA_SECURITY in
    PLAINTEXT) return 0 ;;
    SASL_PLAINTEXT) ;;
    *) die "BENCH_KAFKA_SECURITY_PROTOCOL=$KAFKA_SECURITY: the Kafka started here listens with PLAINTEXT or SASL_PLAINTEXT only (for TLS, point BENCH_KAFKA_BOOTSTRAP at a broker that has it)" ;;
  esac
  case $SASL_MECHANISM in
    PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512) ;;
    *) die "BENCH_KAFKA_SASL_MECHANISM='$SASL_MECHANISM': PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with SASL_PLAINTEXT" ;;
  esac
  # they go into server.properties (JAAS) and the SCRAM bootstrap record unquoted
  local ok='^[A-Za-z0-9._+@-]+$'
  [[ $SASL_USER =~ $ok ]] || die "BENCH_KAFKA_SASL_USERNAME: set it (letters, digits and ._+@- only, for the local broker)"
  [[ $SASL_PASSWORD =~ $ok ]] || die "BENCH_KAFKA_SASL_PASSWORD: set it (letters, digits and ._+@- only, for the local broker)"
}

# server.properties lines for the client listener (named as its protocol) and inter-broker traffic.
kafka_listener_config() {
  if [[ $KAFKA_SECURITY == PLAINTEXT ]]; then
    echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    return
  fi
  local module=org.apache.kafka.common.security.scram.ScramLoginModule users=""
  if [[ $SASL_MECHANISM == PLAIN ]]; then
    module=org.apache.kafka.common.security.plain.PlainLoginModule
    users=" user_$SASL_USER=\"$SASL_PASSWORD\""
  fi
  local mechanism
  mechanism=$(tr '[:upper:]' '[:lower:]' <<<"$SASL_MECHANISM")
  echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
  echo "sasl.enabled.mechanisms=$SASL_MECHANISM"
  echo "sasl.mechanism.inter.broker.protocol=$SASL_MECHANISM"
  # the server side of the login, and the broker's own credentials for inter-broker requests
  echo "listener.name.sasl_plaintext.$mechanism.sasl.jaas.config=$module required username=\"$SASL_USER\" password=\"$SASL_PASSWORD\"$users;"
}

start_kafka() {
  check_java
  check_kafka_security
  install_kafka
  local d=$STATE/kafka listener=$KAFKA_SECURITY
  port_free_or_die "$KAFKA_PORT" kafka "set BENCH_KAFKA_PORT, or BENCH_KAFKA_BOOTSTRAP to use that server"
  port_free_or_die "$KAFKA_CTRL_PORT" "kafka controller" "set BENCH_KAFKA_CONTROLLER_PORT"
  if [[ -f $d/data/meta.properties && $(cat "$d/mode" 2>/dev/null || echo PLAINTEXT) != "$(kafka_mode)" ]]; then
    die "Kafka's data in $d was formatted for another BENCH_KAFKA_SECURITY_PROTOCOL / SASL user or password: run '$0 down' first"
  fi
  mkdir -p "$d"
  : >"$d/server.properties" && chmod 600 "$d/server.properties" # it may hold the SASL password
  cat >"$d/server.properties" <<EOF
# generated by scripts/services.sh: single node, combined broker + KRaft controller
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CTRL_PORT
listeners=$listener://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CTRL_PORT
advertised.listeners=$listener://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=$listener
$(kafka_listener_config)
log.dirs=$d/data
auto.create.topics.enable=true
num.partitions=1
# one broker: every internal topic must have replication factor 1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# fewer internal partitions (defaults 50) = faster first consumer group / transaction
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
EOF
  # Broker logs to stdout (-> kafka.log); tools log WARN+ to stderr so their stdout stays parseable.
  printf '%s\n' 'status = warn' 'appender.out.type = Console' 'appender.out.name = OUT' \
    'appender.out.layout.type = PatternLayout' 'appender.out.layout.pattern = [%d] %p %m (%c)%n' \
    'rootLogger.level = INFO' 'rootLogger.appenderRef.out.ref = OUT' >"$d/log4j2.properties"
  sed -e 's/rootLogger.level = INFO/rootLogger.level = WARN/' -e '$a appender.out.target = SYSTEM_ERR' \
    "$d/log4j2.properties" >"$d/tools-log4j2.properties"
  local tool=("$JAVA" -Xmx256m "-Dlog4j2.configurationFile=$d/tools-log4j2.properties" -cp "$KAFKA_LIBS/*")
  if [[ ! -f $d/data/meta.properties ]]; then
    local cid
    cid=$("${tool[@]}" kafka.tools.StorageTool random-uuid) || die "kafka StorageTool random-uuid failed"
    local scram=()
    [[ $SASL_MECHANISM != SCRAM-* ]] || scram=(--add-scram "$SASL_MECHANISM=[name=$SASL_USER,password=$SASL_PASSWORD]")
    log "formatting Kafka storage (cluster id $cid)"
    "${tool[@]}" kafka.tools.StorageTool format -t "$cid" -c "$d/server.properties" "${scram[@]}" >&2 ||
      die "kafka StorageTool format failed"
    kafka_mode >"$d/mode"
  fi
  log "starting Kafka on 127.0.0.1:$KAFKA_PORT${SASL_MECHANISM:+ (SASL $SASL_MECHANISM)} (log: $STATE/kafka.log)"
  # setsid: own session, so a Ctrl-C in the calling terminal does not reach the server.
  # log4j2.shutdownHookEnabled=false: keep logging while Kafka's own shutdown hook runs.
  # 9>&-: do not inherit the lock fd (see lock()), or the server would hold the lock forever.
  # shellcheck disable=SC2086  # KAFKA_JAVA_OPTS is a list of options
  nohup setsid "$JAVA" $KAFKA_JAVA_OPTS -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.shutdownHookEnabled=false \
    "-Dlog4j2.configurationFile=$d/log4j2.properties" -cp "$KAFKA_LIBS/*" \
    kafka.Kafka "$d/server.properties" >"$STATE/kafka.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/kafka.pid"
}

start_ferretdb() {
  install_ferretdb
  port_free_or_die "$MONGO_PORT" ferretdb "set BENCH_MONGO_PORT, or BENCH_MONGO_URL to use that server"
  mkdir -p "$STATE/ferretdb"
  log "starting FerretDB on 127.0.0.1:$MONGO_PORT (log: $STATE/ferretdb.log)"
  nohup setsid "$FERRETDB_BIN" -listen "127.0.0.1:$MONGO_PORT" -sqlite-dir "$STATE/ferretdb/data" \
    >"$STATE/ferretdb.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/ferretdb.pid"
}

# Waits until healthy, the deadline passes or (if we started it) the process dies.
wait_healthy() { # $1 kafka|ferretdb, $2 health function, $3 deadline (SECONDS), $4 address, $5 started by us (yes|no)
  local name=$1 check=$2 deadline=$3 addr=$4 own=$5
  while ! $check; do
    if [[ $own == yes ]] && ! live_pid "$name" >/dev/null; then
      fail "$name exited during start-up" "$name"
    fi
    if ((SECONDS >= deadline)); then
      if [[ $own == yes ]]; then fail "$name not healthy at $addr after ${TIMEOUT}s" "$name"; fi
      tail -n 5 "$STATE/health.log" >&2 2>/dev/null || true
      die "$name at $addr (given by the environment) not healthy after ${TIMEOUT}s"
    fi
    sleep 1
  done
  log "$name healthy at $addr"
}

fail() { # $1 message, $2 service whose log to show
  echo "[services] ---- last 40 lines of $STATE/$2.log ----" >&2
  tail -n 40 "$STATE/$2.log" >&2 2>/dev/null || true
  if [[ -s $STATE/health.log ]]; then
    echo "[services] ---- last health probe errors ----" >&2
    tail -n 3 "$STATE/health.log" >&2
  fi
  die "$1 (log: $STATE/$2.log; run '$0 down' to clean up)"
}

# ---------------------------------------------------------------- commands
lock() { # serialise up/down of the same state dir (e.g. parallel CI jobs)
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  command -v flock >/dev/null && { flock -w 600 9 || die "could not lock $STATE/.lock"; }
  : >"$STATE/health.log"
}

cmd_up() {
  lock
  local started=0 kown=no mown=no
  SECONDS=0
  if [[ -n $EXT_KAFKA ]]; then
    log "BENCH_KAFKA_BOOTSTRAP=$EXT_KAFKA given: not starting Kafka, only waiting for it"
  elif live_pid kafka >/dev/null; then
    [[ $(cat "$STATE/kafka/mode" 2>/dev/null || echo PLAINTEXT) == "$(kafka_mode)" ]] ||
      die "the Kafka running from $STATE has another BENCH_KAFKA_SECURITY_PROTOCOL / SASL user or password: run '$0 down' first"
    kown=yes; log "Kafka already running (pid $(live_pid kafka))"
  else
    kown=yes; start_kafka; started=1
  fi
  if [[ -n $EXT_MONGO ]]; then
    log "BENCH_MONGO_URL=$EXT_MONGO given: not starting FerretDB, only waiting for it"
  elif live_pid ferretdb >/dev/null; then
    mown=yes; log "FerretDB already running (pid $(live_pid ferretdb))"
  else
    mown=yes; start_ferretdb; started=1
  fi
  # The deadline starts after installing: a first-time download must not eat the wait budget.
  local deadline=$((SECONDS + TIMEOUT))
  wait_healthy kafka kafka_healthy "$deadline" "$KAFKA_BOOTSTRAP" "$kown"
  wait_healthy ferretdb mongo_healthy "$deadline" "$MONGO_URL" "$mown"
  if ((started)); then log "all services up in ${SECONDS}s"; else log "nothing to start: all healthy"; fi
  log "use: eval \"\$($0 env)\""
  print_env
}

stop_one() { # $1 kafka|ferretdb
  local pid i
  if pid=$(live_pid "$1"); then
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$1 did not stop within ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  else
    log "$1 not running"
  fi
  rm -f "$STATE/$1.pid"
  rm -rf "${STATE:?}/$1" # data: the next `up` starts from scratch (logs are kept)
}

cmd_down() {
  [[ -d $STATE ]] || { log "nothing to stop ($STATE does not exist)"; return 0; }
  lock
  stop_one kafka
  stop_one ferretdb
}

cmd_status() {
  mkdir -p "$STATE"
  local ok=0 pid
  if pid=$(live_pid kafka); then
    if kafka_healthy; then echo "kafka:    running, healthy (pid $pid, $KAFKA_BOOTSTRAP)"
    else echo "kafka:    running, NOT healthy yet (pid $pid, $KAFKA_BOOTSTRAP)"; ok=1; fi
  elif [[ -n $EXT_KAFKA ]] && kafka_healthy; then echo "kafka:    external, healthy ($EXT_KAFKA)"
  else echo "kafka:    not running"; ok=1; fi
  if pid=$(live_pid ferretdb); then
    if mongo_healthy; then echo "ferretdb: running, healthy (pid $pid, $MONGO_URL)"
    else echo "ferretdb: running, NOT healthy yet (pid $pid, $MONGO_URL)"; ok=1; fi
  elif [[ -n $EXT_MONGO ]] && mongo_healthy; then echo "ferretdb: external, healthy ($EXT_MONGO)"
  else echo "ferretdb: not running"; ok=1; fi
  return $ok
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) print_env ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
