"""The `benchmarks` command as a user runs it: a real process, real files, the real store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO


def _benchmarks(*args: str, store: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "benchmarks"
    command = [str(executable)] if executable.exists() else [shutil.which("benchmarks") or "benchmarks"]
    return subprocess.run(
        [*command, *args, "--store", str(store)], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_run_json_prints_the_report_shape_and_show_reads_it_back(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    run = _benchmarks("run", str(EXAMPLES / "quickstart.yaml"), "--json", store=store)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert {"benchmarkId", "name", "status", "results"} <= set(report)
    assert report["name"] == "Quickstart comparison" and report["status"] == "completed"
    assert report["results"][0]["model"] == "lead"
    assert set(report["results"][0]) == {"model", "text-summarization", "question-answering"}

    shown = _benchmarks("show", report["benchmarkId"], "--json", store=store)
    assert json.loads(shown.stdout) == report
    listed = _benchmarks("list", "--json", store=store)
    assert [b["benchmarkId"] for b in json.loads(listed.stdout)] == [report["benchmarkId"]]

    table = _benchmarks("show", report["benchmarkId"], store=store)
    assert "question-answering" in table.stdout and "exact-match" in table.stdout and "extractive" in table.stdout


def test_show_unknown_id_is_a_clear_error(tmp_path: Path) -> None:
    shown = _benchmarks("show", "bm_nope", store=tmp_path / "s.sqlite3")
    assert shown.returncode == 2
    assert shown.stderr.strip() == "error: no benchmark 'bm_nope' in the store (see `benchmarks list`)"


QA_TASK = "  - {name: qa, type: qa, dataset: qa.jsonl}\n"
GOOD_QA = '{"id": "1", "question": "Q?", "answers": ["a"]}\n'


@pytest.mark.parametrize(
    ("spec", "dataset", "expected"),
    [
        ("name: x\nmodels: [builtin:lead]\n", GOOD_QA, "spec.yaml: tasks: Field required"),
        ("name: x\nmodels: builtin:lead\ntasks:\n" + QA_TASK, GOOD_QA, "spec.yaml: models: Input should be a valid list"),
        (
            "name: x\nmodels: [builtin:lead]\ntasks:\n  - {name: qa, type: qa, dataset: qa.jsonl, metrics: [bleurt]}\n",
            GOOD_QA,
            "spec.yaml: tasks[0].metrics: unknown metric 'bleurt'",
        ),
        (
            "name: x\nmodels: [builtin:lead]\ntasks:\n  - {name: qa, type: chat, dataset: qa.jsonl}\n",
            GOOD_QA,
            "spec.yaml: tasks[0].type: Input should be 'summarization', 'qa' or 'classification'",
        ),
        ("name: x\nmodels: [builtin:lead]\ntasks:\n" + QA_TASK, "", "qa.jsonl: the dataset has no records"),
        (
            "name: x\nmodels: [builtin:lead]\ntasks:\n" + QA_TASK,
            GOOD_QA + GOOD_QA,
            "qa.jsonl line 2: field 'id': duplicate sample id '1'",
        ),
        (
            "name: x\nmodels: [builtin:lead]\ntasks:\n" + QA_TASK,
            '{"id": "1", "answers": ["a"]}\n',
            "qa.jsonl line 1: field 'question': missing",
        ),
        (
            "name: x\nmodels: [builtin:lead]\ntasks:\n  - {name: qa, type: qa, dataset: gone.jsonl}\n",
            GOOD_QA,
            "gone.jsonl: dataset file not found",
        ),
    ],
    ids=[
        "missing-field",
        "wrong-type",
        "unknown-metric",
        "unknown-task-type",
        "empty-dataset",
        "duplicate-ids",
        "missing-record-field",
        "unreadable-file",
    ],
)
def test_bad_input_exits_with_one_clear_line_and_stores_nothing(tmp_path: Path, spec: str, dataset: str, expected: str) -> None:
    (tmp_path / "spec.yaml").write_text(spec)
    (tmp_path / "qa.jsonl").write_text(dataset)
    store = tmp_path / "store.sqlite3"
    run = _benchmarks("run", "spec.yaml", store=store, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in run.stderr
    assert json.loads(_benchmarks("list", "--json", store=store).stdout) == []


def test_unreadable_spec_file(tmp_path: Path) -> None:
    run = _benchmarks("run", "nope.yaml", store=tmp_path / "s.sqlite3", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip() == "error: nope.yaml: cannot read the spec: No such file or directory"
