"""The manifests say what the code says. Each fact is read from the code itself, not restated:
settings and their defaults (shared/settings.py), topic names and partition counts
(shared/topics.py through shared/messaging.Topics), consumer groups (each service's
create_app), HTTP paths (each service's app object), ports (Settings), metric names (the
runner's and the aggregator's registries) and the alert rules (deploy/prometheus/alerts.yml)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from services.cli.serve import Service
from shared.messaging import Topics
from tests.deploy.support import (
    APP_TARGETS,
    DEPLOY,
    KAFKA_TARGETS,
    METRIC_NAME,
    SERVICES,
    TARGETS,
    dockerfile_user,
    drain_seconds,
    exported_metrics,
    ident,
    kind,
    render,
    run_tool,
    serves,
    settings_fields,
    settings_from,
    strings_in,
    subscriptions,
    tools,
)

COMPONENT = "app.kubernetes.io/component"


# ---------------------------------------------------------------- helpers
def _settings_env(objects) -> dict[str, str]:
    """BENCH_* variables of the rendered benchmarks-settings ConfigMap."""
    maps = [o for o in kind(objects, "ConfigMap") if o["metadata"]["name"].startswith("benchmarks-settings")]
    assert len(maps) == 1, f"expected one benchmarks-settings ConfigMap, found {[o['metadata']['name'] for o in maps]}"
    return dict(maps[0].get("data", {}))


def _deployments(objects) -> dict[str, dict]:
    deployments = {d["spec"]["template"]["metadata"]["labels"][COMPONENT]: d for d in kind(objects, "Deployment")}
    assert set(deployments) == set(SERVICES), f"Deployments for {sorted(deployments)}, expected {SERVICES}"
    return deployments


def _container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{ident(deployment)}: one container expected"
    return containers[0]


def _env_names(container: dict) -> set[str]:
    return {e["name"] for e in container.get("env", [])}


def _effective_settings(objects, deployment: dict):
    """Settings the container would build: the ConfigMap it loads, then its env values; a value
    from a Secret (known only in the cluster) as a stand-in naming the Secret and key."""
    env = {}
    container = _container(deployment)
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            data = next(o for o in kind(objects, "ConfigMap") if o["metadata"]["name"] == ref["name"])["data"]
            env.update({k: v for k, v in data.items() if k.startswith("BENCH_")})
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    env.update({e["name"]: "secret-{name}-{key}".format(**_secret_ref(e)) for e in container.get("env", []) if _secret_ref(e)})
    return settings_from(env)


def _secret_ref(env_entry: dict) -> dict | None:
    return env_entry.get("valueFrom", {}).get("secretKeyRef")


def _selects(selector: dict, labels: dict) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value, op = labels.get(expression["key"]), expression["operator"]
        if op == "In" and value not in expression["values"]:
            return False
        if op == "NotIn" and value in expression["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


def _pod_labels(deployment: dict) -> dict:
    return deployment["spec"]["template"]["metadata"]["labels"]


@pytest.fixture(params=APP_TARGETS)
def app_target(request) -> str:
    return request.param


# ---------------------------------------------------------------- settings
def test_base_settings_are_the_code_defaults() -> None:
    """The base's partition counts, replication and shards in flight are shared/settings.py's defaults."""
    env = _settings_env(render("base"))
    defaults = settings_from({})
    # stated in the base because the KafkaTopics and the autoscalers' bounds follow from them
    required = ("partitions", "control_partitions", "replication_factor", "runner_shards_in_flight")
    for name in (*required, "retry_attempts", "max_samples", "max_request_bytes", "tenant", "mongo_database"):
        variable = f"BENCH_{name.upper()}"
        assert variable in env or name not in required, f"the base ConfigMap must state {variable}"
        if variable in env:
            assert str(getattr(defaults, name)) == env[variable], (
                f"{variable}={env[variable]} but the default is {getattr(defaults, name)}"
            )


def test_every_bench_variable_is_a_setting_with_a_valid_value(app_target: str) -> None:
    objects = render(app_target)
    fields = settings_fields()
    named = set(_settings_env(objects))
    for deployment in kind(objects, "Deployment"):
        container = _container(deployment)
        named |= _env_names(container)
        named |= {
            e["valueFrom"]["secretKeyRef"]["key"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
        }
        _effective_settings(objects, deployment)  # pydantic refuses a bad value here
    unknown = sorted(n for n in named if n.startswith("BENCH_") and n not in fields)
    assert not unknown, f"not fields of shared/settings.py Settings: {unknown}"


def test_services_listen_on_every_interface_in_a_pod(app_target: str) -> None:
    objects = render(app_target)
    for deployment in kind(objects, "Deployment"):
        host = _effective_settings(objects, deployment).service_host
        assert host == "0.0.0.0", f"{ident(deployment)}: BENCH_SERVICE_HOST={host}; probes could not reach the pod"


def test_secrets_hold_the_mongo_url_only_where_it_is_used(app_target: str) -> None:
    for component, deployment in _deployments(render(app_target)).items():
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in _container(deployment).get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        if component == "scorer":  # the scorer talks to Kafka only
            assert "BENCH_MONGO_URL" not in refs
        else:
            assert refs.get("BENCH_MONGO_URL", {}).get("key") == "BENCH_MONGO_URL", (
                f"{component}: BENCH_MONGO_URL not from a Secret"
            )


SECRET_SETTINGS = ("BENCH_MONGO_URL", "BENCH_KAFKA_SASL_PASSWORD", "BENCH_CREDENTIALS_KEY")


def test_credentials_come_from_secrets_never_from_a_config_map(app_target: str) -> None:
    """docs/deployment.md, "Transport security": passwords live in Secrets, whatever the overlay."""
    objects = render(app_target)
    for config_map in kind(objects, "ConfigMap"):
        held = sorted(set(config_map.get("data", {})) & set(SECRET_SETTINGS))
        assert not held, f"{ident(config_map)} holds {held}: they belong in a Secret"
    for component, deployment in _deployments(objects).items():
        container = _container(deployment)
        literal = sorted(e["name"] for e in container.get("env", []) if e["name"] in SECRET_SETTINGS and "value" in e)
        assert not literal, f"{ident(deployment)}: {literal} written into the manifest"
        settings = _effective_settings(objects, deployment)
        if settings.kafka_security_protocol.startswith("SASL_"):
            refs = {e["name"]: _secret_ref(e) for e in container.get("env", []) if _secret_ref(e)}
            assert "BENCH_KAFKA_SASL_PASSWORD" in refs, f"{component}: SASL on, but the password is not from a Secret"
        mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
        for path in (settings.kafka_ssl_cafile, settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile):
            assert path is None or any(str(path).startswith(m.rstrip("/") + "/") for m in mounts), (
                f"{component}: {path} is on no mounted volume ({mounts})"
            )


def test_autoscalers_read_kafka_as_securely_as_the_services(app_target: str) -> None:
    """KEDA's lag queries go to the same listener as the services: with SASL and TLS there too."""
    objects = render(app_target)
    settings = _app_settings(objects)
    keda_sasl = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
    authentications = {a["metadata"]["name"]: a for a in kind(objects, "TriggerAuthentication")}
    for scaler in kind(objects, "ScaledObject"):
        for trigger in scaler["spec"]["triggers"]:
            meta = trigger["metadata"]
            if settings.kafka_security_protocol.startswith("SASL_"):
                assert meta.get("sasl") == keda_sasl[settings.kafka_sasl_mechanism], f"{ident(scaler)}: sasl {meta.get('sasl')}"
                auth = authentications.get(trigger.get("authenticationRef", {}).get("name"))
                assert auth, f"{ident(scaler)} has no TriggerAuthentication with the Kafka user"
                assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} >= {"username", "password"}
            assert meta.get("tls", "disable") == ("enable" if settings.kafka_security_protocol.endswith("SSL") else "disable")


def _ingress_routes(path: dict, request: str) -> bool:
    """Whether an Ingress path entry sends `request` on (Kubernetes' matching rules: Exact is
    equality, Prefix compares whole `/`-separated elements; ImplementationSpecific is taken as the
    widest reading, a plain string prefix)."""
    declared, kind_ = path.get("path", "/"), path["pathType"]
    if kind_ == "Exact":
        return request == declared
    if kind_ == "Prefix":
        prefix = [e for e in declared.split("/") if e]
        return [e for e in request.split("/") if e][: len(prefix)] == prefix
    return request.startswith(declared)


def test_the_prod_gateway_is_reached_over_https_only() -> None:
    objects = render("overlays/prod")
    (ingress,) = kind(objects, "Ingress")
    gateway = next(s for s in kind(objects, "Service") if s["metadata"]["labels"][COMPONENT] == "gateway")
    hosts = {host for entry in ingress["spec"]["tls"] for host in entry["hosts"]}
    assert all(entry.get("secretName") for entry in ingress["spec"]["tls"]), "the TLS certificate comes from a Secret"
    assert "defaultBackend" not in ingress["spec"], "a default backend would route every path"
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in hosts, f"{rule['host']} would be served without TLS"
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == gateway["metadata"]["name"]
            assert backend["port"].get("name") in {p["name"] for p in gateway["spec"]["ports"]}


def test_the_prod_ingress_routes_the_api_and_its_docs_but_not_metrics() -> None:
    """Outsiders get the API and its documentation. /metrics is unauthenticated and names tenants
    and suites (docs/security.md): Prometheus scrapes it inside the cluster, never through the
    Ingress; the health endpoints are for the kubelet."""
    objects = render("overlays/prod")
    (ingress,) = kind(objects, "Ingress")
    settings = _effective_settings(objects, _deployments(objects)["gateway"])
    paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]

    def routed(request: str) -> bool:
        return any(_ingress_routes(path, request) for path in paths)

    for request in ("/v1/benchmarks", "/v1/suites", "/docs", "/openapi.json"):
        assert serves("gateway", settings, request), f"the gateway does not serve {request}"
        assert routed(request), f"{ident(ingress)} does not route {request}"
    for request in ("/metrics", "/metrics/", "/healthz", "/readyz", "/"):
        assert not routed(request), f"{ident(ingress)} routes {request} to the outside world"


# ---------------------------------------------------------------- commands, ports, paths
def test_each_deployment_serves_its_service_on_the_settings_port(app_target: str) -> None:
    objects = render(app_target)
    services = {s["metadata"]["name"]: s for s in kind(objects, "Service")}
    for component, deployment in _deployments(objects).items():
        container = _container(deployment)
        assert component in {s.value for s in Service}
        assert container.get("args") == ["serve", component], f"{ident(deployment)}: args {container.get('args')}"
        port = getattr(_effective_settings(objects, deployment), f"{component}_port")
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": port}, f"{ident(deployment)}: ports {ports}, the service listens on {port}"
        for service in services.values():
            if _selects({"matchLabels": service["spec"]["selector"]}, _pod_labels(deployment)):
                for p in service["spec"]["ports"]:
                    assert p["targetPort"] in ("http", port), f"{ident(service)} targets {p['targetPort']}"


def test_probes_use_the_health_paths_the_services_serve(app_target: str) -> None:
    objects = render(app_target)
    for component, deployment in _deployments(objects).items():
        container = _container(deployment)
        settings = _effective_settings(objects, deployment)
        # /healthz: the process is up; /readyz: Kafka (and MongoDB where used) answer
        expected = {"livenessProbe": "/healthz", "startupProbe": "/healthz", "readinessProbe": "/readyz"}
        for probe, path in expected.items():
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{ident(deployment)} {probe}: {get['path']}, expected {path}"
            assert serves(component, settings, path), f"the {component} does not serve {path}"
            assert get["port"] in ("http", container["ports"][0]["containerPort"])


def test_the_service_monitor_scrapes_exactly_the_services_with_metrics() -> None:
    objects = render("overlays/prod")
    (monitor,) = kind(objects, "ServiceMonitor")
    deployments = _deployments(objects)
    with_metrics = {c for c, d in deployments.items() if serves(c, _effective_settings(objects, d), "/metrics")}
    selected = {
        s["metadata"]["labels"][COMPONENT]
        for s in kind(objects, "Service")
        if _selects(monitor["spec"]["selector"], s["metadata"]["labels"])
    }
    assert selected == with_metrics, f"ServiceMonitor selects {sorted(selected)}; /metrics is served by {sorted(with_metrics)}"
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["path"] == "/metrics" and endpoint["port"] == "http"


def test_one_image_for_all_services_and_its_user(app_target: str) -> None:
    objects = render(app_target)
    images = {_container(d)["image"] for d in kind(objects, "Deployment")}
    assert len(images) == 1, f"one image for the four services, found {images}"
    user, _, group = dockerfile_user().partition(":")
    for deployment in kind(objects, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]["securityContext"]
        assert str(pod["runAsUser"]) == user and str(pod.get("runAsGroup", group)) == (group or user)


# ---------------------------------------------------------------- hardening and shutdown
def test_pods_are_hardened(app_target: str) -> None:
    for deployment in kind(render(app_target), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        where = ident(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert pod["automountServiceAccountToken"] is False, where
        # service links would inject <SERVICE>_PORT=tcp://... variables; one named like a setting breaks start-up
        assert pod["enableServiceLinks"] is False, where
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, where
        assert sc["capabilities"]["drop"] == ["ALL"], where
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{where}: /tmp must be a writable emptyDir"
        for kind_ in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind_]), f"{where}: {kind_} incomplete"


def test_no_service_name_injects_a_setting(app_target: str) -> None:
    for service in kind(render(app_target), "Service"):
        variable = service["metadata"]["name"].upper().replace("-", "_")
        assert not variable.startswith("BENCH_"), f"{ident(service)} would inject {variable}_PORT into pods"


def test_grace_period_covers_the_drain(app_target: str) -> None:
    drain = drain_seconds()
    for component, deployment in _deployments(render(app_target)).items():
        pod = deployment["spec"]["template"]["spec"]
        pre_stop = _container(deployment).get("lifecycle", {}).get("preStop", {})
        pause = int(pre_stop["exec"]["command"][-1]) if pre_stop else 0
        assert pod["terminationGracePeriodSeconds"] > pause + drain, f"{ident(deployment)}: grace too short"
        if component == "gateway":  # requests are routed to it: leave endpoints before closing
            assert pause > 0, "the gateway needs a preStop pause"


def test_selectors_match_their_pods(app_target: str) -> None:
    objects = render(app_target)
    deployments = kind(objects, "Deployment")
    for deployment in deployments:
        assert _selects(deployment["spec"]["selector"], _pod_labels(deployment)), ident(deployment)
    for obj in kind(objects, "Service") + kind(objects, "PodDisruptionBudget"):
        selector = obj["spec"]["selector"]
        selector = selector if "matchLabels" in selector or "matchExpressions" in selector else {"matchLabels": selector}
        matched = [d for d in deployments if _selects(selector, _pod_labels(d))]
        assert len(matched) == 1, f"{ident(obj)} selects {len(matched)} Deployments"
    for scaler in kind(objects, "ScaledObject") + kind(objects, "HorizontalPodAutoscaler"):
        target = scaler["spec"]["scaleTargetRef"]["name"]
        assert target in {d["metadata"]["name"] for d in deployments}, f"{ident(scaler)} targets {target}"
        assert "replicas" not in next(d for d in deployments if d["metadata"]["name"] == target)["spec"], (
            f"{target} is autoscaled: a replicas field would fight the autoscaler on every apply"
        )


# ---------------------------------------------------------------- network policies
def _policies(objects, direction: str, labels: dict) -> list[dict]:
    return [
        p
        for p in kind(objects, "NetworkPolicy")
        if direction in p["spec"].get("policyTypes", []) and _selects(p["spec"]["podSelector"], labels)
    ]


def test_network_policies_deny_by_default_and_admit_only_the_gateway_from_outside(app_target: str) -> None:
    objects = render(app_target)
    for deployment in kind(objects, "Deployment"):
        labels = _pod_labels(deployment)
        assert any(
            not p["spec"].get("ingress")
            and not p["spec"].get("egress")
            and {"Ingress", "Egress"} <= set(p["spec"]["policyTypes"])
            for p in _policies(objects, "Ingress", labels)
        ), f"{ident(deployment)}: no default-deny policy selects it"
        for policy in _policies(objects, "Ingress", labels):
            for rule in policy["spec"].get("ingress", []):
                sources = rule.get("from")
                if labels[COMPONENT] == "gateway":
                    continue  # the one service reachable from anywhere
                # only Prometheus, to the port that serves /metrics
                assert sources and all("namespaceSelector" in s and "podSelector" in s for s in sources), (
                    f"{ident(policy)} admits {sources or 'everyone'} to {labels[COMPONENT]}"
                )
                assert [p["port"] for p in rule["ports"]] == ["http"], ident(policy)


def _egress_allows(objects, labels: dict, port: int, protocol: str = "TCP") -> bool:
    for policy in _policies(objects, "Egress", labels):
        for rule in policy["spec"].get("egress", []):
            if any(p.get("port") == port and p.get("protocol", "TCP") == protocol for p in rule.get("ports", [])):
                return True
    return False


def test_network_policies_let_each_service_reach_what_it_uses(app_target: str) -> None:
    objects = render(app_target)
    for component, deployment in _deployments(objects).items():
        settings = _effective_settings(objects, deployment)
        labels = _pod_labels(deployment)
        kafka_ports = {int(server.rpartition(":")[2]) for server in settings.kafka_bootstrap.split(",")}
        needs = {("UDP", 53), ("TCP", 53)} | {("TCP", p) for p in kafka_ports}
        if "BENCH_MONGO_URL" in _env_names(_container(deployment)):
            needs.add(("TCP", 27017))  # the URL is a Secret: MongoDB's default port
        if component in ("gateway", "runner"):  # datasets by URL; model APIs
            needs.add(("TCP", 443))
        missing = sorted(need for need in needs if not _egress_allows(objects, labels, need[1], need[0]))
        assert not missing, f"{ident(deployment)}: no egress allowed to {missing}"


# ---------------------------------------------------------------- Kafka: topics, groups, autoscaling
def _app_settings(objects):
    deployments = _deployments(objects)
    return _effective_settings(objects, deployments["runner"])


@pytest.mark.parametrize("target", KAFKA_TARGETS)
def test_kafka_topics_are_the_code_topics_with_the_configured_counts(target: str) -> None:
    objects = render(target)
    settings = _app_settings(objects)
    expected = {t.name: (t.num_partitions, t.replication_factor) for t in Topics(settings).all()}
    declared = {t["spec"]["topicName"]: (t["spec"]["partitions"], t["spec"]["replicas"]) for t in kind(objects, "KafkaTopic")}
    assert declared == expected, f"KafkaTopics {declared}\nexpected from the settings {expected}"


@pytest.mark.parametrize("target", KAFKA_TARGETS)
def test_kafka_topics_name_the_cluster_the_services_connect_to(target: str) -> None:
    objects = render(target)
    bootstrap = _app_settings(objects).kafka_bootstrap
    for topic in kind(objects, "KafkaTopic"):
        cluster = topic["metadata"]["labels"]["strimzi.io/cluster"]
        # Strimzi names the bootstrap Service <cluster>-kafka-bootstrap
        assert bootstrap.startswith(f"{cluster}-kafka-bootstrap"), f"{ident(topic)}: cluster {cluster}, bootstrap {bootstrap}"


def test_the_base_topic_counts_are_the_settings_defaults() -> None:
    defaults = settings_from({})
    expected = {t.name: (t.num_partitions, t.replication_factor) for t in Topics(defaults).all()}
    declared = {t["spec"]["topicName"]: (t["spec"]["partitions"], t["spec"]["replicas"]) for t in render("kafka-topics")}
    assert declared == expected


@pytest.mark.parametrize("target", KAFKA_TARGETS)
def test_autoscalers_follow_real_consumer_groups_and_partitions(target: str) -> None:
    objects = render(target)
    deployments = _deployments(objects)
    scalers = kind(objects, "ScaledObject") + kind(objects, "HorizontalPodAutoscaler")
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scalers} == {
        deployments["runner"]["metadata"]["name"],
        deployments["scorer"]["metadata"]["name"],
    }
    settings = _app_settings(objects)
    partitions = {t.name: t.num_partitions for t in Topics(settings).all()}
    subs = subscriptions(settings)
    for scaler in scalers:
        component = next(c for c, d in deployments.items() if d["metadata"]["name"] == scaler["spec"]["scaleTargetRef"]["name"])
        own = [s for s in subs if s.service == component]
        if scaler["kind"] == "ScaledObject":
            triggers = scaler["spec"]["triggers"]
            assert triggers and all(t["type"] == "kafka" for t in triggers)
            scaled_on = []
            for trigger in triggers:
                meta = trigger["metadata"]
                match = [s for s in own if (s.topic, s.group) == (meta["topic"], meta["consumerGroup"])]
                assert match, (
                    f"{ident(scaler)}: {meta['consumerGroup']} on {meta['topic']}"
                    f" is not a consumer group of the {component} ({own})"
                )
                scaled_on += match
                variable = meta.get("bootstrapServersFromEnv")
                if variable:
                    assert variable == "BENCH_KAFKA_BOOTSTRAP"
                else:
                    assert meta["bootstrapServers"] == settings.kafka_bootstrap
                # a group with no committed offset yet: KEDA must count lag from where the consumers will start
                assert meta.get("offsetResetPolicy", "latest") == match[0].auto_offset_reset
            highest = scaler["spec"]["maxReplicaCount"]
        else:
            scaled_on = [max(own, key=lambda s: partitions[s.topic])]
            highest = scaler["spec"]["maxReplicas"]
        # partitions bound parallelism: past this, new pods' consumers get no partition
        for sub in scaled_on:
            useful = math.ceil(partitions[sub.topic] / sub.consumers_per_pod)
            assert highest <= useful, (
                f"{ident(scaler)}: up to {highest} pods, but {partitions[sub.topic]} partitions of {sub.topic} "
                f"/ {sub.consumers_per_pod} consumers a pod keep only {useful} busy"
            )


# ---------------------------------------------------------------- Prometheus
def test_prometheus_rule_carries_the_alert_rules() -> None:
    (rule,) = kind(render("overlays/prod"), "PrometheusRule")
    alerts = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"], (
        "components/monitoring/prometheusrule.yaml differs from deploy/prometheus/alerts.yml"
    )


def test_prometheus_rule_passes_promtool(tmp_path: Path) -> None:
    (rule,) = kind(render("overlays/prod"), "PrometheusRule")
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    run_tool([tools().promtool, "check", "rules", rules], what="promtool check rules (PrometheusRule)")


@pytest.mark.parametrize("target", TARGETS)
def test_metric_names_in_manifests_are_exported(target: str) -> None:
    exported = exported_metrics()
    for obj in render(target):
        if obj["kind"] in ("PrometheusRule", "ServiceMonitor", "ScaledObject", "HorizontalPodAutoscaler"):
            named = {name for text in strings_in(obj["spec"]) for name in METRIC_NAME.findall(text)}
            assert named <= exported, f"{ident(obj)} names metrics no service exports: {sorted(named - exported)}"
