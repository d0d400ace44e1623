"""The embedded runtime chains the stages over SQLite: the quickstart end to end."""

from __future__ import annotations

import asyncio

import pytest

from services import embedded
from services.runner.models import ModelPool
from shared.events import SampleScores
from shared.results.sqlite_store import SqliteStore
from shared.results.store import BenchmarkFilter
from shared.settings import Settings
from shared.spec import load_spec
from tests.conftest import EXAMPLES

QUICKSTART = EXAMPLES / "quickstart.yaml"


async def test_quickstart_runs_end_to_end_and_is_stable(store: SqliteStore, settings: Settings) -> None:
    spec = load_spec(QUICKSTART)
    progress: list[tuple[int, int]] = []
    first = await embedded.run_benchmark(
        spec, base_dir=EXAMPLES, store=store, settings=settings, on_progress=lambda done, total: progress.append((done, total))
    )
    second = await embedded.run_benchmark(spec, base_dir=EXAMPLES, store=store, settings=settings)

    assert first["status"] == "completed" and first["benchmarkId"].startswith("bm_")
    assert [row["model"] for row in first["results"]] == ["lead", "extractive"]
    for row in first["results"]:
        assert set(row["text-summarization"]) == {"rouge-1", "rouge-2", "rouge-l", "rouge-lsum"}
        assert set(row["question-answering"]) == {"exact-match", "f1-score"}
        assert all(0.0 < v < 1.0 for v in row["text-summarization"].values())
        assert all(0.0 <= v <= 100.0 for v in row["question-answering"].values())
    # the extractive baseline really answers questions better than whole sentences do
    lead, extractive = first["results"]
    assert extractive["question-answering"]["exact-match"] > lead["question-answering"]["exact-match"]

    assert progress[-1] == (240, 240)  # 2 models x (60 + 60) samples
    assert first["benchmarkId"] != second["benchmarkId"]
    assert first["results"] == second["results"] and first["tasks"] == second["tasks"]
    assert _without_latency(first) == _without_latency(second)

    record = await store.get_benchmark(first["benchmarkId"])
    assert record is not None and record.status == "completed" and record.report == first
    assert len(await store.load_scores(first["benchmarkId"])) == 240


def _without_latency(report: dict) -> list[dict]:
    """Latencies differ between runs; every quality figure must not."""
    return [{k: v for k, v in cell.items() if k != "latencyMs"} for cell in report["details"]]


async def test_only_the_work_in_flight_is_planned_out(
    store: SqliteStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work items are made as workers take them: never more than `concurrency` unfinished at once."""
    settings = settings.model_copy(update={"concurrency": 3, "shard_size": 8})
    counts = {"taken": 0, "run": 0, "most": 0}
    plan_work, run_work_item = embedded.plan_work, embedded.run_work_item

    def counted_plan(*args, **kwargs):
        plan, work = plan_work(*args, **kwargs)

        def taken():
            for item in work:
                counts["taken"] += 1
                counts["most"] = max(counts["most"], counts["taken"] - counts["run"])
                yield item

        return plan, taken()

    async def counted_run(item, model):
        outputs = await run_work_item(item, model)
        counts["run"] += 1
        return outputs

    monkeypatch.setattr(embedded, "plan_work", counted_plan)
    monkeypatch.setattr(embedded, "run_work_item", counted_run)
    await embedded.run_benchmark(load_spec(QUICKSTART), base_dir=EXAMPLES, store=store, settings=settings)
    assert counts["taken"] == counts["run"] == 2 * (60 // 8 + 1) * 2  # 2 models x 2 tasks of 60 samples, 8 a shard
    assert counts["most"] == 3


async def test_a_crash_mid_run_marks_the_benchmark_failed(
    store: SqliteStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        async def generate(self, request):
            raise RuntimeError("adapter bug")

        async def aclose(self) -> None:
            return None

    monkeypatch.setattr(ModelPool, "get", lambda self, config, tenant: Broken())
    with pytest.raises(RuntimeError, match="adapter bug"):
        await embedded.run_benchmark(load_spec(QUICKSTART), base_dir=EXAMPLES, store=store, settings=settings)
    [record] = await store.list_benchmarks()
    assert record.status == "failed" and record.reason == "RuntimeError: adapter bug" and record.report is None


async def test_redelivered_scores_do_not_count_twice(store: SqliteStore, settings: Settings) -> None:
    report = await embedded.run_benchmark(load_spec(QUICKSTART), base_dir=EXAMPLES, store=store, settings=settings)
    scored = await store.load_scores(report["benchmarkId"])
    model, task = scored[0].model, scored[0].task
    again = SampleScores(
        benchmark_id=report["benchmarkId"],
        model=model,
        task=task,
        shard=0,
        scores=[row.score for row in scored if (row.model, row.task) == (model, task)],
    )
    assert await store.save_scores(again) == 0  # nothing new
    assert await store.count_scores(report["benchmarkId"]) == 240


async def test_list_filters_and_who_asked(store: SqliteStore, settings: Settings) -> None:
    spec = load_spec(QUICKSTART).model_copy(update={"tasks": load_spec(QUICKSTART).tasks[1:]})
    by_cli = await embedded.run_benchmark(spec, base_dir=EXAMPLES, store=store, settings=settings, requested_by="ada")
    lead_only = spec.model_copy(update={"models": spec.models[:1], "suite": "other"})
    by_ci = await embedded.run_benchmark(lead_only, base_dir=EXAMPLES, store=store, settings=settings, trigger="ci")

    def ids(records: list) -> list[str]:
        return [r.benchmark_id for r in records]

    assert ids(await store.list_benchmarks(where=BenchmarkFilter(trigger="ci"))) == [by_ci["benchmarkId"]]
    assert ids(await store.list_benchmarks(where=BenchmarkFilter(model="extractive"))) == [by_cli["benchmarkId"]]
    assert ids(await store.list_benchmarks(where=BenchmarkFilter(model="lead", suite="quickstart", status="completed"))) == [
        by_cli["benchmarkId"]
    ]
    assert await store.list_benchmarks(where=BenchmarkFilter(status="failed")) == []
    assert (await store.get_benchmark(by_cli["benchmarkId"])).summary()["requestedBy"] == "ada"


def test_a_store_file_from_before_the_cause_column_still_opens(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE benchmarks (tenant TEXT NOT NULL, benchmark_id TEXT NOT NULL, name TEXT NOT NULL,"
            " suite TEXT NOT NULL, status TEXT NOT NULL, trigger_kind TEXT NOT NULL, created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL, spec TEXT NOT NULL, plan TEXT, report TEXT, reason TEXT,"
            " PRIMARY KEY (tenant, benchmark_id))"
        )
        old.execute(
            "INSERT INTO benchmarks VALUES ('default', 'bm_old', 'n', 's', 'completed', 'cli',"
            " '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', '{}', NULL, NULL, NULL)"
        )
    store = SqliteStore(path)
    [record] = asyncio.run(store.list_benchmarks())
    assert record.benchmark_id == "bm_old" and record.cause == {} and record.requested_by is None
    asyncio.run(store.close())
