"""Suites, schedules (with a controllable clock) and how suite / deployment runs choose models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.gateway.runs import deployment_spec, spec_for_run
from services.gateway.validation import RequestProblem
from shared.events import DeploymentEvent
from shared.results.completion import verdict_of
from shared.results.store import BenchmarkRecord
from shared.spec import describe_validation_error
from shared.suites import Schedule, Suite
from tests.report_shapes import drift_cell, stored_report

SPEC = {
    "name": "weekly",
    "models": ["builtin:lead", "builtin:extractive"],
    "tasks": [
        {"name": "qa", "type": "qa", "dataset": {"records": [{"id": "1", "question": "q", "context": "c", "answers": ["a"]}]}}
    ],
}
MONDAY_3AM = Schedule(cron="0 3 * * 1", timezone="Europe/Berlin")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def suite(**changes) -> Suite:
    return Suite.model_validate({"name": "weekly", "spec": SPEC, **changes})


class TestScheduleValidation:
    @pytest.mark.parametrize("cron", ["61 * * * *", "every monday", "* * *", "0 3 * * 8", ""])
    def test_invalid_cron_names_the_field(self, cron: str) -> None:
        with pytest.raises(ValidationError) as caught:
            Schedule(cron=cron)
        assert describe_validation_error(caught.value).startswith("cron:")

    def test_unknown_time_zone_suggests_one(self) -> None:
        with pytest.raises(ValidationError) as caught:
            Schedule(cron="0 3 * * 1", timezone="Berlin")
        message = describe_validation_error(caught.value)
        assert message.startswith("timezone: unknown time zone 'Berlin'") and "Europe/Berlin" in message

    @pytest.mark.parametrize("cron", ["0 3 * * 1", "*/15 * * * *", "@weekly", "0  3 * * mon"])
    def test_valid(self, cron: str) -> None:
        assert Schedule(cron=cron).cron == " ".join(cron.split())


class TestDueRun:
    since = at("2026-11-18T12:00:00+01:00")  # a Wednesday: the schedule was set then

    def test_not_due_before_the_first_occurrence(self) -> None:
        assert MONDAY_3AM.due_run(at("2026-11-23T02:59:59+01:00"), since=self.since, last_due=None) is None

    def test_due_at_its_time_in_the_schedules_zone(self) -> None:
        due = MONDAY_3AM.due_run(at("2026-11-23T03:00:20+01:00"), since=self.since, last_due=None)
        assert due is not None and due.due_at == at("2026-11-23T03:00:00+01:00")
        assert not due.catch_up and due.missed == 0
        assert due.describe(MONDAY_3AM).startswith("scheduled: 0 3 * * 1 (Europe/Berlin), due 2026-11-23T03:00:00+01:00")

    def test_not_due_again_once_run(self) -> None:
        last = at("2026-11-23T03:00:00+01:00")
        assert MONDAY_3AM.due_run(at("2026-11-25T10:00:00+01:00"), since=self.since, last_due=last) is None

    def test_occurrences_before_the_schedule_was_set_never_run(self) -> None:
        assert MONDAY_3AM.due_run(at("2026-11-18T12:00:01+01:00"), since=self.since, last_due=None) is None

    def test_after_downtime_one_catch_up_run_says_so(self) -> None:
        last = at("2026-11-23T03:00:00+01:00")
        now = at("2026-12-16T09:00:00+01:00")  # down over three Mondays: 30 Nov, 7 Dec, 14 Dec
        due = MONDAY_3AM.due_run(now, since=self.since, last_due=last)
        assert due is not None and due.due_at == at("2026-12-14T03:00:00+01:00")
        assert due.catch_up and due.missed == 2
        text = due.describe(MONDAY_3AM)
        assert text.startswith("catch-up after downtime") and "2 earlier missed run(s) skipped" in text

    def test_late_but_nothing_skipped_is_still_a_catch_up(self) -> None:
        due = MONDAY_3AM.due_run(at("2026-11-23T05:00:00+01:00"), since=self.since, last_due=None)
        assert due is not None and due.catch_up and due.missed == 0

    def test_wall_clock_time_kept_across_daylight_saving(self) -> None:
        since = at("2026-03-20T12:00:00+01:00")
        due = MONDAY_3AM.due_run(at("2026-03-30T03:00:10+02:00"), since=since, last_due=at("2026-03-23T03:00:00+01:00"))
        assert due is not None and due.due_at.hour == 3 and due.due_at.utcoffset() == timedelta(hours=2)


class TestSuite:
    def test_spec_takes_the_suites_name(self) -> None:
        assert suite().spec.suite_name == "weekly"

    def test_spec_naming_another_suite_is_refused(self) -> None:
        with pytest.raises(ValidationError, match=r"spec.suite is 'other'"):
            suite(spec={**SPEC, "suite": "other"})

    def test_name_must_be_plain(self) -> None:
        with pytest.raises(ValidationError):
            Suite.model_validate({"name": "a b/c", "spec": SPEC})


class TestSpecForRun:
    def test_all_models_by_default(self) -> None:
        assert [m.name for m in spec_for_run(suite()).models] == ["lead", "extractive"]

    def test_only_the_named_models(self) -> None:
        assert [m.name for m in spec_for_run(suite(), models=["extractive"]).models] == ["extractive"]

    def test_unknown_model_names_the_field(self) -> None:
        with pytest.raises(RequestProblem) as caught:
            spec_for_run(suite(), models=["gpt"])
        assert caught.value.loc == ("body", "models") and "has no model 'gpt'" in str(caught.value)

    def test_endpoint_needs_one_model(self) -> None:
        with pytest.raises(RequestProblem, match="exactly one model"):
            spec_for_run(suite(), endpoint="http://candidate:8080/v1")

    def test_builtin_models_have_no_endpoint(self) -> None:
        with pytest.raises(RequestProblem, match="built-in model") as caught:
            spec_for_run(suite(), models=["lead"], endpoint="http://127.0.0.1:9/v1")
        assert caught.value.loc == ("body", "endpoint")

    def test_endpoint_replaces_the_base_url(self) -> None:
        configs = [{"name": "summarizer", "provider": "openai", "model": "m", "baseUrl": "http://prod/v1"}]
        chosen = spec_for_run(suite(spec={**SPEC, "models": configs}), models=["summarizer"], endpoint="http://candidate:8080/v1")
        assert chosen.models[0].base_url == "http://candidate:8080/v1"


class TestDeploymentSpec:
    def event(self, **fields) -> DeploymentEvent:
        return DeploymentEvent.model_validate({"model": "lead", "version": "v2", "suite": "weekly", **fields})

    def test_the_suites_model_of_that_name(self) -> None:
        assert [m.name for m in deployment_spec(suite(), self.event()).models] == ["lead"]

    def test_a_given_config_runs_under_the_deployed_name(self) -> None:
        spec = deployment_spec(suite(), self.event(model="summarizer", modelConfig="builtin:extractive"))
        assert [(m.name, m.model) for m in spec.models] == [("summarizer", "extractive")]

    def test_unknown_model_without_config_is_refused(self) -> None:
        with pytest.raises(RequestProblem) as caught:
            deployment_spec(suite(), self.event(model="summarizer"))
        assert caught.value.loc == ("modelConfig",)

    @pytest.mark.parametrize("missing", ["model", "version", "suite"])
    def test_missing_fields_are_refused(self, missing: str) -> None:
        fields = {"model": "lead", "version": "v2", "suite": "weekly"}
        del fields[missing]
        with pytest.raises(ValidationError, match=missing):
            DeploymentEvent.model_validate(fields)

    def test_unknown_schema_version_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="schemaVersion"):
            self.event(schemaVersion=2)


def record(status: str, cells: list[str] | None) -> BenchmarkRecord:
    """A benchmark of `status`; completed, its report's drift cells have the verdicts `cells` (no drift: None)."""
    moment = datetime(2026, 11, 26, tzinfo=UTC)
    drift = [drift_cell(verdict, metric=f"m{i}") for i, verdict in enumerate(cells)] if cells is not None else None
    report = stored_report("bm_1", {"lead": {"qa": {"f1-score": 1.0}}}, drift=drift) if status == "completed" else None
    return BenchmarkRecord("bm_1", "default", "n", "weekly", status, "deployment", moment, moment, {}, None, report, None)


@pytest.mark.parametrize(
    ("status", "cells", "verdict"),
    [
        ("completed", ["unchanged", "regressed", "improved"], "regressed"),
        ("completed", ["unchanged", "improved"], "improved"),
        ("completed", ["unchanged"], "unchanged"),
        ("completed", [], "no-baseline"),
        ("completed", None, "no-baseline"),
        ("failed", None, "failed"),
        ("running", None, None),
    ],
)
def test_verdict_of_a_run(status: str, cells: list[str] | None, verdict: str | None) -> None:
    assert verdict_of(record(status, cells)) == verdict
