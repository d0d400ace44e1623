"""Checks a submitted spec before anything is stored or published: its models' keys and URLs
against the server's policies, and its datasets as the runner will read and shard them."""

from __future__ import annotations

from pathlib import Path

from services.runner.planner import cut_shards, resolve_task, shard_budget
from shared.datasets import Dataset, check_server_path, fetch_task_dataset
from shared.errors import InvalidInput
from shared.key_policy import key_refusal
from shared.outbound import url_refusal
from shared.settings import Settings
from shared.spec import BenchmarkSpec

__all__ = ["RequestProblem", "check_submission"]


class RequestProblem(InvalidInput):
    """A request field the gateway refuses: `loc` is the field's path in the body."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


async def check_submission(
    spec: BenchmarkSpec, settings: Settings, *, loc: tuple[str | int, ...] = ("body",)
) -> dict[str, Dataset]:
    """Refuse model keys and URLs the policies forbid, load every task's dataset as the runner
    will, and enforce the size limits; `loc` is where the spec sits in the request body."""
    datasets: dict[str, Dataset] = {}
    spec_loc = loc
    for index, model in enumerate(spec.models):  # the runner would refuse it on every sample: say so now
        if (refused := key_refusal(model, settings.model_keys)) is not None:
            raise RequestProblem(spec_loc + ("models", index, "apiKeyEnv"), refused)
        if model.base_url is not None and (refused := await url_refusal(str(model.base_url), settings.outbound_policy)):
            raise RequestProblem(spec_loc + ("models", index, "baseUrl"), refused)
    for index, task in enumerate(spec.tasks):
        loc = spec_loc + ("tasks", index, "dataset")
        if task.dataset.path is not None:
            try:
                check_server_path(task.dataset.path, settings.data_dir)
            except InvalidInput as exc:
                raise RequestProblem(loc + ("path",), str(exc)) from None
        try:
            datasets[task.name] = await fetch_task_dataset(
                task, base_dir=settings.data_dir or Path.cwd(), outbound=settings.outbound_policy
            )
        except InvalidInput as exc:
            raise RequestProblem(loc, str(exc)) from None
        try:  # every sample must fit in a work item, as the runner will cut them
            resolved = resolve_task(task, datasets[task.name])
            budget = shard_budget(
                "bm_" + "0" * 12, spec.models, resolved, datasets[task.name].examples,
                max_message_bytes=settings.max_message_bytes,
            )
            cut_shards(datasets[task.name].samples, max_samples=settings.shard_size, max_bytes=budget, task=task.name)
        except InvalidInput as exc:
            raise RequestProblem(loc, str(exc)) from None
    evaluations = len(spec.models) * sum(len(d.samples) for d in datasets.values())
    if evaluations > settings.max_samples:
        raise RequestProblem(
            spec_loc + ("tasks",),
            f"{evaluations} model x sample evaluations exceed this server's maximum of {settings.max_samples};"
            " set a task 'limit' or split the benchmark",
        )
    return datasets
