"""The four services against a Kafka that takes SASL only (docs/deployment.md, "Transport security").

A private broker (never the shared one the other tests use), started by `scripts/services.sh`
with the services' own settings BENCH_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT and SCRAM-SHA-256:
its only client listener wants that user and password. Then:

- a client without credentials gets nowhere, the four services with them become ready and a
  benchmark completes end to end;
- with a wrong password the gateway and a worker stop at start-up and say authentication failed;
- the password is in no service's log.

Every wait has a deadline and says what it waited for. Only loopback addresses are used.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from shared.settings import Settings
from tests.conftest import EXAMPLES
from tests.integration.conftest import free_port, isolated_settings, run_to_completion, settings_env
from tests.integration.faults import Pipeline, PrivateServers, pipeline  # noqa: F401 - a fixture, on the settings below

pytestmark = pytest.mark.integration

USER = "bench-services"
PASSWORD = f"sasl-{secrets.token_hex(12)}"  # services.sh writes it into the broker's JAAS line unquoted: [a-z0-9-] only
SASL = {
    "BENCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "BENCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
    "BENCH_KAFKA_SASL_USERNAME": USER,
}
# The gateway's /v1 routes want an API key by default; this test is about Kafka's transport, so
# it runs the gateway without keys and depends on nothing of that feature.
NO_API_KEYS = {"BENCH_AUTH_ENABLED": "false"}
RECORDS = 6


@pytest.fixture(scope="module")
def sasl_servers(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> PrivateServers:
    """A private Kafka (SASL listener, one SCRAM user) and FerretDB; always stopped, data deleted."""
    servers = PrivateServers(tmp_path_factory.mktemp("sasl-servers"))
    servers.env.update(SASL, BENCH_KAFKA_SASL_PASSWORD=PASSWORD)  # services.sh starts Kafka for these settings
    request.addfinalizer(servers.down)  # also when `up` fails half-way
    servers.up()
    return servers


@pytest.fixture
def fault_settings(sasl_servers: PrivateServers) -> Settings:
    """The services' settings (named as faults.pipeline asks for them): unique topics and database
    on the private servers. The SASL settings travel as variables (SASL, PASSWORD), not in this
    object: settings_env would write the SecretStr as its mask."""
    return isolated_settings(
        kafka_bootstrap=sasl_servers.kafka_bootstrap,
        mongo_url=sasl_servers.mongo_url,
        name="sasl",
        readiness_interval_s=1,
        scheduler_enabled=False,
        shutdown_timeout_s=5,
    )


def _summaries() -> dict:
    lines = (EXAMPLES / "data" / "summarization.jsonl").read_text().splitlines()[:RECORDS]
    return {
        "name": "over SASL",
        "models": ["builtin:lead"],
        "tasks": [
            {
                "name": "text-summarization",
                "type": "summarization",
                "dataset": {"records": [json.loads(line) for line in lines]},
                "metrics": ["rouge-1", "rouge-l"],
            }
        ],
    }


async def _refused_without_credentials(settings: Settings) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        return str(exc)
    finally:
        await admin.close()
    return ""


def _logs(tmp_path: Path) -> dict[str, str]:
    return {path.name: path.read_text(errors="replace") for path in sorted(tmp_path.glob("*.log"))}


def test_services_complete_a_benchmark_over_sasl_and_never_log_the_password(
    fault_settings: Settings, pipeline: Pipeline, tmp_path: Path
) -> None:
    assert asyncio.run(_refused_without_credentials(fault_settings)), "the SASL listener let in a client without credentials"

    started = time.monotonic()
    pipeline.start_all(**SASL, BENCH_KAFKA_SASL_PASSWORD=PASSWORD, **NO_API_KEYS)  # each waits for /readyz: Kafka answered
    with httpx.Client(base_url=pipeline.gateway, timeout=15) as api:
        benchmark_id = run_to_completion(api, _summaries(), timeout=90)
        report = api.get(f"/v1/benchmarks/{benchmark_id}").json()
    pipeline.stop_all()  # the services' logs are complete once they have exited (the fixture's stop is then a no-op)
    print(f"start-up and a benchmark over SASL: {time.monotonic() - started:.1f}s")

    assert report["status"] == "completed" and report["progress"] == {"scored": RECORDS, "expected": RECORDS}
    [lead] = report["results"]
    assert lead["model"] == "lead" and 0 < lead["text-summarization"]["rouge-1"] <= 1
    logs = _logs(tmp_path)
    assert set(logs) == {f"{name}-0.log" for name in ("gateway", "runner", "scorer", "aggregator")}
    assert not [name for name, text in logs.items() if PASSWORD in text], "the SASL password is in a service log"


def test_a_wrong_kafka_password_stops_the_services_at_start_up_naming_authentication(
    fault_settings: Settings, tmp_path: Path
) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    env = settings_env(fault_settings, **SASL, BENCH_KAFKA_SASL_PASSWORD=wrong, **NO_API_KEYS)
    benchmarks = str(Path(sys.executable).parent / "benchmarks")
    processes = {}
    for name in ("gateway", "scorer"):  # the API (its lifespan) and a worker (worker_app's start-up hook)
        with (tmp_path / f"{name}.log").open("wb") as log_file:
            processes[name] = subprocess.Popen(
                [benchmarks, "serve", name, "--port", str(free_port())], env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
    deadline = time.monotonic() + 60
    try:
        for name, process in processes.items():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pytest.fail(
                    f"the {name} did not exit within 60s of starting with a wrong Kafka password:\n"
                    f"{(tmp_path / f'{name}.log').read_text(errors='replace')[-3000:]}"
                )
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)

    logs = _logs(tmp_path)
    for name, process in processes.items():
        text = logs[f"{name}.log"]
        assert process.returncode != 0, f"the {name} exited with 0 despite the wrong password:\n{text[-3000:]}"
        assert "SaslAuthenticationFailed" in text and f"SCRAM-SHA-256 as user '{USER}'" in text, text[-3000:]
        assert wrong not in text and PASSWORD not in text, f"a password is in the {name}'s log"
