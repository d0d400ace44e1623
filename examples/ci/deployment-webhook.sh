#!/usr/bin/env bash
# Tell the benchmarks gateway that a model version was deployed (POST /v1/deployments): the
# gateway runs SUITE on the model and compares it with the suite's baseline. Needs curl + python3.
#
#   deployment-webhook.sh [--wait] [--timeout S] [--deployed-by WHO] MODEL VERSION SUITE [ENDPOINT]
#
#   MODEL     the model's name in the suite (its baseline is the one compared with)
#   VERSION   the deployed version; one run per MODEL + VERSION (a repeat answers with the first run)
#   SUITE     the stored suite to run (benchmarks suite put FILE)
#   ENDPOINT  optional base URL of the deployed model (an OpenAI-compatible model's baseUrl)
#
# Prints the benchmark id on stdout. With --wait, polls GET /v1/benchmarks/ID until the run ends
# and exits like `benchmarks submit --wait --fail-on regressed`:
#   0 completed (unchanged, improved or no-baseline)  1 failed or timed out
#   2 refused or gateway unreachable                  3 regressed against the baseline
#
# Environment: BENCH_API_KEY (required) a submitter key of the gateway, sent as
#   `Authorization: Bearer ...` (an admin makes one: benchmarks keys create NAME --role submitter);
#   the run's requestedBy is the key's name, --deployed-by only appears in its triggerDetail.
#   BENCH_GATEWAY_URL (default http://127.0.0.1:8000).
set -euo pipefail

GATEWAY=${BENCH_GATEWAY_URL:-http://127.0.0.1:8000}
GATEWAY=${GATEWAY%/}
WAIT=no
TIMEOUT=3600
DEPLOYED_BY=${USER:-deployment-webhook}

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "error: $*" >&2; exit 2; }

ARGS=()
while (($#)); do
  case $1 in
    --wait) WAIT=yes ;;
    --timeout) TIMEOUT=${2:?--timeout needs seconds}; shift ;;
    --deployed-by) DEPLOYED_BY=${2:?--deployed-by needs a value}; shift ;;
    -h | --help) usage ;;
    -*) die "unknown option $1" ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
((${#ARGS[@]} == 3 || ${#ARGS[@]} == 4)) || usage
MODEL=${ARGS[0]} VERSION=${ARGS[1]} SUITE=${ARGS[2]} ENDPOINT=${ARGS[3]:-}
[[ -n ${BENCH_API_KEY:-} ]] ||
  die "BENCH_API_KEY is not set: export a submitter key of the gateway (an admin makes one with: benchmarks keys create NAME --role submitter)"

# auth: the header for curl's `-H @FILE`, so that the key is not on curl's command line (ps)
auth() { printf 'Authorization: Bearer %s\n' "$BENCH_API_KEY"; }

# json FIELD...: fields of the JSON object on stdin (a.b for nested ones), tab-separated, "-" if null
json() {
  python3 -c '
import functools, json, sys
data = json.load(sys.stdin)
get = lambda path: functools.reduce(lambda d, k: d.get(k) if isinstance(d, dict) else None, path.split("."), data)
print(*("-" if get(path) is None else get(path) for path in sys.argv[1:]), sep="\t")' "$@"
}
# reason: why the gateway refused (its "message" or "detail"), from the response on stdin
reason() {
  local body
  body=$(cat)
  python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("message") or d.get("detail"))' <<<"$body" 2>/dev/null || echo "$body"
}

# The event, built by python so that any value is quoted correctly (schema:
# docs/schemas/deployment-event.schema.json).
EVENT=$(python3 - "$MODEL" "$VERSION" "$SUITE" "$ENDPOINT" "$DEPLOYED_BY" <<'PY'
import json, sys
from datetime import datetime, timezone
model, version, suite, endpoint, deployed_by = sys.argv[1:]
event = {"model": model, "version": version, "suite": suite, "deployedBy": deployed_by,
         "deployedAt": datetime.now(timezone.utc).isoformat()}
if endpoint:
    event["endpoint"] = endpoint
print(json.dumps(event))
PY
)

RESPONSE=$(curl -sS -X POST "$GATEWAY/v1/deployments" -H @<(auth) -H 'content-type: application/json' \
  --data-binary "$EVENT" -w '\n%{http_code}') || die "cannot reach the gateway at $GATEWAY"
STATUS=${RESPONSE##*$'\n'}
BODY=${RESPONSE%$'\n'*}
case $STATUS in
  200 | 202) ;;
  *) die "POST /v1/deployments: HTTP $STATUS: $(reason <<<"$BODY")" ;;
esac
BENCHMARK_ID=$(json benchmarkId <<<"$BODY")
if [[ $(json duplicate <<<"$BODY") == True ]]; then
  echo "$MODEL $VERSION was reported before: its run is $BENCHMARK_ID" >&2
else
  echo "started $BENCHMARK_ID: suite '$SUITE' on $MODEL $VERSION" >&2
fi
echo "$BENCHMARK_ID"
[[ $WAIT == yes ]] || exit 0

deadline=$((SECONDS + TIMEOUT))
while :; do
  REPORT=$(curl -sS "$GATEWAY/v1/benchmarks/$BENCHMARK_ID" -H @<(auth) -w '\n%{http_code}') || die "cannot reach the gateway at $GATEWAY"
  [[ ${REPORT##*$'\n'} == 200 ]] || die "reading $BENCHMARK_ID: HTTP ${REPORT##*$'\n'}: $(reason <<<"${REPORT%$'\n'*}")"
  IFS=$'\t' read -r STATE VERDICT SCORED EXPECTED REASON \
    < <(json status verdict progress.scored progress.expected reason <<<"${REPORT%$'\n'*}")
  case $STATE in
    completed | failed) break ;;
  esac
  ((SECONDS < deadline)) || { echo "error: $BENCHMARK_ID is still $STATE after ${TIMEOUT}s" >&2; exit 1; }
  echo "$BENCHMARK_ID: $STATE, $SCORED of $EXPECTED samples scored" >&2
  sleep 2
done

case $VERDICT in
  regressed) echo "$BENCHMARK_ID: regressed against the baseline of suite '$SUITE'" >&2; exit 3 ;;
  failed) echo "$BENCHMARK_ID failed: $REASON" >&2; exit 1 ;;
  no-baseline) echo "$BENCHMARK_ID: completed; suite '$SUITE' has no baseline to compare with" >&2 ;;
  *) echo "$BENCHMARK_ID: $VERDICT against the baseline of suite '$SUITE'" >&2 ;;
esac
