"""Pure stage logic imports no broker, HTTP, database or metrics-exporter library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PURE_MODULES = [
    "services/runner/planner.py",
    "services/runner/executor.py",
    "services/runner/prompts.py",
    "services/runner/adapters/builtin.py",
    "services/scorer/scoring.py",
    "services/scorer/metrics/squad.py",
    "services/scorer/metrics/classification.py",
    "services/scorer/metrics/rouge.py",
    "services/scorer/metrics/rouge_index.py",
    "services/scorer/metrics/rouge_tokens.py",
    "services/scorer/metrics/porter.py",
    "services/scorer/metrics/bleu.py",
    "services/scorer/metrics/aggregation.py",
    "services/scorer/pairs.py",
    "services/runner/pacing.py",
    "services/runner/cache.py",
    "services/aggregator/drift.py",
    "services/aggregator/comparison.py",
    "services/aggregator/report.py",
    "shared/statistics.py",
    "shared/events.py",
    "shared/spec.py",
]
IO_LIBRARIES = {"faststream", "aiokafka", "httpx", "pymongo", "motor", "prometheus_client", "fastapi", "sqlite3", "typer", "rich"}


@pytest.mark.parametrize("module", PURE_MODULES)
def test_domain_module_imports_no_io_library(module: str) -> None:
    tree = ast.parse((REPO / module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & IO_LIBRARIES, f"{module} imports {sorted(imported & IO_LIBRARIES)}"
