#!/usr/bin/env bash
# Lint, format and type checks, configured in pyproject.toml ([tool.ruff], [tool.mypy]):
#   ruff check .            the lint rules
#   ruff format --check .   the formatting (fix with: .venv/bin/ruff format PATH...)
#   mypy                    the packages in [tool.mypy] files: strict on shared/ and the stage modules
# Each command is printed before it runs; all three run, and the script fails if any found anything.
# Needs .venv with the test extra (scripts/setup.sh). scripts/test.sh runs it before pytest.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
run() {
  echo "+ $*"
  "$@" || failed+=("$*")
}
run .venv/bin/ruff check .
run .venv/bin/ruff format --check .
run .venv/bin/mypy

if ((${#failed[@]})); then
  printf 'lint: failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "lint: ruff check, ruff format --check and mypy found nothing"
