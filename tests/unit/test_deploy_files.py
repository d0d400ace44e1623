"""The Prometheus rules and the Grafana dashboard use exactly the metric names the services export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.deploy.support import exported_metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NAME = re.compile(r"\b(benchmarks?_[a-z_]+)\b")


def _expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana/dashboards/benchmarks.json").read_text())
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
    for gauge in ("benchmark_metric_value", "benchmark_metric_baseline", "benchmark_metric_delta",
                  "benchmark_drift_detected", "benchmark_drift_p_value", "benchmark_last_completed_timestamp_seconds"):
        assert gauge in exported


def test_alert_rules_are_well_formed() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    for rule in (rule for group in rules["groups"] for rule in group["rules"]):
        assert {"alert", "expr", "labels", "annotations"} <= set(rule) and rule["annotations"]["summary"]
        assert rule["expr"].count("(") == rule["expr"].count(")")
    scrape = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    assert scrape["rule_files"] == ["alerts.yml"] and scrape["scrape_configs"][0]["metrics_path"] == "/metrics"
