#!/usr/bin/env bash
# The distributed shape on one machine: Kafka + FerretDB (scripts/services.sh) and the four
# services (`benchmarks serve ...`), each its own process, logs under the state folder.
#
#   scripts/dev.sh up       start everything (idempotent), wait until each service is ready
#   scripts/dev.sh down     stop the services, then Kafka and FerretDB (their data is deleted)
#   scripts/dev.sh status   what runs
#
# Then, with the admin key `up` prints (kept in $STATE/api-key, readable by you only):
#   export BENCH_API_KEY=$(cat /tmp/benchmarks-services/dev/api-key)
#   .venv/bin/benchmarks submit examples/quickstart.yaml --wait
# Ports: gateway 8000, runner 8001, scorer 8002, aggregator 8003 (BENCH_<SERVICE>_PORT).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STATE=${BENCH_SERVICES_STATE:-/tmp/benchmarks-services}/dev
SERVICES=(aggregator scorer runner gateway)

log() { echo "[dev] $*" >&2; }

port_of() {
  case $1 in
    gateway) echo "${BENCH_GATEWAY_PORT:-8000}" ;; runner) echo "${BENCH_RUNNER_PORT:-8001}" ;;
    scorer) echo "${BENCH_SCORER_PORT:-8002}" ;; aggregator) echo "${BENCH_AGGREGATOR_PORT:-8003}" ;;
  esac
}

running() { [[ -f $STATE/$1.pid ]] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

wait_ready() { # $1 service
  local url="http://127.0.0.1:$(port_of "$1")/readyz" i
  for ((i = 0; i < 120; i++)); do
    if .venv/bin/python -c "import httpx, sys; sys.exit(httpx.get('$url', timeout=3).status_code != 200)" 2>/dev/null; then
      log "$1 ready ($url)"
      return 0
    fi
    running "$1" || { tail -n 30 "$STATE/$1.log" >&2; log "$1 exited during start-up (log: $STATE/$1.log)"; exit 1; }
    sleep 0.5
  done
  tail -n 30 "$STATE/$1.log" >&2
  log "$1 not ready after 60s (log: $STATE/$1.log)"
  exit 1
}

cmd_up() {
  scripts/setup.sh
  eval "$(scripts/services.sh up)"
  # the dev shape may call models and fetch datasets on this machine (Ollama, vLLM, a file server
  # on localhost); a shared deployment allows only what its operator lists
  export BENCH_OUTBOUND_ALLOW=${BENCH_OUTBOUND_ALLOW:-127.0.0.0/8,::1}
  mkdir -p "$STATE"
  for service in "${SERVICES[@]}"; do
    if running "$service"; then
      log "$service already running (pid $(cat "$STATE/$service.pid"))"
      continue
    fi
    nohup setsid .venv/bin/benchmarks serve "$service" >"$STATE/$service.log" 2>&1 </dev/null &
    echo $! >"$STATE/$service.pid"
  done
  for service in "${SERVICES[@]}"; do wait_ready "$service"; done
  dev_key
  log "gateway at http://127.0.0.1:$(port_of gateway) (API docs: /docs); an admin key of tenant 'default' is in $STATE/api-key. Try:"
  log "  export BENCH_API_KEY=\$(cat $STATE/api-key)"
  log "  .venv/bin/benchmarks submit examples/quickstart.yaml --wait"
}

dev_key() { # the newcomer's admin key: made once per database (down deletes both), never a default one
  local url="http://127.0.0.1:$(port_of gateway)/v1/keys"
  if [[ -s $STATE/api-key ]] && BENCH_API_KEY=$(cat "$STATE/api-key") .venv/bin/python -c \
      "import httpx, os, sys; sys.exit(httpx.get('$url', headers={'Authorization': 'Bearer ' + os.environ['BENCH_API_KEY']}, timeout=10).status_code != 200)"; then
    return 0
  fi
  (umask 077 && .venv/bin/benchmarks keys bootstrap --tenant default --name dev-admin 2>/dev/null >"$STATE/api-key")
  log "created an admin key for tenant 'default' ($STATE/api-key)"
}

cmd_down() {
  local service pid
  for service in "${SERVICES[@]}"; do
    if running "$service"; then
      pid=$(cat "$STATE/$service.pid")
      log "stopping $service (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/$service.pid"
  done
  rm -f "$STATE/api-key"  # its database goes with the data
  scripts/services.sh down
}

cmd_status() {
  scripts/services.sh status || true
  for service in "${SERVICES[@]}"; do
    if running "$service"; then echo "$service: running (pid $(cat "$STATE/$service.pid"), port $(port_of "$service"))"
    else echo "$service: not running"; fi
  done
}

case ${1:-} in
  up) cmd_up ;; down) cmd_down ;; status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
