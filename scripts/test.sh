#!/usr/bin/env bash
# Sets up .venv, starts Kafka and FerretDB (scripts/services.sh, unless BENCH_KAFKA_BOOTSTRAP /
# BENCH_MONGO_URL name running servers), installs the deploy tests' tools (scripts/deploy-tools.sh:
# kustomize, the compose checker, CRD schemas) and runs the whole test suite. Extra arguments go
# to pytest. Servers this script started are stopped again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/deploy-tools.sh >/dev/null

if scripts/services.sh status >/dev/null 2>&1; then
  eval "$(scripts/services.sh env)"
else
  trap 'scripts/services.sh down' EXIT
  eval "$(scripts/services.sh up)"
fi
.venv/bin/python -m pytest "$@"
