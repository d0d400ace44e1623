#!/usr/bin/env bash
# Sets up .venv, runs the lint, format and type checks (scripts/lint.sh: ruff and mypy), starts
# Kafka and FerretDB (scripts/services.sh, unless BENCH_KAFKA_BOOTSTRAP / BENCH_MONGO_URL name
# running servers), installs the deploy and alerting tests' tools (scripts/deploy-tools.sh:
# kustomize, the compose checker, CRD schemas, prometheus and promtool) and runs the whole test
# suite. Extra arguments go to pytest. Servers this script started are stopped again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/lint.sh  # before any server starts: a finding fails the run at once
# Each prints export lines; assigned first so that its failure stops this script (set -e does
# not see a failure inside eval "$(...)")
tools_env=$(scripts/deploy-tools.sh)
eval "$tools_env"

if scripts/services.sh status >/dev/null 2>&1; then
  services_env=$(scripts/services.sh env)
else
  trap 'scripts/services.sh down' EXIT
  services_env=$(scripts/services.sh up)
fi
eval "$services_env"
.venv/bin/python -m pytest "$@"
