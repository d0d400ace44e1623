"""The Prometheus rules and the Grafana dashboard use exactly the metric names the services export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.deploy.support import exported_metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NAME = re.compile(r"\b(benchmarks?_[a-z_]+)\b")
SELECTOR = re.compile(r"\b(benchmarks?_[a-z_]+)\b(\{[^}]*\})?")
BY = re.compile(r"\bby \(([^)]*)\)")
PER_SERVICE = "benchmark_messages_"
"""Delivery counters are per service and topic; every other series is scoped by tenant."""


def _dashboard() -> dict:
    return json.loads((DEPLOY / "grafana/dashboards/benchmarks.json").read_text())


def _rules() -> list[dict]:
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def test_dashboard_has_a_tenant_variable_and_every_query_filters_on_it() -> None:
    dashboard = _dashboard()
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    tenant = variables["tenant"]
    assert NAME.search(tenant["query"]) and tenant["query"].endswith(", tenant)") and tenant["multi"] and tenant["includeAll"]
    queries = [(panel["title"], target) for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [(f"variable {name}", {"expr": v["query"]}) for name, v in variables.items() if name != "tenant"]
    for where, target in queries:
        selectors = SELECTOR.findall(target["expr"])
        assert selectors, where
        for name, labels in selectors:
            assert 'tenant=~"$tenant"' in labels, f"{where}: {name} not filtered by tenant"
        for grouped in BY.findall(target["expr"]):
            assert "tenant" in grouped.split(", "), f"{where}: aggregates tenants together"
        if "legendFormat" in target:
            assert "{{tenant}}" in target["legendFormat"], f"{where}: the legend does not say the tenant"


def test_alerts_on_tenant_series_name_the_tenant() -> None:
    scoped = [rule for rule in _rules() if any(not name.startswith(PER_SERVICE) for name in NAME.findall(rule["expr"]))]
    assert {rule["alert"] for rule in scoped} >= {"BenchmarkRegression", "BenchmarkSuiteStale", "BenchmarkHighErrorRate"}
    for rule in scoped:
        groupings = BY.findall(rule["expr"])
        assert groupings and all("tenant" in g.split(", ") for g in groupings), f"{rule['alert']}: not by tenant"
        assert "$labels.tenant" in rule["annotations"]["summary"], rule["alert"]


def _expressions() -> list[str]:
    dashboard = _dashboard()
    exprs = [rule["expr"] for rule in _rules()]
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exprs += [variable["query"] for variable in dashboard["templating"]["list"]]
    return exprs


def test_every_metric_named_in_rules_and_dashboards_isexported_metrics() -> None:
    exported = exported_metrics()
    named = {name for expr in _expressions() for name in NAME.findall(expr)}
    assert named, "no metric names found"
    assert named <= exported, f"not exported: {sorted(named - exported)}"


def test_design_gauges_areexported_metrics() -> None:
    exported = exported_metrics()
    for gauge in (
        "benchmark_metric_value",
        "benchmark_metric_baseline",
        "benchmark_metric_delta",
        "benchmark_drift_detected",
        "benchmark_drift_p_value",
        "benchmark_last_completed_timestamp_seconds",
    ):
        assert gauge in exported


def test_alert_rules_are_well_formed() -> None:
    for rule in _rules():
        assert {"alert", "expr", "labels", "annotations"} <= set(rule) and rule["annotations"]["summary"]
        assert rule["expr"].count("(") == rule["expr"].count(")")
    scrape = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    assert scrape["rule_files"] == ["alerts.yml"] and scrape["scrape_configs"][0]["metrics_path"] == "/metrics"
