#!/usr/bin/env bash
# The whole test suite N times in a row (default 3) beside two CPU-burning processes: tests must
# hold on a busy machine (no wall-clock assertions, every wait has a deadline). Prints one line
# per run; exits non-zero if any run failed. The burners are bounded (timeout) and killed at the end.
#   scripts/stress-tests.sh [RUNS]
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
scripts/setup.sh >/dev/null
eval "$(scripts/services.sh up)"
trap 'kill "${burners[@]}" 2>/dev/null; scripts/services.sh down >/dev/null 2>&1' EXIT
burners=()
for _ in 1 2; do timeout $((runs * 1800)) python3 -c 'while True: pass' & burners+=($!); done
failed=0
for ((run = 1; run <= runs; run++)); do
  start=$(date +%s)
  .venv/bin/python -m pytest -q -p no:cacheprovider >"/tmp/stress-tests-run$run.log" 2>&1 || failed=1
  echo "run $run: $(( $(date +%s) - start ))s, $(tail -1 "/tmp/stress-tests-run$run.log") (log: /tmp/stress-tests-run$run.log)"
done
exit $failed
