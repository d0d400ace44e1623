"""A real Prometheus scrapes the aggregator: a degraded run flips benchmark_drift_detected to 1 in
its tenant's series and fires an alert naming the tenant, and the alert rules pass promtool.
Prometheus comes from Debian's package (scripts/services.sh)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.model_server import FakeModelServer
from tests.integration.conftest import Services, free_port, run_to_completion
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: scripts/deploy-tools.sh (run by scripts/test.sh) installs Debian's prometheus package",
            pytrace=False,
        )
    return path


def test_alert_rules_pass_promtool() -> None:
    checked = subprocess.run(
        [_binary("promtool"), "check", "rules", str(DEPLOY / "prometheus/alerts.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(config file to fill in, URL): started by the test once it knows what to scrape."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    process: list[subprocess.Popen] = []
    log = (tmp_path / "prometheus.log").open("wb")
    url = f"http://127.0.0.1:{port}"

    def start(target: str) -> None:
        shutil.copy(DEPLOY / "prometheus/alerts.yml", tmp_path / "alerts.yml")
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [alerts.yml]\n"
            f"scrape_configs:\n  - job_name: aggregator\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        process.append(
            subprocess.Popen(
                [
                    _binary("prometheus"),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    yield start, url  # type: ignore[misc]
    for p in process:
        p.terminate()
        p.wait(timeout=30)
    log.close()


def _query(url: str, expression: str) -> list[dict]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expression}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]["result"]


def _wait_for(url: str, expression: str, timeout: float = 60) -> list[dict]:
    """The query's result once it is not empty; an AssertionError naming the query after `timeout`."""
    last: list[str] = ["no answer yet"]

    def found() -> list[dict]:
        try:
            result = _query(url, expression)
        except httpx.HTTPError as exc:  # Prometheus still starting
            last[0] = repr(exc)
            return []
        last[0] = "an empty result"
        return result

    return wait_for(f"Prometheus to answer {expression}", found, timeout=timeout, interval=1, detail=lambda: f"last: {last[0]}")


def test_a_degraded_model_flips_the_drift_gauge_in_prometheus(services: Services, prometheus) -> None:
    start_prometheus, prometheus_url = prometheus
    for name in ("runner", "scorer"):
        services.start(name)
    aggregator = services.start("aggregator")
    gateway = services.start("gateway")
    start_prometheus(aggregator.url.removeprefix("http://"))

    records = [{"id": f"q{i}", "question": f"city number {i}", "answers": [f"Question: city number {i}"]} for i in range(40)]
    with FakeModelServer() as model, gateway.client(timeout=30) as api:
        spec = {
            "name": "nightly qa",
            "suite": "nightly",
            "models": [{"name": "prod-llm", "provider": "openai", "baseUrl": f"{model.url}/v1"}],
            "tasks": [
                {
                    "name": "qa",
                    "type": "qa",
                    "dataset": {"records": records},
                    "prompt": {"template": "Question: {question}\nAnswer:"},
                }
            ],
        }
        good = run_to_completion(api, spec)
        assert api.put("/v1/suites/nightly/baseline", json={"benchmarkId": good}).status_code == 200
        model.configure(reply_mode="fixed", fixed_reply="I do not know")  # the deployment got worse
        worse = run_to_completion(api, spec)
        assert api.get(f"/v1/benchmarks/{worse}").json()["drift"]["regressed"] is True

    flagged = _wait_for(prometheus_url, 'benchmark_drift_detected{suite="nightly",model="prod-llm"} == 1')
    assert {(r["metric"]["tenant"], r["metric"]["metric"]) for r in flagged} == {
        ("default", "exact-match"),
        ("default", "f1-score"),
    }
    delta = _query(prometheus_url, 'benchmark_metric_delta{tenant="default",suite="nightly",metric="exact-match"}')
    assert float(delta[0]["value"][1]) == -100.0
    # the alert is raised per tenant and says which
    firing = _wait_for(prometheus_url, 'ALERTS{alertname="BenchmarkRegression",alertstate="firing"}')
    assert {(a["metric"]["tenant"], a["metric"]["suite"], a["metric"]["metric"]) for a in firing} == {
        ("default", "nightly", "exact-match"),
        ("default", "nightly", "f1-score"),
    }
