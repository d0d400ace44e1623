"""Dataset loading: field mapping, digests, seeded subsets and clear errors per line and field."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shared.datasets import digest_samples, load_task_dataset, parse_records, select_samples
from shared.errors import DatasetError
from shared.spec import DatasetRef, TaskSpec
from shared.task_types import TASK_TYPES


def _jsonl(*records: object) -> str:
    return "\n".join(json.dumps(r) for r in records) + "\n"


def _qa(text: str, **ref: object):
    return parse_records(text, DatasetRef.model_validate({"path": "qa.jsonl", **ref}), TASK_TYPES["qa"], location="qa.jsonl")


def test_records_are_normalised() -> None:
    samples = _qa(
        _jsonl({"id": 7, "question": "Q?", "context": "C.", "answers": "A"}, {"question": "Q2?", "answers": ["x", "y"]})
    )
    assert samples[0].id == "7" and samples[0].references == ["A"]
    assert samples[1].id == "2" and samples[1].inputs == {"question": "Q2?", "context": ""}


def test_field_mapping_reads_other_column_names() -> None:
    text = _jsonl({"qid": "a", "q": "Q?", "passage": "P.", "gold": ["A"]})
    samples = _qa(text, fields={"question": "q", "context": "passage", "answers": "gold"}, idField="qid")
    assert samples[0].id == "a" and samples[0].inputs == {"question": "Q?", "context": "P."}


def test_digest_depends_on_content_not_layout() -> None:
    a = _qa(_jsonl({"id": 1, "question": "Q?", "answers": ["A"], "context": "C"}))
    b = _qa(json.dumps({"context": "C", "answers": "A", "question": "Q?", "id": "1"}, indent=None) + "\n\n")
    c = _qa(_jsonl({"id": 1, "question": "Q?", "answers": ["B"], "context": "C"}))
    assert digest_samples(a) == digest_samples(b)
    assert digest_samples(a) != digest_samples(c)
    assert digest_samples(a).startswith("sha256:")


def test_limit_takes_a_seeded_subset_in_dataset_order() -> None:
    samples = _qa(_jsonl(*({"id": i, "question": f"q{i}", "answers": "a"} for i in range(100))))
    first = select_samples(samples, limit=10, seed=3)
    assert first == select_samples(samples, limit=10, seed=3)
    assert first != select_samples(samples, limit=10, seed=4)
    assert [int(s.id) for s in first] == sorted(int(s.id) for s in first)
    assert select_samples(samples, limit=500, seed=0) == samples


@pytest.mark.parametrize(
    ("text", "ref", "expected"),
    [
        ("", {}, "qa.jsonl: the dataset has no records"),
        ("\n\n", {}, "qa.jsonl: the dataset has no records"),
        ('{"question": "Q"}\n', {}, "qa.jsonl line 1: field 'answers': missing"),
        ('{"question": 3, "answers": "a"}\n', {}, "qa.jsonl line 1: field 'question': expected a string, got a number"),
        (
            '{"question": "Q", "answers": []}\n',
            {},
            "field 'answers': expected a string or a non-empty list of strings, got a list",
        ),
        ('{"question": "Q", "answers": "a"}\n{oops\n', {}, "qa.jsonl line 2: not valid JSON"),
        ("[1, 2]\n", {}, "qa.jsonl line 1: expected a JSON object, got a list"),
        (
            '{"id": "x", "question": "Q", "answers": "a"}\n{"id": "x", "question": "Q", "answers": "a"}\n',
            {},
            "qa.jsonl line 2: field 'id': duplicate sample id 'x' (first on line 1)",
        ),
        ('{"question": "Q", "answers": "a"}\n', {"fields": {"query": "q"}}, "dataset.fields.query: not a field of qa tasks"),
    ],
)
def test_bad_records_name_the_line_field_and_reason(text: str, ref: dict, expected: str) -> None:
    with pytest.raises(DatasetError) as caught:
        _qa(text, **ref)
    assert expected in str(caught.value)


def _task(dataset: object, **extra: object) -> TaskSpec:
    return TaskSpec.model_validate({"name": "qa", "type": "qa", "dataset": dataset, **extra})


def test_relative_paths_resolve_against_the_spec_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "qa.jsonl").write_text(_jsonl({"question": "Q", "answers": "a"}))
    dataset = load_task_dataset(_task("data/qa.jsonl"), base_dir=tmp_path)
    assert len(dataset.samples) == 1 and dataset.location == str(tmp_path / "data" / "qa.jsonl")


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope.jsonl: dataset file not found"):
        load_task_dataset(_task("nope.jsonl"), base_dir=tmp_path)
    (tmp_path / "latin1.jsonl").write_bytes('{"question": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(DatasetError, match=r"latin1.jsonl: dataset is not UTF-8 text"):
        load_task_dataset(_task("latin1.jsonl"), base_dir=tmp_path)


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_datasets_load_over_http(http_folder: tuple[Path, str]) -> None:
    folder, base_url = http_folder
    (folder / "qa.jsonl").write_text(_jsonl({"question": "Q", "answers": "a"}, {"question": "R", "answers": "b"}))
    over_http = load_task_dataset(_task(f"{base_url}/qa.jsonl"), base_dir=Path("/nonexistent"))
    from_disk = load_task_dataset(_task("qa.jsonl"), base_dir=folder)
    assert over_http.digest == from_disk.digest and over_http.location == f"{base_url}/qa.jsonl"
    with pytest.raises(DatasetError, match=r"missing.jsonl: download failed with HTTP 404"):
        load_task_dataset(_task(f"{base_url}/missing.jsonl"), base_dir=folder)


def test_services_read_dataset_paths_only_inside_their_data_folder(tmp_path: Path) -> None:
    from shared.datasets import check_server_path

    (tmp_path / "qa.jsonl").write_text("{}\n")
    assert check_server_path("qa.jsonl", tmp_path) == (tmp_path / "qa.jsonl").resolve()
    for outside in ("../etc/passwd", "/etc/passwd", "sub/../../x"):
        with pytest.raises(DatasetError, match="must stay inside the server's data folder"):
            check_server_path(outside, tmp_path)
    with pytest.raises(DatasetError, match="this server reads no dataset files"):
        check_server_path("qa.jsonl", None)
