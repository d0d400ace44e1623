"""Checks a submitted spec before anything is stored or published: its models' keys and URLs
against the server's policies, and its datasets as the runner will read and shard them.

A spec sent over HTTP is a stranger's: it may name a credential its tenant stored (bound to the
model's base URL), never an environment variable of the servers (`apiKeyEnv` is for the CLI)."""

from __future__ import annotations

from pathlib import Path

from shared.credentials import CredentialStore
from shared.datasets import Dataset, check_server_path, fetch_task_dataset
from shared.errors import InvalidInput
from shared.outbound import url_refusal
from shared.settings import Settings
from shared.shards import cut_shards, resolve_task, shard_budget
from shared.spec import BenchmarkSpec, ModelConfig

__all__ = ["RequestProblem", "check_model", "check_submission", "evaluations_of"]


class RequestProblem(InvalidInput):
    """A request field the gateway refuses: `loc` is the field's path in the body."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


async def check_model(
    model: ModelConfig, settings: Settings, *, tenant: str, credentials: CredentialStore | None, loc: tuple[str | int, ...]
) -> None:
    """Refuse a model config sent over HTTP that names an environment variable, a credential the
    tenant has not stored or not bound to the model's base URL, or a base URL the outbound policy
    forbids; `loc` is where the config sits in the request body. The runner would refuse it on
    every sample: say so now."""
    if model.api_key_env is not None:
        raise RequestProblem(
            (*loc, "apiKeyEnv"),
            f"model {model.name!r}: a spec sent to the service may not name an environment variable; an admin stores"
            " the key as a named credential (PUT /v1/credentials/NAME) and the model names it in 'credential'",
        )
    if model.credential is not None:
        stored = await credentials.get(tenant, model.credential) if credentials is not None else None
        if stored is None:
            raise RequestProblem(
                (*loc, "credential"),
                f"model {model.name!r}: no credential named {model.credential!r}"
                " (an admin stores it with PUT /v1/credentials/NAME)",
            )
        if model.base_url is None or not stored.covers(model.base_url):
            raise RequestProblem(
                (*loc, "credential"),
                f"model {model.name!r}: credential {model.credential!r} may only be sent to {', '.join(stored.urls)},"
                f" not to {model.base_url}",
            )
    if model.base_url is not None and (refused := await url_refusal(str(model.base_url), settings.outbound_policy)):
        raise RequestProblem((*loc, "baseUrl"), refused)


async def check_submission(
    spec: BenchmarkSpec,
    settings: Settings,
    *,
    tenant: str,
    credentials: CredentialStore | None,
    loc: tuple[str | int, ...] = ("body",),
) -> dict[str, Dataset]:
    """Refuse model keys and URLs the policies forbid (check_model, with `tenant`'s credentials),
    load every task's dataset as the runner will, and enforce the size limits; `loc` is where
    the spec sits in the request body."""
    datasets: dict[str, Dataset] = {}
    spec_loc = loc
    for index, model in enumerate(spec.models):
        await check_model(model, settings, tenant=tenant, credentials=credentials, loc=(*spec_loc, "models", index))
    for index, task in enumerate(spec.tasks):
        loc = (*spec_loc, "tasks", index, "dataset")
        if task.dataset.path is not None:
            try:
                check_server_path(task.dataset.path, settings.data_dir)
            except InvalidInput as exc:
                raise RequestProblem((*loc, "path"), str(exc)) from None
        try:
            datasets[task.name] = await fetch_task_dataset(
                task, base_dir=settings.data_dir or Path.cwd(), outbound=settings.outbound_policy
            )
        except InvalidInput as exc:
            raise RequestProblem(loc, str(exc)) from None
        try:  # every sample must fit in a work item, as the runner will cut them
            resolved = resolve_task(task, datasets[task.name])
            budget = shard_budget(
                "bm_" + "0" * 12,
                spec.models,
                resolved,
                datasets[task.name].examples,
                max_message_bytes=settings.max_message_bytes,
            )
            cut_shards(datasets[task.name].samples, max_samples=settings.shard_size, max_bytes=budget, task=task.name)
        except InvalidInput as exc:
            raise RequestProblem(loc, str(exc)) from None
    evaluations = evaluations_of(spec, datasets)
    if evaluations > settings.max_samples:
        raise RequestProblem(
            (*spec_loc, "tasks"),
            f"{evaluations} model x sample evaluations exceed this server's maximum of {settings.max_samples};"
            " set a task 'limit' or split the benchmark",
        )
    return datasets


def evaluations_of(spec: BenchmarkSpec, datasets: dict[str, Dataset]) -> int:
    """Model x sample evaluations the benchmark asks for (its size, as quotas count it)."""
    return len(spec.models) * sum(len(d.samples) for d in datasets.values())
