"""No input can make a route answer 500 (issue 14, item 6): schemathesis fuzzes every operation of
the gateway's own OpenAPI document against a real gateway, with an admin key and without a key.

With the key, per operation: schemathesis's coverage cases (boundary and wrong-type values of
every parameter and body field: integers past their bounds, empty and oversized strings, missing
fields, unexpected methods), then COVERED_EXAMPLES cases Hypothesis draws from valid and invalid
inputs alike; then VALID_ROUNDS rounds of near-valid specs and suites (random ones never pass
validation, so the stores behind it would never see a fuzzed value). Without a key:
UNCOVERED_EXAMPLES cases per operation, with no key or a made-up one, which every /v1 route
must refuse with 401. Derandomized: the same cases every run, so a failure found once stays found.

    .venv/bin/python -m pytest tests/integration/test_api_fuzz.py -s   # -s prints the figures

No packet may leave the machine, even if the outbound policy were broken. A fuzzed spec may
name any dataset `url`, model `baseUrl` or credential URL, and the gateway resolves (DNS leaves
the machine) and fetches those on the request path. So every string of a generated body or query
that could name a host (a URL's host follows `//`) is rewritten to DISCARD_URL (loopback, port 9,
where nothing listens) before it is sent; the gateway also runs with an empty
BENCH_OUTBOUND_ALLOW, so it refuses even that loopback address; and the session sending the
requests refuses any host but 127.0.0.1.
"""

from __future__ import annotations

import json
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode

from tests.integration.conftest import Services, create_api_key

pytestmark = pytest.mark.integration

COVERED_EXAMPLES = 30
"""Hypothesis cases per operation with the key (besides the coverage cases)."""
UNCOVERED_EXAMPLES = 8
"""Hypothesis cases per operation without a valid key: the 401 comes before any input is read."""
VALID_ROUNDS = 25
"""Rounds of near-valid bodies (each a few requests: submit, store a suite, run, deploy, read, pin)."""
DISCARD_URL = "http://127.0.0.1:9/"
"""Where every generated URL points instead: loopback, the discard port, refused by the policy anyway."""
LOOPBACK = "127.0.0.1"


def loopback_only(value: Any) -> Any:
    """`value` with every string that could be a URL (a scheme, `//`, or starting like `http`)
    replaced by DISCARD_URL, at any depth: no fuzzed host name is ever resolved or fetched."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        return DISCARD_URL if "//" in lowered or ":/" in lowered or lowered.startswith("http") else value
    if isinstance(value, dict):
        return {key: loopback_only(item) for key, item in value.items()}
    if isinstance(value, list):
        return [loopback_only(item) for item in value]
    return value


class LoopbackSession(requests.Session):
    """Sends to 127.0.0.1 only (redirects included): a test bug cannot aim the fuzzer elsewhere."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        host = urlsplit(request.url or "").hostname
        assert host == LOOPBACK, f"the fuzzer may only talk to {LOOPBACK}, not {host!r}"
        return super().send(request, **kwargs)


@dataclass
class Tally:
    """What one run sent and got back."""

    name: str
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def send(
    case: Case,
    tally: Tally,
    session: requests.Session,
    base_url: str,
    authorization: str | None,
    expect: Callable[[Case, int], str | None],
) -> requests.Response | None:
    """Send `case` as `authorization` (None: no Authorization header) and note any server error
    or any status `expect` objects to; never raises for the answer, so that one run reports every
    failing case rather than stopping (and shrinking) at the first."""
    case.body = loopback_only(case.body)
    case.query = loopback_only(case.query)
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    if authorization is not None:
        headers["Authorization"] = authorization
    case.headers = headers
    try:
        response = case.call(base_url=base_url, session=session, timeout=60)
    except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError):
        response = None  # the HTTP client would not send it (a header it cannot encode): nothing reached the gateway
    tally.cases += 1
    if response is None:
        tally.statuses[0] += 1
        return None
    tally.statuses[response.status_code] += 1
    complaint = f"a server error {response.status_code}" if response.status_code >= 500 else expect(case, response.status_code)
    if complaint:
        tally.problems.append(f"{case.operation.label}: {complaint}: {response.text[:300]}\n    {case.as_curl_command()}")
    return response


def rounds(examples: int) -> settings:
    """`examples` reproducible cases (derandomized, nothing stored between runs), none shrunk."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )


def fuzz(
    operation: Any, examples: int, run: Callable[[Case, str | None], None], authorization: st.SearchStrategy[str | None]
) -> None:
    """`examples` Hypothesis cases of `operation`, valid and invalid ones alike, each passed to
    `run` with an Authorization header drawn from `authorization`."""
    modes = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]

    @rounds(examples)
    @given(st.one_of(modes), authorization)
    def each(case: Case, header: str | None) -> None:
        run(case, header)

    each()


def fuzz_valid(schema: Any, examples: int, call: Callable[[Case], requests.Response | None]) -> None:
    """`examples` rounds of near-valid requests, each feeding the next: a spec submitted, a suite
    stored, then a run of a stored suite, a deployment of one of its models, a benchmark read,
    compared and pinned; the bodies from SPECS and SUITES, the other parameters from schemathesis."""
    benchmarks: list[str] = []
    suites: dict[str, list[str]] = {}

    def draw(data: st.DataObject, path: str, method: str, **fixed: Any) -> Case:
        return data.draw(schema[path][method].as_strategy(GenerationMode.POSITIVE, **fixed))

    @rounds(examples)
    @given(st.data())
    def each(data: st.DataObject) -> None:
        # an error is kept, not raised: Hypothesis would replay the round to show it, and a round's
        # draws depend on what the gateway answered before, so the replay cannot match
        try:
            round_of(data)
        except Exception as exc:  # noqa: BLE001 - reported below, with its traceback
            errors.append("".join(traceback.format_exception(exc))[-3000:])

    errors: list[str] = []

    def round_of(data: st.DataObject) -> None:
        response = call(draw(data, "/v1/benchmarks", "POST", body=data.draw(SPECS)))
        if response is not None and response.status_code == 202:
            benchmarks.append(response.json()["benchmarkId"])
        suite = data.draw(SUITES)
        suite["name"] = f"{suite['name']}-{len(suites)}"[:100]  # mostly new: a 409 now and then
        response = call(draw(data, "/v1/suites", "POST", body=suite))
        if response is not None and response.status_code == 201:
            suites[suite["name"]] = [model_name(model) for model in suite["spec"]["models"]]
        if suites:
            name = data.draw(st.sampled_from(sorted(suites)))
            run = draw(data, "/v1/suites/{name}/runs", "POST", path_parameters={"name": name})
            if isinstance(run.body, dict) and data.draw(st.booleans()):  # some of the suite's own models
                kept = {k: v for k, v in run.body.items() if k in ("trigger", "reason")}
                run.body = {**kept, "models": data.draw(st.lists(st.sampled_from(suites[name]), unique=True))}
            call(run)
            deployment = draw(data, "/v1/deployments", "POST")
            if isinstance(deployment.body, dict):  # of a stored suite's model, with its own configuration
                kept = {k: v for k, v in deployment.body.items() if k not in ("tenant", "modelConfig", "endpoint")}
                deployment.body = {**kept, "suite": name, "model": data.draw(st.sampled_from(suites[name]))}
            call(deployment)
        if benchmarks:
            benchmark = data.draw(st.sampled_from(benchmarks))
            call(draw(data, "/v1/benchmarks/{benchmark_id}", "GET", path_parameters={"benchmark_id": benchmark}))
            against = data.draw(st.sampled_from([*benchmarks, "baseline"]))
            call(
                draw(
                    data,
                    "/v1/benchmarks/{benchmark_id}/compare",
                    "GET",
                    path_parameters={"benchmark_id": benchmark},
                    query={"against": against},
                )
            )
            pin = draw(
                data,
                "/v1/suites/{suite}/baseline",
                "PUT",
                path_parameters={"suite": data.draw(st.sampled_from(sorted(suites) or ["none"]))},
            )
            pin.body = {**(pin.body if isinstance(pin.body, dict) else {}), "benchmarkId": benchmark}
            call(pin)

    each()
    assert not errors, f"{len(errors)} near-valid rounds raised; the first:\n{errors[0]}"


# Specs the gateway accepts, or nearly: random specs almost never get past validation (a built-in
# model's id, records with the task type's fields), so without these the stores, quotas and
# queues behind it would never see a fuzzed value. Every bound is the schema's own, so the
# extremes (seeds of +-2^63, limits of 10^9, the largest finite tolerance) reach the stores.
KEYS = st.text(max_size=8) | st.sampled_from(["$where", "a.b", "x\x00y", "\ud800"])
"""A record's column names, those no store takes among them."""
ANY_JSON = st.recursive(  # 100-digit integers, lone surrogates (NaN: the client sends none)
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)
NAMES = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=200)
"""Names the spec allows (a control character refuses the whole body; the fuzzing above sends those)."""
FIELDS = {"summarization": ("document", "summary"), "qa": ("question", "answers"), "classification": ("text", "label")}
METRICS = {
    "summarization": ["rouge-1", "rouge-2", "rouge-l", "rouge-lsum", "bleu"],
    "qa": ["exact-match", "f1-score"],
    "classification": ["accuracy"],
}


def optional(strategy: st.SearchStrategy, **fields: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """A dict of `strategy`'s required keys and any of `fields`."""
    return st.tuples(strategy, st.fixed_dictionaries({}, optional=fields)).map(lambda parts: {**parts[0], **parts[1]})


BUILTIN = st.sampled_from(["builtin:lead", "builtin:extractive"]) | optional(
    st.fixed_dictionaries({"name": NAMES, "provider": st.just("builtin"), "model": st.sampled_from(["lead", "extractive"])}),
    params=st.fixed_dictionaries(
        {},
        optional={
            "temperature": st.floats(0, 2),
            "maxTokens": st.integers(1, 10**6),
            "seed": st.integers(-(2**63), 2**63 - 1),
            "stop": st.lists(st.text(max_size=10), max_size=3),
        },
    ),
    limits=st.fixed_dictionaries(
        {},
        optional={
            "concurrency": st.integers(1, 1024),
            "requestsPerMinute": st.integers(1, 10**9),
            "tokensPerMinute": st.integers(1, 10**12),
            "timeoutS": st.floats(0, 3600, exclude_min=True),
            "maxRetries": st.integers(0, 50),
            "budget": st.text(max_size=50),
        },
    ),
    pricing=st.fixed_dictionaries(
        {"promptPerMillion": st.floats(0, 1e9), "completionPerMillion": st.floats(0, 1e9)},
        optional={"currency": st.text(max_size=10)},
    ),
    cache=st.booleans(),
    headers=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=20), max_size=2),
)
REMOTE = st.fixed_dictionaries(
    {  # refused: the outbound policy allows no address at all here
        "name": NAMES,
        "provider": st.sampled_from(["openai", "anthropic"]),
        "baseUrl": st.just(DISCARD_URL),
    },
    optional={"credential": NAMES},
)
MODELS = st.one_of(*[BUILTIN] * 5, REMOTE)


def model_name(model: str | dict) -> str:
    return model["name"] if isinstance(model, dict) else model.partition(":")[2]


@st.composite
def tasks(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(sorted(FIELDS)))
    source, reference = FIELDS[kind]
    text = st.text(max_size=200)
    value = st.one_of(*[text] * 5, ANY_JSON)
    record = st.tuples(  # the task's fields, and more columns, which the task ignores but a suite stores
        st.dictionaries(KEYS, ANY_JSON, max_size=2),
        st.fixed_dictionaries(
            {source: value, reference: st.lists(st.text(max_size=20), min_size=1, max_size=3) if kind == "qa" else value},
            optional={"id": st.text(max_size=20) | st.integers(), "context": value},
        ),
    ).map(lambda parts: {**parts[0], **parts[1]})
    return draw(
        optional(
            st.fixed_dictionaries(
                {
                    "name": NAMES,
                    "type": st.just(kind),
                    "dataset": st.fixed_dictionaries(
                        {"records": st.lists(record, min_size=1, max_size=5)}, optional={"idField": st.text(max_size=10)}
                    ),
                }
            ),
            limit=st.integers(1, 10**9),
            seed=st.integers(-(2**63), 2**63 - 1),
            stemming=st.booleans(),
            metrics=st.lists(st.sampled_from(METRICS[kind]), unique=True, max_size=2),
            prompt=st.fixed_dictionaries(
                {},
                optional={
                    "fewShot": st.integers(0, 32),
                    "system": st.text(max_size=50),
                    "template": st.sampled_from(
                        [f"{{{source}}}", f"{{{source}}} {{labels}}", "}{", "{0}", f"{{{source}!r:>{{width}}}}"]
                    ),
                },
            ),
            **({"labels": st.lists(st.text(max_size=20), max_size=3)} if kind == "classification" else {}),
        )
    )


SPECS = optional(
    st.fixed_dictionaries(
        {
            "name": NAMES,
            "models": st.lists(MODELS, min_size=1, max_size=3, unique_by=model_name),
            "tasks": st.lists(tasks(), min_size=1, max_size=2, unique_by=lambda task: task["name"]),
        }
    ),
    tolerances=st.dictionaries(
        st.sampled_from(sorted({m for ms in METRICS.values() for m in ms})),
        st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    ),
)
SUITE_NAMES = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z")
SUITES = optional(
    st.fixed_dictionaries({"name": SUITE_NAMES, "spec": SPECS}),
    schedule=optional(
        st.fixed_dictionaries({"cron": st.sampled_from(["@daily", "0 3 * * 1", "*/5 * * * *", "59 23 31 12 *"])}),
        timezone=st.sampled_from(["UTC", "Europe/Berlin", "Pacific/Chatham", "Etc/GMT+12"]) | st.text(max_size=30),
    ),
    description=st.text(max_size=100),
)


def test_no_input_makes_the_gateway_answer_500(services: Services) -> None:
    started = time.monotonic()
    gateway = services.start(
        "gateway",
        BENCH_CREDENTIALS_KEY=Fernet.generate_key().decode(),
        BENCH_OUTBOUND_ALLOW="",  # no address is allowed that is not public, and no public one is ever named
        BENCH_QUOTAS=json.dumps({"fuzz": {"benchmarksInFlight": 100_000}}),  # accepted specs go on being stored, not 429s
    )
    key = create_api_key(services.settings, tenant="fuzz", role="admin", name="fuzzer")
    schema = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]

    coverage, fuzzed = Tally("coverage cases, with an admin key"), Tally("drawn cases, with an admin key")
    valid, without_key = Tally("near-valid cases, with an admin key"), Tally("drawn cases, without a valid key")
    admin = f"Bearer {key}"

    def accepted(case: Case, code: int) -> str | None:
        return "401 with a valid key" if code == 401 else None

    def refused(case: Case, code: int) -> str | None:
        # FastAPI parses a JSON body before it solves the route's dependencies (the key check): a
        # body that is not JSON at all gets its 400 first, which tells the caller nothing else
        unparsable = code == 400 and isinstance(case.body, bytes)
        return f"{code} instead of 401" if case.path.startswith("/v1/") and code != 401 and not unparsable else None

    # no key, or one that is not (schemathesis leaves the Authorization header to us)
    not_a_key = st.none() | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60).map("Bearer {}".format)
    with LoopbackSession() as session:
        for operation in operations:
            # what schemathesis's coverage phase sends (`schemathesis run --phases coverage`)
            config = schema.config.generation_for(operation=operation, phase="coverage")
            for case in schema.iter_coverage_cases(operation, generation_modes=list(GenerationMode), generation_config=config):
                send(case, coverage, session, gateway.url, admin, accepted)
            fuzz(
                operation,
                COVERED_EXAMPLES,
                lambda case, header: send(case, fuzzed, session, gateway.url, header, accepted),
                st.just(admin),
            )
        fuzz_valid(schema, VALID_ROUNDS, lambda case: send(case, valid, session, gateway.url, admin, accepted))
        for operation in operations:
            fuzz(
                operation,
                UNCOVERED_EXAMPLES,
                lambda case, header: send(case, without_key, session, gateway.url, header, refused),
                not_a_key,
            )

    elapsed = time.monotonic() - started
    tallies = (coverage, fuzzed, valid, without_key)
    print(f"\n{len(operations)} operations")
    for tally in tallies:
        print(f"{tally.cases:5} {tally.name}; statuses {dict(sorted(tally.statuses.items()))}")
    print(f"{sum(t.cases for t in tallies):5} cases in {elapsed:.1f} s (the gateway's start included)")
    problems = [problem for tally in tallies for problem in tally.problems]
    assert not problems, f"{len(problems)} cases failed:\n" + "\n".join(problems[:40])
    assert valid.statuses[202] and valid.statuses[201], f"too few specs were accepted to reach the stores: {valid.statuses}"
