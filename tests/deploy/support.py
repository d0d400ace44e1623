"""What the deploy tests share: the tools (scripts/deploy-tools.sh), rendering the kustomize
targets, CRD schemas as JSON Schema, and the facts the code states (settings, subscriptions,
routes, metric names) to hold the manifests against.

A missing tool fails the test with the command that installs it: nothing here ever skips.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "compose" / "compose.yaml"
SERVICES = ("gateway", "runner", "scorer", "aggregator")

OVERLAYS = ("overlays/dev", "overlays/prod")
# Each component with the base and its default values, as someone composing their own overlay
# would use it (the overlays above patch some of those values): (resources, components).
COMPOSED = {
    "base+keda+monitoring": (("base", "kafka-topics"), ("components/keda", "components/monitoring")),
    "base+hpa": (("base", "kafka-topics"), ("components/hpa",)),
}
# Every target rendered and checked: what users apply, what overlays are made of, the compositions.
TARGETS = ("base", "kafka-topics", *OVERLAYS, *COMPOSED)
APP_TARGETS = ("base", *OVERLAYS, *COMPOSED)  # those holding the four services
KAFKA_TARGETS = (*OVERLAYS, *COMPOSED)  # those holding services, KafkaTopics and an autoscaler
INSTALL_HINT = "install them with `scripts/deploy-tools.sh` (scripts/test.sh runs it)"
METRIC_NAME = re.compile(r"\b(benchmarks?_[a-z_]+)\b")


# ---------------------------------------------------------------- tools
@dataclass(frozen=True)
class Tools:
    kustomize: Path
    compose_config: Path
    crds_dir: Path
    promtool: Path


_TOOL_VARS = {
    "kustomize": "BENCH_KUSTOMIZE",
    "compose_config": "BENCH_COMPOSE_CONFIG",
    "crds_dir": "BENCH_CRDS_DIR",
    "promtool": "BENCH_PROMTOOL",
}


@functools.cache
def tools() -> Tools:
    """From the BENCH_* variables `scripts/deploy-tools.sh env` prints, or by asking it."""
    values = {field: os.environ.get(var) for field, var in _TOOL_VARS.items()}
    if not all(values.values()):
        done = subprocess.run(["bash", str(REPO / "scripts/deploy-tools.sh"), "env"], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            reason = done.stderr.strip().removeprefix("[deploy-tools] ") or f"exit {done.returncode}"
            pytest.fail(f"deploy test tools: {reason} (scripts/test.sh runs it)", pytrace=False)
        exported = dict(re.findall(r"^export (\w+)=(.*)$", done.stdout, flags=re.MULTILINE))
        values = {field: values[field] or exported.get(var) for field, var in _TOOL_VARS.items()}
    found = {field: Path(value) for field, value in values.items() if value}
    missing = [_TOOL_VARS[field] for field in _TOOL_VARS if field not in found or not found[field].exists()]
    if missing:
        pytest.fail(f"deploy test tools missing ({', '.join(missing)}); {INSTALL_HINT}", pytrace=False)
    return Tools(**found)


def run_tool(args: list[str | Path], *, what: str, timeout: float = 60) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{what} failed (exit {done.returncode}):\n{done.stderr.strip() or done.stdout.strip()}", pytrace=False)
    return done.stdout


# ---------------------------------------------------------------- kustomize
@functools.cache
def render(target: str) -> tuple[dict[str, Any], ...]:
    """`kustomize build deploy/k8s/<target>` (or of a COMPOSED target) as a tuple of objects."""
    if target not in COMPOSED:
        out = run_tool([tools().kustomize, "build", K8S / target], what=f"kustomize build deploy/k8s/{target}")
        return tuple(doc for doc in yaml.safe_load_all(out) if doc)
    resources, components = COMPOSED[target]
    with tempfile.TemporaryDirectory(prefix="kustomize-") as tmp:
        # kustomize refuses absolute paths to other kustomizations: relative ones from here
        relative = [os.path.relpath(K8S / entry, tmp) for entry in (*resources, *components)]
        (Path(tmp) / "kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": relative[: len(resources)],
                    "components": relative[len(resources) :],
                }
            )
        )
        out = run_tool([tools().kustomize, "build", tmp], what=f"kustomize build {target}")
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def kind(objects: tuple[dict, ...] | list[dict], name: str) -> list[dict]:
    return [o for o in objects if o["kind"] == name]


def ident(obj: dict) -> str:
    meta = obj["metadata"]
    return f"{obj['kind']}/{meta.get('namespace', '-')}/{meta['name']}"


def kustomizations() -> Iterator[tuple[Path, dict]]:
    for path in sorted(K8S.rglob("kustomization.yaml")):
        yield path.parent, yaml.safe_load(path.read_text())


# ---------------------------------------------------------------- CRDs
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> JSON Schema of that served version, from the CRDs in the cache."""
    schemas = {}
    for path in sorted(tools().crds_dir.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind_name = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served", True):
                    schemas[(f"{group}/{version['name']}", kind_name)] = openapi_to_jsonschema(
                        version["schema"]["openAPIV3Schema"]
                    )
    return schemas


def openapi_to_jsonschema(node: Any) -> Any:
    """A CRD's structural OpenAPI v3 schema as strict JSON Schema: Kubernetes' extensions
    mapped (int-or-string, nullable, preserve-unknown-fields, embedded resources) and, as the API
    server's field validation does, unknown fields refused wherever the schema lists properties.
    CEL rules (x-kubernetes-validations) are not evaluated."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    open_ended = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-embedded-resource")
    if "properties" in node and "additionalProperties" not in node and not open_ended:
        out["additionalProperties"] = False
    return out


# ---------------------------------------------------------------- what the code says
def settings_from(env: dict[str, str]):
    """The Settings the services would build from exactly these variables (nothing else from
    the process environment, e.g. the test run's own BENCH_KAFKA_BOOTSTRAP)."""
    from shared.settings import Settings

    clean = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    with mock.patch.dict(os.environ, {**clean, **env}, clear=True):
        return Settings()


def settings_fields() -> set[str]:
    from shared.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    assert prefix == "BENCH_", f"shared/settings.py's env prefix is {prefix!r}; the manifests use BENCH_"
    return {prefix + name.upper() for name in Settings.model_fields}


@dataclass(frozen=True)
class Subscription:
    service: str
    topic: str  # as on the wire: with the prefix
    group: str  # likewise
    consumers_per_pod: int
    auto_offset_reset: str


def subscriptions(settings) -> list[Subscription]:
    """Every consumer the services start, as their own create_app asks for it: each call of
    shared.messaging.subscribe runs for real, against a broker that only records."""
    from shared import messaging

    found: list[Subscription] = []
    for service in SERVICES:
        module = app_module(service)
        if not hasattr(module, "subscribe"):
            continue  # consumes nothing

        def record(broker, topics, cfg, _service=service, **kwargs):
            recorder = mock.MagicMock(name="broker")
            messaging.subscribe(recorder, topics, cfg, **kwargs)
            for call in recorder.subscriber.call_args_list:
                (topic,) = call.args
                found.append(
                    Subscription(
                        _service,
                        topic.name,
                        call.kwargs["group_id"],
                        call.kwargs.get("max_workers") or 1,
                        call.kwargs.get("auto_offset_reset", "latest"),  # aiokafka's default
                    )
                )

        def record_parallel(cfg, *, _service=service, topic_name: str, group: str, **kwargs):
            # one ParallelConsumer (shared/parallel_consumer.py) a pod, however many records it runs
            found.append(Subscription(_service, topic_name, cfg.topic_prefix + group, 1, "earliest"))
            return mock.MagicMock(name="parallel consumer")

        with contextlib.ExitStack() as patches:
            patches.enter_context(mock.patch.object(module, "subscribe", record))
            if hasattr(module, "ParallelConsumer"):
                patches.enter_context(mock.patch.object(module, "ParallelConsumer", record_parallel))
            create_app(service, settings)
    assert found, "no subscriptions recorded: do services/*/app.py still call shared.messaging.subscribe?"
    return found


def app_module(service: str):
    return importlib.import_module(f"services.{service}.app")


def create_app(service: str, settings):
    """The service's app object, as `create_app(settings)` builds it in the pod; except that the
    broker's Kafka TLS files (BENCH_KAFKA_SSL_*) exist only there, so it is built without them
    (what the checks read, routes and subscriptions, does not depend on them)."""
    with mock.patch("shared.messaging.broker_security", return_value=None):
        return app_module(service).create_app(settings)


def serves(service: str, settings, path: str) -> bool:
    """Whether the service's app answers GET `path` (asked of its own router, not restated)."""
    app = create_app(service, settings)
    if hasattr(app, "router"):  # FastAPI (the gateway): let Starlette's routing decide
        from starlette.routing import Match

        scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "path_params": {}, "app": app}
        return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)
    return path in {route_path for route_path, _ in app.routes}  # FastStream's AsgiFastStream (workers)


def exported_metrics() -> set[str]:
    """Every series name the four services export (all scraped)."""
    from prometheus_client import generate_latest

    from services.aggregator.telemetry import AggregatorTelemetry
    from services.runner.telemetry import RunnerTelemetry
    from shared.messaging import DeliveryTelemetry

    aggregator, runner, delivery = AggregatorTelemetry(), RunnerTelemetry(), DeliveryTelemetry()
    # labelled counters and histograms show their series only once a child exists
    aggregator.samples.labels(tenant="t", outcome="ok").inc()
    aggregator.benchmarks.labels(tenant="t", status="completed").inc()
    runner.latency.labels(tenant="t", model="m").observe(0.1)
    runner.requests.labels(tenant="t", model="m", outcome="ok").inc()
    runner.shards.labels(tenant="t").inc()
    delivery.dead_lettered.labels(service="s", topic="t").inc()
    delivery.skipped.labels(service="s", topic="t").inc()
    names: set[str] = set()
    for registry in (aggregator.registry, runner.registry, delivery.registry):
        text = generate_latest(registry).decode()
        names |= {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
        names |= {metric.name for metric in registry.collect()}
    return names


def drain_seconds() -> int:
    """How long a service drains on SIGTERM by default: BENCH_SHUTDOWN_TIMEOUT_S bounds both
    uvicorn's HTTP drain and FastStream's wait for the messages in flight."""
    from shared.settings import Settings

    return int(Settings.model_fields["shutdown_timeout_s"].default)


def strings_in(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings_in(value)


def dockerfile_user() -> str:
    users = re.findall(r"^USER\s+(\S+)", (REPO / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert users, "the Dockerfile sets no USER"
    return users[-1]


def compose_project(extra_env: dict[str, str] | None = None, file: Path = COMPOSE_FILE) -> dict:
    """deploy/compose as `docker compose config` resolves it (JSON), via compose-config."""
    args: list[str | Path] = [tools().compose_config]
    for name, value in (extra_env or {}).items():
        args += ["-e", f"{name}={value}"]
    return json.loads(run_tool([*args, file], what=f"compose-config {file.name}"))
