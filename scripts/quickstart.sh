#!/usr/bin/env bash
# Sets up .venv and runs the quickstart benchmark on the embedded default (no servers, no keys).
# Extra arguments go to `benchmarks run`, e.g. --json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/benchmarks run examples/quickstart.yaml "$@"
