"""Provider credentials against real Kafka and FerretDB: stored encrypted per tenant, sent only
to the URLs they are bound to, usable by their tenant alone, and found nowhere else afterwards:
no Kafka message of any topic, no MongoDB document, no report, no response and no service log
holds the secret."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.fernet import Fernet
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from shared import topics
from shared.credentials import CredentialRefused, CredentialStore
from shared.events import BenchmarkRequested, utc_now
from shared.results.mongo_store import scores_collection
from shared.settings import Settings
from shared.spec import parse_spec
from tests.fakes.model_server import FakeModelServer
from tests.integration.conftest import Kafka, Services, bearer, create_api_key, run_to_completion
from tests.waiting import wait_for_async

pytestmark = pytest.mark.integration

SECRET = "sk-live-credential-0f1e2d3c4b5a69788796a5b4"


@pytest.fixture
def provider() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


@pytest.fixture
def taker() -> Iterator[FakeModelServer]:
    """A server of the submitter's choosing, on another loopback port."""
    with FakeModelServer() as fake:
        yield fake


def _spec(base_url: str, *, credential: str = "provider", samples: int = 3) -> dict:
    records = [{"id": f"q{i}", "question": f"question {i}", "answers": [f"question {i}"]} for i in range(samples)]
    return {
        "name": "credentialed",
        "models": [{"name": "fake", "provider": "openai", "baseUrl": base_url, "credential": credential}],
        "tasks": [{"name": "qa", "type": "qa", "dataset": {"records": records}, "prompt": {"template": "{question}"}}],
    }


async def test_a_credential_goes_only_to_its_urls_for_its_tenant_and_nowhere_else(
    services: Services,
    kafka: Kafka,
    provider: FakeModelServer,
    taker: FakeModelServer,
    settings: Settings,
    mongo: AsyncMongoClient,
) -> None:
    operator_key = Fernet.generate_key().decode()
    gateway = services.start("gateway", BENCH_CREDENTIALS_KEY=operator_key)
    services.start("runner", BENCH_CREDENTIALS_KEY=operator_key)
    services.start("scorer")
    services.start("aggregator")
    team_a = httpx.Client(base_url=gateway.url, headers=bearer(create_api_key(settings, tenant="team-a")), timeout=30)
    team_b = httpx.Client(base_url=gateway.url, headers=bearer(create_api_key(settings, tenant="team-b")), timeout=30)
    responses: list[str] = []  # every body the gateway answered: none may hold the secret

    def call(client: httpx.Client, method: str, path: str, **options: object) -> httpx.Response:
        response = client.request(method, path, **options)
        responses.append(response.text)
        return response

    with team_a, team_b:
        # an admin stores it (201), replaces it (200); no route gives it back
        body = {"secret": SECRET, "urls": [f"{provider.url}/v1"]}
        assert call(team_a, "PUT", "/v1/credentials/provider", json={**body, "secret": "sk-first"}).status_code == 201
        replaced = call(team_a, "PUT", "/v1/credentials/provider", json=body)
        assert replaced.status_code == 200 and replaced.json()["urls"] == [f"{provider.url}/v1"]
        listed = call(team_a, "GET", "/v1/credentials").json()["items"]
        assert [(c["name"], c["urls"]) for c in listed] == [("provider", [f"{provider.url}/v1"])]
        assert call(team_b, "GET", "/v1/credentials").json()["items"] == []
        not_url = call(team_a, "PUT", "/v1/credentials/other", json={"secret": SECRET, "urls": ["ftp://x.example"]})
        assert not_url.status_code == 422 and SECRET not in not_url.text

        # tenant A's model gets the key, as its bearer, at the bound URL
        benchmark_id = run_to_completion(team_a, _spec(f"{provider.url}/v1"))
        report = call(team_a, "GET", f"/v1/benchmarks/{benchmark_id}").json()
        assert report["results"][0]["qa"]["exact-match"] == 100.0
        assert provider.stats().requests == 3
        assert {r.headers.get("authorization") for r in provider.stats().recent} == {f"Bearer {SECRET}"}

        # the gateway refuses a spec pointing the credential elsewhere, and tenant B naming it
        elsewhere = call(team_a, "POST", "/v1/benchmarks", json=_spec(f"{taker.url}/v1"))
        assert elsewhere.status_code == 422 and elsewhere.json()["detail"][0]["loc"] == ["body", "models", 0, "credential"]
        assert f"may only be sent to {provider.url}/v1, not to {taker.url}/v1" in elsewhere.json()["message"]
        borrowed = call(team_b, "POST", "/v1/benchmarks", json=_spec(f"{provider.url}/v1"))
        assert borrowed.status_code == 422 and "no credential named 'provider'" in borrowed.json()["message"]
        env = call(
            team_a,
            "POST",
            "/v1/benchmarks",
            json={
                **_spec(f"{provider.url}/v1"),
                "models": [
                    {"name": "fake", "provider": "openai", "baseUrl": f"{provider.url}/v1", "apiKeyEnv": "BENCH_MONGO_URL"}
                ],
            },
        )
        assert env.status_code == 422 and env.json()["detail"][0]["loc"] == ["body", "models", 0, "apiKeyEnv"]

        # ... and so does the runner, for the same requests sent straight to Kafka, past the gateway
        for tenant, benchmark, base_url in (("team-a", "bm_elsewhere", taker.url), ("team-b", "bm_borrowed", provider.url)):
            request = BenchmarkRequested(tenant=tenant, benchmark_id=benchmark, spec=parse_spec(_spec(f"{base_url}/v1")))
            await kafka.send(topics.BENCHMARKS_REQUESTED, request, key=benchmark)
        expected = {benchmark_id, "bm_elsewhere", "bm_borrowed"}
        # completions are announced at least once: the plan's and the last score's handlers may both announce
        completed = await kafka.read(
            topics.BENCHMARKS_COMPLETED, count=100, timeout=60, until=lambda got: {c["benchmarkId"] for c in got} >= expected
        )
        assert {c["benchmarkId"] for c in completed} == expected
        assert taker.stats().requests == 0 and provider.stats().requests == 3  # neither server heard from them
        database = mongo[settings.mongo_database]
        errors = {
            benchmark: doc["score"]["error"]
            for tenant, benchmark in (("team-a", "bm_elsewhere"), ("team-b", "bm_borrowed"))
            async for doc in database[scores_collection(tenant, benchmark)].find({})
        }
        assert f"credential 'provider' may only be sent to {provider.url}/v1, not to {taker.url}/v1" in errors["bm_elsewhere"]
        assert "tenant 'team-b' has no credential of that name" in errors["bm_borrowed"]
        stored = await database.benchmarks.find_one({"benchmarkId": "bm_elsewhere"})
        assert stored["report"]["details"][0]["errors"] == 3

        # suites, suite runs and deployments posted over HTTP are held to the same rules
        assert call(team_a, "PUT", "/v1/suites/weekly", json={"spec": _spec(f"{provider.url}/v1")}).status_code == 201
        keyed = {"name": "fake", "provider": "openai", "baseUrl": f"{provider.url}/v1", "apiKeyEnv": "FAKE_API_KEY"}
        run = call(team_a, "POST", "/v1/suites/weekly/runs", json={"modelConfigs": [keyed]})
        assert run.status_code == 422 and run.json()["detail"][0]["loc"][-1] == "apiKeyEnv"
        moved = call(team_a, "POST", "/v1/suites/weekly/runs", json={"endpoint": f"{taker.url}/v1"})
        assert moved.status_code == 422 and moved.json()["detail"][0]["loc"][-1] == "credential"
        deployed = {"model": "fake", "version": "2", "suite": "weekly"}
        for config, field in (
            (keyed, "apiKeyEnv"),
            ({**keyed, "apiKeyEnv": None, "baseUrl": f"{taker.url}/v1", "credential": "provider"}, "credential"),
        ):
            refused = call(team_a, "POST", "/v1/deployments", json={**deployed, "modelConfig": config})
            assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "modelConfig", field], (
                refused.text
            )
        assert taker.stats().requests == 0

        audit = call(team_a, "GET", "/v1/audit", params={"action": "credential.put"}).json()["items"]
        assert [entry["detail"]["urls"] for entry in audit] == [[f"{provider.url}/v1"]] * 2
        assert call(team_a, "DELETE", "/v1/credentials/provider").status_code == 204
        assert call(team_a, "DELETE", "/v1/credentials/provider").status_code == 404

    # the grep: the secret is nowhere but in the requests to the bound server
    documents = [
        json.dumps(document, default=str)
        for name in await database.list_collection_names()
        async for document in database[name].find()
    ]
    assert any("credential.put" in d for d in documents)  # the audit trail was searched too
    by_topic = await _every_message(settings)
    read = {topic.removeprefix(settings.topic_prefix) for topic, texts in by_topic.items() if texts}
    assert read >= {
        topics.BENCHMARKS_REQUESTED,
        topics.BENCHMARKS_WORK,
        topics.BENCHMARKS_OUTPUTS,
        topics.BENCHMARKS_SCORES,
        topics.BENCHMARKS_COMPLETED,
    }  # the topics were read
    messages = [text for texts in by_topic.values() for text in texts]
    logs = [service.log() for service in services.started]
    assert [
        place
        for place, texts in (("kafka", messages), ("mongodb", documents), ("responses", responses), ("logs", logs))
        if any(SECRET in text or "sk-first" in text for text in texts)
    ] == []


async def test_no_credential_is_stored_without_the_operators_key(services: Services) -> None:
    gateway = services.start("gateway")
    with gateway.client(timeout=30) as api:
        refused = api.put("/v1/credentials/provider", json={"secret": SECRET, "urls": ["http://127.0.0.1:9/v1"]})
        assert refused.status_code == 409 and refused.json()["detail"] == "the operator has not set BENCH_CREDENTIALS_KEY"
        assert api.get("/v1/credentials").json()["items"] == []
        assert api.delete("/v1/credentials/provider").status_code == 404


async def test_the_store_re_encrypts_under_a_rotated_key_and_never_reads_the_ciphertext_out(
    settings: Settings, mongo: AsyncMongoClient
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    database = mongo[settings.mongo_database]
    before = CredentialStore(database, keys=SecretStr(old))
    assert await before.put("team-a", "provider", secret=SECRET, urls=["http://127.0.0.1:8001/v1"], by="admin", now=utc_now())
    document = await database.credentials.find_one({"_id": json.dumps(["team-a", "provider"])})
    assert SECRET not in json.dumps(document, default=str)
    assert "ciphertext" not in repr(await before.get("team-a", "provider")) and len(await before.list("team-a")) == 1

    with pytest.raises(CredentialRefused, match="cannot be decrypted"):
        await CredentialStore(database, keys=SecretStr(new)).resolve("team-a", "provider", "http://127.0.0.1:8001/v1")
    rotated = CredentialStore(database, keys=SecretStr(f"{new},{old}"))
    assert await rotated.resolve("team-a", "provider", "http://127.0.0.1:8001/v1/chat") == SECRET  # re-encrypted now
    assert (
        await CredentialStore(database, keys=SecretStr(new)).resolve("team-a", "provider", "http://127.0.0.1:8001/v1") == SECRET
    )

    with pytest.raises(CredentialRefused, match=r"may only be sent to http://127.0.0.1:8001/v1, not to http://127.0.0.1:8002/v1"):
        await rotated.resolve("team-a", "provider", "http://127.0.0.1:8002/v1")
    with pytest.raises(CredentialRefused, match="tenant 'team-b' has no credential"):
        await rotated.resolve("team-b", "provider", "http://127.0.0.1:8001/v1")
    assert not await rotated.put("team-a", "provider", secret="sk-2", urls=["http://127.0.0.1:8003"], by="admin", now=utc_now())
    assert (await rotated.get("team-a", "provider")).urls == ("http://127.0.0.1:8003",)
    assert (await rotated.delete("team-a", "provider")) is not None and await rotated.delete("team-a", "provider") is None


async def _every_message(settings: Settings) -> dict[str, list[str]]:
    """Every key, header and value of every topic of this test's deployment, from the start."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(settings.topic_prefix)]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    partitions = [TopicPartition(topic["topic"], p["partition"]) for topic in described for p in topic["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        texts: dict[str, list[str]] = {partition.topic: [] for partition in partitions}
        behind: list[TopicPartition] = []

        async def read_to_the_end() -> bool:
            behind[:] = [p for p in partitions if await consumer.position(p) < ends[p]]
            if not behind:
                return True
            for partition, records in (await consumer.getmany(timeout_ms=1000)).items():
                for record in records:
                    parts = [record.key or b"", record.value or b"", *(value for _, value in record.headers)]
                    texts[partition.topic].append(b"\n".join(parts).decode(errors="replace"))
            return False

        await wait_for_async(
            "every partition of the test's topics read to its end",
            read_to_the_end,
            timeout=120,
            interval=0,
            detail=lambda: "still behind: " + ", ".join(f"{p.topic}[{p.partition}]" for p in behind),
        )
        return texts
    finally:
        await consumer.stop()
