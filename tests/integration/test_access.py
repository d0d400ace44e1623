"""Who may do what: every /v1 route x every role x own tenant / another tenant / no key, against
the four real services (a benchmark of tenant team-a runs end to end under its tenant), plus
quotas (429) and the audit trail."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from cryptography.fernet import Fernet

from shared import topics
from tests.integration.conftest import Kafka, Services, bearer, create_api_key, run_to_completion

pytestmark = pytest.mark.integration

ROLES = ("reader", "submitter", "admin")
RECORDS = [
    {"id": f"q{i}", "context": f"The answer is {i}.", "question": "What is the answer?", "answers": [str(i)]} for i in range(6)
]


def spec(name: str = "access", suite: str | None = None) -> dict:
    return {
        "name": name,
        **({"suite": suite} if suite else {}),
        "models": ["builtin:lead"],
        "tasks": [{"name": "qa", "type": "qa", "dataset": {"records": RECORDS}}],
    }


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """`{id}`, `{suite}`, `{key}`, `{credential}` name a fresh resource of tenant team-a; `{new}` a name not used yet."""
    needs: str
    ok: int
    body: Callable[[], dict] | None = None
    other: int = 404
    """What a key of another tenant gets for the same path (never 403: that would confirm it exists)."""


_names = (f"s{i}" for i in itertools.count())
ROUTES = [
    Route("GET", "/v1/benchmarks", "reader", 200, other=200),
    Route("POST", "/v1/benchmarks", "submitter", 202, lambda: spec(), other=202),
    Route("GET", "/v1/benchmarks/{id}", "reader", 200),
    Route("GET", "/v1/benchmarks/{id}/compare?against={id}", "reader", 200),
    Route("GET", "/v1/suites", "reader", 200, other=200),
    Route("POST", "/v1/suites", "admin", 201, lambda: {"name": next(_names), "spec": spec()}, other=201),
    Route("GET", "/v1/suites/{suite}", "reader", 200),
    Route("PUT", "/v1/suites/{suite}", "admin", 200, lambda: {"spec": spec()}, other=201),  # the other tenant's own, new suite
    Route("DELETE", "/v1/suites/{suite}", "admin", 204),
    Route("POST", "/v1/suites/{suite}/runs", "submitter", 202, dict),
    Route("GET", "/v1/suites/base/baseline", "reader", 200),  # the other tenant's `base` has none pinned
    Route("PUT", "/v1/suites/base/baseline", "admin", 200, lambda: {"benchmarkId": "{id}"}, other=422),
    Route(
        "POST",
        "/v1/deployments",
        "submitter",
        202,
        lambda: {"model": "lead", "version": next(_names), "suite": "{suite}"},
        other=422,
    ),
    Route("GET", "/v1/keys", "admin", 200, other=200),
    Route("POST", "/v1/keys", "admin", 201, lambda: {"name": "made-by-matrix", "role": "reader"}, other=201),
    Route("DELETE", "/v1/keys/{key}", "admin", 200),
    Route("GET", "/v1/audit", "admin", 200, other=200),
    Route("GET", "/v1/credentials", "admin", 200, other=200),
    Route(
        "PUT",
        "/v1/credentials/{new}",
        "admin",
        201,
        lambda: {"secret": "sk-matrix", "urls": ["https://api.example.com/v1"]},
        other=201,
    ),
    Route("DELETE", "/v1/credentials/{credential}", "admin", 204),
]


class Tenant:
    """A tenant's keys (one per role) and, made on demand, resources a route may act on."""

    def __init__(self, services: Services, gateway_url: str, name: str, completed_id: str) -> None:
        self.name = name
        self.keys = {role: create_api_key(services.settings, tenant=name, role=role, name=f"{name}-{role}") for role in ROLES}
        self.api = httpx.Client(base_url=gateway_url, headers=bearer(self.keys["admin"]), timeout=30)
        self.completed_id = completed_id
        """A completed benchmark of this tenant's suite `base` (pinned as its baseline by the owner, team-a)."""

    def __enter__(self) -> Tenant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.close()

    def fill(self, text: str) -> str:
        """A fresh resource for each placeholder: deleting one never spoils the next case."""
        if "{suite}" in text:
            suite = next(_names)
            assert self.api.put(f"/v1/suites/{suite}", json={"spec": spec(suite=suite)}).status_code == 201
            text = text.replace("{suite}", suite)
        if "{key}" in text:
            made = self.api.post("/v1/keys", json={"name": "to-revoke", "role": "reader"}).json()
            text = text.replace("{key}", made["keyId"])
        if "{credential}" in text:
            name = next(_names)
            self.api.put(f"/v1/credentials/{name}", json={"secret": "sk-x", "urls": ["https://api.example.com/v1"]})
            text = text.replace("{credential}", name)
        return text.replace("{id}", self.completed_id).replace("{new}", next(_names))


def _call(gateway_url: str, route: Route, owner: Tenant, key: str | None) -> httpx.Response:
    path = owner.fill(route.path)
    body = json.loads(owner.fill(json.dumps(route.body()))) if route.body else None
    return httpx.request(route.method, gateway_url + path, json=body, headers=bearer(key) if key else {}, timeout=30)


async def test_every_route_by_role_tenant_and_key(services: Services, kafka: Kafka) -> None:
    for name in ("runner", "scorer", "aggregator"):
        services.start(name)
    gateway = services.start("gateway", BENCH_CREDENTIALS_KEY=Fernet.generate_key().decode())
    admin_a = create_api_key(services.settings, tenant="team-a", role="admin", name="alice")
    with httpx.Client(base_url=gateway.url, headers=bearer(admin_a), timeout=30) as api:
        assert api.put("/v1/suites/base", json={"spec": spec(suite="base")}).status_code == 201
        base_a = run_to_completion(api, spec(suite="base"))  # planned, run, scored, aggregated as team-a
    admin_b = create_api_key(services.settings, tenant="team-b", role="admin", name="bob")
    with httpx.Client(base_url=gateway.url, headers=bearer(admin_b), timeout=30) as api:
        assert api.put("/v1/suites/base", json={"spec": spec(suite="base")}).status_code == 201
        base_b = run_to_completion(api, spec(suite="base"))
    with Tenant(services, gateway.url, "team-a", base_a) as a, Tenant(services, gateway.url, "team-b", base_b) as b:
        await _check_matrix(gateway.url, a, b, kafka, services)


async def _check_matrix(gateway_url: str, a: Tenant, b: Tenant, kafka: Kafka, services: Services) -> None:
    base_a, base_b = a.completed_id, b.completed_id
    assert a.api.put("/v1/suites/base/baseline", json={"benchmarkId": base_a}).status_code == 200
    # team-b cannot pin team-a's run, even for its own suite of the same name: no such benchmark
    assert "no benchmark" in b.api.put("/v1/suites/base/baseline", json={"benchmarkId": base_a}).json()["message"]

    wrong: list[str] = []

    def expect(what: str, response: httpx.Response, status: int) -> None:
        if response.status_code != status:
            wrong.append(f"{what}: {response.status_code} (expected {status}) {response.text[:200]}")

    revoked = create_api_key(services.settings, tenant="team-a", role="admin", name="revoked")
    assert a.api.delete(f"/v1/keys/{revoked.split('_')[1]}").status_code == 200
    for route in ROUTES:
        label = f"{route.method} {route.path}"
        for role in ROLES:
            allowed = ROLES.index(role) >= ROLES.index(route.needs)
            expect(f"{label} as {role}", _call(gateway_url, route, a, a.keys[role]), route.ok if allowed else 403)
        expect(f"{label} by the other tenant", _call(gateway_url, route, a, b.keys["admin"]), route.other)
        for name, key in (("no key", None), ("a revoked key", revoked), ("a malformed key", "not-a-key")):
            response = _call(gateway_url, route, a, key)
            expect(f"{label} with {name}", response, 401)
            if response.status_code == 401 and response.headers.get("www-authenticate") != "Bearer":
                wrong.append(f"{label} with {name}: 401 without WWW-Authenticate: Bearer")
    assert not wrong, "\n".join(wrong)

    # a 403 and a 401 say why
    refused = httpx.post(f"{gateway_url}/v1/benchmarks", json=spec(), headers=bearer(a.keys["reader"]))
    assert "has the role 'reader'; this needs 'submitter'" in refused.json()["detail"]
    assert "was revoked at" in httpx.get(f"{gateway_url}/v1/benchmarks", headers=bearer(revoked)).json()["detail"]
    assert "missing API key" in httpx.get(f"{gateway_url}/v1/benchmarks").json()["detail"]
    garbage = httpx.post(f"{gateway_url}/v1/benchmarks", content=b"{not json", headers={"content-type": "application/json"})
    assert garbage.status_code == 401, "without a key, the body is not even read"

    # nothing of team-a is visible to team-b: lists, keys, audit, events' tenants
    listed_b = b.api.get("/v1/benchmarks", params={"limit": 100}).json()["items"]
    assert base_a not in {item["benchmarkId"] for item in listed_b} and base_b in {item["benchmarkId"] for item in listed_b}
    assert {k["tenant"] for k in b.api.get("/v1/keys").json()["items"]} == {"team-b"}
    assert "alice (" not in json.dumps(b.api.get("/v1/audit", params={"limit": 500}).json())
    requested = await kafka.read(
        topics.BENCHMARKS_REQUESTED, count=2, until=lambda got: {base_a, base_b} <= {m["benchmarkId"] for m in got}
    )
    by_id = {m["benchmarkId"]: m for m in requested}
    assert by_id[base_a]["tenant"] == "team-a" and by_id[base_a]["_key"] == f"team-a/{base_a}"
    assert by_id[base_b]["tenant"] == "team-b"
    secrets = [*a.keys.values(), *b.keys.values(), revoked]
    assert not [s.name for s in services.started if any(secret in s.log() for secret in secrets)], "an API key in a log"


async def test_audit_fields_come_from_the_key_and_changes_are_audited(services: Services) -> None:
    gateway = services.start("gateway")
    admin = create_api_key(services.settings, tenant="team-a", role="admin", name="alice")
    ci = create_api_key(services.settings, tenant="team-a", role="submitter", name="ci-bot")
    with httpx.Client(base_url=gateway.url, headers=bearer(ci), timeout=30) as api:
        submitted = api.post(
            "/v1/benchmarks", json=spec(), params={"trigger": "ci", "requestedBy": "anyone@example.org", "reason": "build 7"}
        )
        assert submitted.status_code == 202
        record = api.get(submitted.json()["location"]).json()
        assert record["requestedBy"].startswith("ci-bot (") and record["trigger"] == "ci" and record["triggerDetail"] == "build 7"
        # the tenant comes from the key, never from the body
        foreign = api.post("/v1/deployments", json={"model": "lead", "version": "1", "suite": "s", "tenant": "team-b"})
        assert foreign.status_code == 422 and foreign.json()["detail"][0]["loc"] == ["body", "tenant"]
    with httpx.Client(base_url=gateway.url, headers=bearer(admin), timeout=30) as api:
        assert api.put("/v1/suites/nightly", json={"spec": spec(suite="nightly")}).status_code == 201
        made = api.post("/v1/keys", json={"name": "grafana", "role": "reader"}).json()
        assert made["key"].startswith("bk_") and "key" not in api.get("/v1/keys").json()["items"][0]
        assert api.delete(f"/v1/keys/{made['keyId']}").json()["revokedBy"].startswith("alice (")
        assert api.delete("/v1/suites/nightly").status_code == 204
        trail = api.get("/v1/audit").json()["items"]
    actions = [(entry["action"], entry["target"], entry["actor"].split(" (")[0]) for entry in trail]
    assert actions == [
        ("suite.delete", "nightly", "alice"),
        ("key.revoke", made["keyId"], "alice"),
        ("key.create", made["keyId"], "alice"),
        ("suite.create", "nightly", "alice"),
    ]
    assert made["key"] not in json.dumps(trail)


async def test_quotas_refuse_with_429_naming_the_quota(services: Services) -> None:
    quotas = {"team-q": {"benchmarksInFlight": 2, "evaluationsPerDay": 15, "largestBenchmark": 10}}
    gateway = services.start("gateway", BENCH_QUOTAS=json.dumps(quotas))  # no runner: what is accepted stays pending
    key = create_api_key(services.settings, tenant="team-q", role="submitter", name="q")
    other = create_api_key(services.settings, tenant="team-r", role="submitter", name="r")

    def submit(records: int, who: str = key, **headers: str) -> httpx.Response:
        body = {**spec(), "tasks": [{**spec()["tasks"][0], "dataset": {"records": RECORDS[:records]}}]}
        return httpx.post(f"{gateway.url}/v1/benchmarks", json=body, headers={**bearer(who), **headers}, timeout=30)

    assert submit(6).status_code == 202
    assert submit(6, **{"Idempotency-Key": "one"}).status_code == 202
    busy = submit(1)
    assert busy.status_code == 429 and busy.json()["quota"] == "benchmarksInFlight" and busy.headers["retry-after"]
    assert "tenant 'team-q' has 2 benchmarks pending or running" in busy.json()["detail"]
    replay = submit(6, **{"Idempotency-Key": "one"})  # a replay is never refused: it is the same benchmark
    assert replay.status_code == 202 and replay.json()["replayed"] is True
    assert submit(6, who=other).status_code == 202  # another tenant's quota is its own


async def test_daily_and_size_quotas(services: Services) -> None:
    quotas = {"*": {"evaluationsPerDay": 10, "largestBenchmark": 5}}
    gateway = services.start("gateway", BENCH_QUOTAS=json.dumps(quotas))
    key = create_api_key(services.settings, tenant="team-d", role="submitter", name="d")

    def submit(records: int) -> httpx.Response:
        body = {**spec(), "tasks": [{**spec()["tasks"][0], "dataset": {"records": RECORDS[:records]}}]}
        return httpx.post(f"{gateway.url}/v1/benchmarks", json=body, headers=bearer(key), timeout=30)

    large = submit(6)
    assert large.status_code == 429 and large.json()["quota"] == "largestBenchmark" and "retry-after" not in large.headers
    assert submit(5).status_code == 202 and submit(5).status_code == 202
    daily = submit(1)
    assert daily.status_code == 429 and daily.json()["quota"] == "evaluationsPerDay"
    assert 86_000 < int(daily.headers["retry-after"]) <= 86_400  # when the oldest run leaves the 24-hour window
