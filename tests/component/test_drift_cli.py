"""`benchmarks export --samples` and `benchmarks drift` on real files from a real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.component.test_cli import _benchmarks
from tests.conftest import EXAMPLES


def _drift(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "benchmarks"), "drift", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_export_then_drift_flags_a_real_regression_and_not_an_identical_run(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    report = json.loads(_benchmarks("run", str(EXAMPLES / "quickstart.yaml"), "--json", store=store).stdout)
    baseline = tmp_path / "baseline.jsonl"
    exported = _benchmarks("export", report["benchmarkId"], "--samples", "--output", str(baseline), store=store)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in baseline.read_text().splitlines()]
    assert len(lines) == 240 and {"sampleId", "model", "task", "scores", "prediction"} <= set(lines[0])

    same = _drift("--baseline", str(baseline), "--current", str(baseline), "--json")
    assert same.returncode == 0 and {c["verdict"] for c in json.loads(same.stdout)} == {"unchanged"}

    for line in lines:  # the extractive model loses every third answer
        if line["model"] == "extractive" and line["task"] == "question-answering" and int(line["sampleId"][3:]) % 3 == 0:
            line["scores"] = dict.fromkeys(line["scores"], 0.0)
    current = tmp_path / "current.jsonl"
    current.write_text("".join(json.dumps(line) + "\n" for line in lines))
    worse = _drift("--baseline", str(baseline), "--current", str(current), "--metric", "f1-score", "--json")
    assert worse.returncode == 3  # a distinct exit code for a significant regression
    cells = {(c["model"], c["metric"]): c for c in json.loads(worse.stdout)}
    assert cells[("extractive", "f1-score")]["verdict"] == "regressed"
    assert cells[("extractive", "f1-score")]["ciHigh"] < 0 and cells[("lead", "f1-score")]["verdict"] == "unchanged"

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sampleId": "a", "scores": {"f1-score": "high"}}\n')
    refused = _drift("--baseline", str(bad), "--current", str(baseline))
    assert refused.returncode == 2 and "bad.jsonl line 1: field 'f1-score': expected a number" in refused.stderr


def test_baseline_and_compare_in_the_embedded_store(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"

    def run(spec: Path) -> dict:
        result = _benchmarks("run", str(spec), "--json", store=store)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    first = run(EXAMPLES / "quickstart.yaml")
    assert "drift" not in first
    assert _benchmarks("compare", first["benchmarkId"], store=store).returncode == 2  # no baseline yet
    elsewhere = _benchmarks("baseline", "set", "another-suite", first["benchmarkId"], store=store)
    assert elsewhere.returncode == 2 and "is a run of suite 'quickstart', not of 'another-suite'" in elsewhere.stderr
    pinned = _benchmarks("baseline", "set", "quickstart", first["benchmarkId"], store=store)
    assert json.loads(pinned.stdout)["models"] == {"extractive": first["benchmarkId"], "lead": first["benchmarkId"]}

    second = run(EXAMPLES / "quickstart.yaml")
    assert second["drift"]["regressed"] is False and len(second["drift"]["cells"]) == 12
    compared = _benchmarks("compare", second["benchmarkId"], "--json", store=store)
    assert compared.returncode == 0 and json.loads(compared.stdout)["cells"] == second["drift"]["cells"]

    # a different subset of the data is not comparable, and the comparison says why
    limited = tmp_path / "limited.yaml"
    limited.write_text(
        (EXAMPLES / "quickstart.yaml")
        .read_text()
        .replace("dataset: data/qa.jsonl", "dataset: data/qa.jsonl\n    limit: 30")
        .replace("data/", f"{EXAMPLES}/data/")
    )
    third = run(limited)
    refused = {(r["model"], r["task"]): r["reason"] for r in third["drift"]["refused"]}
    assert refused[("lead", "question-answering")].startswith("different data: dataset digest")
    assert {c["task"] for c in third["drift"]["cells"]} == {"text-summarization"}


def test_a_spec_tolerance_keeps_a_small_significant_change_unchanged(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    spec = (EXAMPLES / "quickstart.yaml").read_text().replace("data/", f"{EXAMPLES}/data/")
    (tmp_path / "a.yaml").write_text(spec)
    first = json.loads(_benchmarks("run", str(tmp_path / "a.yaml"), "--json", store=store).stdout)
    _benchmarks("baseline", "set", "quickstart", first["benchmarkId"], store=store)
    (tmp_path / "b.yaml").write_text(spec + "tolerances: {f1-score: 50.0, rouge-1: 0.01}\n")
    second = json.loads(_benchmarks("run", str(tmp_path / "b.yaml"), "--json", store=store).stdout)
    tolerances = {(c["model"], c["metric"]): c["tolerance"] for c in second["drift"]["cells"]}
    assert tolerances[("lead", "f1-score")] == 50.0 and tolerances[("lead", "rouge-2")] == 0.0
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec + "tolerances: {f1: 2}\n")
    refused = _benchmarks("run", str(bad), store=store)
    assert refused.returncode == 2 and "tolerances: unknown metric 'f1'" in refused.stderr
