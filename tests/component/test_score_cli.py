"""`benchmarks score` as a user runs it: a real process reading a real JSONL file or stdin."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from rouge_score.rouge_scorer import RougeScorer
from sacrebleu.metrics import BLEU

from tests.conftest import REPO

PAIRS = [
    {
        "id": "s1",
        "prediction": "The cats were running home.\nThey were tired.",
        "references": ["A cat runs home.\nIt is tired.", "Cats run."],
    },
    {"prediction": "", "reference": "Nothing was predicted here."},
    {"id": 3, "prediction": "Stocks rose 4% in 2024.", "reference": "In 2024 stocks rose by 4%."},
]


def _references(pair: dict) -> list[str]:
    return pair.get("references") or [pair["reference"]]


def _benchmarks(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "benchmarks"
    command = [str(executable)] if executable.exists() else [shutil.which("benchmarks") or "benchmarks"]
    return subprocess.run([*command, *args], cwd=REPO, input=stdin, capture_output=True, text=True, timeout=120, check=False)


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_score_prints_a_line_per_pair_and_a_summary_equal_to_the_references(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(p) for p in PAIRS])
    run = _benchmarks("score", "--input", str(path), "--metrics", "rouge-1,rouge-l,rouge-lsum,bleu")
    assert run.returncode == 0, run.stderr
    *rows, summary = [json.loads(line) for line in run.stdout.splitlines()]

    assert [(r["line"], r.get("id")) for r in rows] == [(1, "s1"), (2, None), (3, 3)]
    scorer = RougeScorer(["rouge1", "rougeL", "rougeLsum"], use_stemmer=True)
    for row, pair in zip(rows, PAIRS, strict=False):
        expected = scorer.score_multi(_references(pair), pair["prediction"])
        assert row["scores"]["rouge-1"] == expected["rouge1"].fmeasure
        assert row["scores"]["rouge-l"] == expected["rougeL"].fmeasure
        assert row["scores"]["rouge-lsum"] == expected["rougeLsum"].fmeasure
    assert rows[1]["scores"] == {"rouge-1": 0.0, "rouge-l": 0.0, "rouge-lsum": 0.0, "bleu": 0.0}

    stats = summary["summary"]
    assert list(stats) == ["rouge-1", "rouge-l", "rouge-lsum", "bleu"]
    assert stats["rouge-1"]["value"] == sum(r["scores"]["rouge-1"] for r in rows) / 3
    # sacrebleu's reference streams: None where a pair has fewer references
    streams = [[_references(p)[k] if k < len(_references(p)) else None for p in PAIRS] for k in range(2)]
    corpus = BLEU().corpus_score([p["prediction"] for p in PAIRS], streams).score
    assert abs(stats["bleu"]["value"] - corpus) <= 1e-9
    assert all(s["n"] == 3 and s["ciLow"] <= s["value"] <= s["ciHigh"] for s in stats.values())


def test_score_reads_stdin_and_can_switch_stemming_off() -> None:
    line = json.dumps({"prediction": "running models", "reference": "runs model"}) + "\n"
    stemmed = _benchmarks("score", "-i", "-", "--metrics", "rouge-1", stdin=line)
    unstemmed = _benchmarks("score", "-i", "-", "--metrics", "rouge-1", "--no-stemming", stdin=line)
    assert stemmed.returncode == unstemmed.returncode == 0, stemmed.stderr + unstemmed.stderr
    assert json.loads(stemmed.stdout.splitlines()[0])["scores"] == {"rouge-1": 1.0}
    assert json.loads(unstemmed.stdout.splitlines()[0])["scores"] == {"rouge-1": 0.0}


def test_bad_input_is_one_error_line_exit_2_and_no_scores(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(PAIRS[0]), json.dumps({"prediction": 42, "reference": "x"})])
    run = _benchmarks("score", "--input", str(path))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip() == f"error: {path} line 2: field 'prediction': expected a string, got a number"

    unknown = _benchmarks("score", "--input", str(path), "--metrics", "rouge-1,blue")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: --metrics: unknown metric 'blue' (did you mean 'bleu'?); available: ")

    missing = _benchmarks("score", "--input", str(tmp_path / "absent.jsonl"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: {tmp_path / 'absent.jsonl'}: cannot read the pairs: No such file or directory"
