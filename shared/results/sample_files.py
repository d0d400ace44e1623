"""Per-sample score files: what `benchmarks export ID --samples` writes and `benchmarks drift`
reads. One JSON object a line:

    {"sampleId": "qa-001", "model": "lead", "task": "question-answering",
     "scores": {"exact-match": 100.0, "f1-score": 100.0}, "prediction": "...", "error": null}

`model` and `task` are optional; a flat line ({"sampleId": "qa-001", "f1-score": 87.5}) works too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shared.errors import DatasetError
from shared.jsonl import json_objects
from shared.results.drift import Cells
from shared.results.report import ScoredSample

__all__ = ["read_sample_file", "sample_lines"]

"""(model, task, metric) -> {sample id: value}"""

_NOT_SCORES = frozenset({"sampleId", "model", "task", "scores", "prediction", "error", "latencyMs"})


def sample_lines(scored: Iterable[ScoredSample]) -> Iterable[dict[str, Any]]:
    for row in sorted(scored, key=lambda r: (r.model, r.task, r.score.sample_id)):
        yield {
            "sampleId": row.score.sample_id,
            "model": row.model,
            "task": row.task,
            "scores": row.score.scores,
            "prediction": row.score.prediction,
            "error": row.score.error,
        }


def read_sample_file(path: Path) -> Cells:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    cells: Cells = defaultdict(dict)
    for _, where, record in json_objects(text, location=str(path), error=DatasetError):
        sample_id = record.get("sampleId")
        if not isinstance(sample_id, str | int) or isinstance(sample_id, bool):
            raise DatasetError(f"{where}: field 'sampleId': missing or not a string")
        scores = record.get("scores", {k: v for k, v in record.items() if k not in _NOT_SCORES})
        if not isinstance(scores, dict):
            raise DatasetError(f"{where}: field 'scores': expected an object of metric values")
        for metric, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DatasetError(f"{where}: field '{metric}': expected a number, got {json.dumps(value)}")
            cells[(str(record.get("model", "-")), str(record.get("task", "-")), metric)][str(sample_id)] = float(value)
    if not cells:
        raise DatasetError(f"{path}: no scores in the file")
    return dict(cells)
