"""Datasets: JSONL by path or http(s) URL, normalised into Samples, with a content digest.

Reading (file or HTTP) is kept apart from parsing so the parsing is pure and testable.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import DatasetError
from shared.events import Sample
from shared.jsonl import json_objects, json_type
from shared.outbound import OutboundPolicy, fetch_text
from shared.spec import DatasetRef, TaskSpec
from shared.task_types import TASK_TYPES, TaskType

__all__ = [
    "Dataset",
    "load_task_dataset",
    "fetch_task_dataset",
    "dataset_from_text",
    "check_server_path",
    "inline_records",
    "read_dataset_text",
    "parse_records",
    "select_samples",
    "digest_samples",
]


@dataclass(frozen=True, slots=True)
class Dataset:
    location: str
    samples: tuple[Sample, ...]
    digest: str
    """Over the evaluated samples and the few-shot examples: either changing changes the digest."""
    examples: tuple[Sample, ...] = ()


def load_task_dataset(task: TaskSpec, *, base_dir: Path, outbound: OutboundPolicy | None = None) -> Dataset:
    """Read, normalise and subset a task's dataset (few-shot examples, limit and seed), then
    digest what is used. A URL is fetched under `outbound` (None: anywhere), off any event loop."""
    location, text = read_dataset_text(task.dataset, base_dir=base_dir, outbound=outbound)
    return dataset_from_text(task, location=location, text=text)


async def fetch_task_dataset(task: TaskSpec, *, base_dir: Path, outbound: OutboundPolicy | None) -> Dataset:
    """load_task_dataset for the services: a URL is downloaded on the event loop, so a slow
    server holds no worker thread (the threads parse, for every request alike), then parsed in
    a worker thread like a file or inline records."""
    if task.dataset.url is None:
        return await asyncio.to_thread(load_task_dataset, task, base_dir=base_dir)
    try:
        text = await fetch_text(task.dataset.url, policy=outbound)
    except ValueError as exc:
        raise DatasetError(f"{task.dataset.url}: {exc}") from None
    return await asyncio.to_thread(dataset_from_text, task, location=task.dataset.url, text=text)


def dataset_from_text(task: TaskSpec, *, location: str, text: str) -> Dataset:
    """Normalise and subset a task's dataset read as `text` (few-shot examples, limit, seed)."""
    unit = "record" if task.dataset.records is not None else "line"
    samples = parse_records(text, task.dataset, TASK_TYPES[task.type], location=location, unit=unit)
    examples: list[Sample] = []
    if task.prompt.few_shot:
        if task.prompt.few_shot >= len(samples):
            raise DatasetError(
                f"{location}: prompt.fewShot {task.prompt.few_shot} leaves no sample to evaluate ({len(samples)} records)"
            )
        examples = select_samples(samples, limit=task.prompt.few_shot, seed=task.seed + 1)
        taken = {example.id for example in examples}
        samples = [sample for sample in samples if sample.id not in taken]
    chosen = select_samples(samples, limit=task.limit, seed=task.seed)
    return Dataset(
        location=location, samples=tuple(chosen), digest=digest_samples([*chosen, *examples]), examples=tuple(examples)
    )


def check_server_path(path: str, data_dir: Path | None) -> Path:
    """A dataset path a service may read: inside its BENCH_DATA_DIR (none: no paths at all).
    For requests from strangers; the embedded CLI reads the user's own files."""
    if data_dir is None:
        raise DatasetError(
            "this server reads no dataset files; give a 'url' or inline 'records' (`benchmarks submit` inlines local files)"
        )
    resolved = (data_dir / path).resolve()
    if not resolved.is_relative_to(data_dir.resolve()):
        raise DatasetError(f"dataset paths must stay inside the server's data folder, {path} does not")
    return resolved


def inline_records(ref: DatasetRef, *, base_dir: Path) -> DatasetRef:
    """The same dataset with a local file's records inlined, for a server that cannot read it."""
    if ref.path is None:
        return ref
    location, text = read_dataset_text(ref, base_dir=base_dir)
    records = [record for _, _, record in json_objects(text, location=location, error=DatasetError)]
    return ref.model_copy(update={"path": None, "records": records})


def read_dataset_text(ref: DatasetRef, *, base_dir: Path, outbound: OutboundPolicy | None = None) -> tuple[str, str]:
    """Return (location as shown to users, text). Relative paths are relative to `base_dir`.
    Called from a worker thread (or a plain script): a URL is fetched on a loop of its own."""
    if ref.records is not None:
        return ref.location, "\n".join(json.dumps(record, ensure_ascii=False) for record in ref.records)
    if ref.url is not None:
        try:
            return ref.url, asyncio.run(fetch_text(ref.url, policy=outbound))
        except ValueError as exc:
            raise DatasetError(f"{ref.url}: {exc}") from None
    path = Path(ref.location)
    if not path.is_absolute():
        path = base_dir / path
    try:
        return str(path), path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: dataset file not found") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: dataset is not UTF-8 text") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the dataset: {exc.strerror or exc}") from None


def parse_records(text: str, ref: DatasetRef, task_type: TaskType, *, location: str, unit: str = "line") -> list[Sample]:
    """Parse JSONL into Samples; the first bad record stops it with file, line, field and reason."""
    known = (*task_type.input_fields, *task_type.optional_input_fields, task_type.reference_field)
    for field in ref.fields:
        if field not in known:
            raise DatasetError(
                f"{location}: dataset.fields.{field}: not a field of {task_type.name} tasks (fields: {', '.join(known)})"
            )
    column = {field: ref.fields.get(field, field) for field in known}

    samples: list[Sample] = []
    seen_ids: dict[str, int] = {}
    for line_no, where, record in json_objects(text, location=location, unit=unit, error=DatasetError):
        sample_id = _sample_id(record, ref.id_field, default=str(len(samples) + 1), where=where)
        if sample_id in seen_ids:
            raise DatasetError(
                f"{where}: field '{ref.id_field}': duplicate sample id {sample_id!r} (first on {unit} {seen_ids[sample_id]})"
            )
        seen_ids[sample_id] = line_no

        inputs = {field: _text(record, column[field], where=where) for field in task_type.input_fields}
        for field in task_type.optional_input_fields:
            inputs[field] = _text(record, column[field], where=where) if column[field] in record else ""
        references = _references(record, column[task_type.reference_field], where=where)
        samples.append(Sample(id=sample_id, inputs=inputs, references=references))

    if not samples:
        raise DatasetError(f"{location}: the dataset has no records")
    return samples


def select_samples(samples: Sequence[Sample], *, limit: int | None, seed: int) -> list[Sample]:
    """A seeded random subset of `limit` samples, in dataset order; all of them without a limit."""
    if limit is None or limit >= len(samples):
        return list(samples)
    keep = sorted(random.Random(seed).sample(range(len(samples)), limit))
    return [samples[i] for i in keep]


def digest_samples(samples: Sequence[Sample]) -> str:
    """sha256 of the normalised records: the same data gives the same digest whatever the file layout.
    The bytes hashed are the records as one compact JSON list, fed a record at a time (the whole
    text at once took twice the dataset's size again)."""
    digest = hashlib.sha256(b"[")
    for index, sample in enumerate(samples):
        record = json.dumps(sample.model_dump(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest.update(b"," + record.encode() if index else record.encode())
    digest.update(b"]")
    return "sha256:" + digest.hexdigest()


def _sample_id(record: dict[str, Any], id_field: str, *, default: str, where: str) -> str:
    if id_field not in record:
        return default
    value = record[id_field]
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise DatasetError(f"{where}: field '{id_field}': the sample id must be a non-empty string or an integer")
    return str(value)


def _text(record: dict[str, Any], column: str, *, where: str) -> str:
    if column not in record:
        raise DatasetError(f"{where}: field '{column}': missing")
    value = record[column]
    if not isinstance(value, str):
        raise DatasetError(f"{where}: field '{column}': expected a string, got {json_type(value)}")
    return value


def _references(record: dict[str, Any], column: str, *, where: str) -> list[str]:
    if column not in record:
        raise DatasetError(f"{where}: field '{column}': missing")
    value = record[column]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    raise DatasetError(f"{where}: field '{column}': expected a string or a non-empty list of strings, got {json_type(value)}")
