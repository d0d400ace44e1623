"""The benchmark spec: what a user asks for (YAML/JSON file, later the HTTP request body).

    name: LLM Performance Comparison
    models:
      - builtin:lead                      # shorthand for {name: lead, provider: builtin, model: lead}
      - {name: extractive, provider: builtin, model: extractive}
    tasks:
      - name: text-summarization          # the key in the report
        type: summarization               # summarization | qa | classification
        dataset: data/summarization.jsonl # path (relative to the spec file) or http(s) URL
        metrics: [rouge-1, rouge-l]       # optional: the type's defaults otherwise
        limit: 50                         # optional: a seeded random subset of this size
        seed: 0

Field names are snake_case or camelCase alike; the wire form is camelCase.
"""

from __future__ import annotations

import json
import math
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from shared.errors import SpecError, UnknownMetric
from shared.task_types import TASK_TYPES, TaskTypeName

__all__ = [
    "SpecModel",
    "DatasetRef",
    "PromptSpec",
    "GenerationParams",
    "ModelConfig",
    "TaskSpec",
    "BenchmarkSpec",
    "load_spec",
    "read_document",
    "parse_document",
    "parse_spec",
    "describe_validation_error",
]


def _printable(name: str) -> str:
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise ValueError("names may not contain control characters (such as NUL or a newline)")
    return name


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]
Seed = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""A seed: any integer the stores can hold (64 bits); larger ones are refused, not a 500."""
"""A name shown in reports and used as a key in stored documents: printable, 1-200 characters."""


MAX_RECORD_DEPTH = 20
"""How deeply a record's values may nest (MongoDB holds 100 levels in a whole document)."""


def _unstorable(value: Any, where: str = "", depth: int = 0) -> str | None:
    """Why `value`, decoded JSON, cannot travel in an event and be stored by MongoDB and FerretDB
    as it is (a suite stores its inline records), naming where in it; None when it can."""
    at = f"{where}: " if where else ""
    if depth > MAX_RECORD_DEPTH:
        return f"{at}nested deeper than {MAX_RECORD_DEPTH} levels"
    if isinstance(value, str):
        return None if _utf8(value) else f"{at}not UTF-8 text (a lone surrogate)"
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if -(2**63) <= value < 2**63 else f"{at}an integer beyond 64 bits, which the stores cannot hold"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{at}{value} is not a finite number"
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, list):
                return f"{where}[{index}]: a list directly inside a list, which FerretDB cannot store"
            if problem := _unstorable(item, f"{where}[{index}]", depth + 1):
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$") or "." in key or "\x00" in key or not _utf8(key):
                return f"{at}the name {key!r} cannot be stored (no leading '$', no '.', no NUL, UTF-8 text)"
            step = (f".{key}" if where else key) if re.fullmatch(r"[\w-]+", key) else f"[{key!r}]"
            if problem := _unstorable(item, where + step, depth + 1):
                return problem
        return None
    return f"{at}{type(value).__name__} is not JSON"


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


_HEADER_NAME = re.compile(r"[A-Za-z0-9!#%&'*+^_`|~-]+")
"""An HTTP field name (RFC 9110 token) without '$' and '.', which no store takes in a key."""


class SpecModel(BaseModel):
    """Frozen, camelCase on the wire, and strict about unknown fields (typos fail loudly)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,  # JSON and the stores hold finite numbers only
        alias_generator=to_camel,
        populate_by_name=True,
    )


class DatasetRef(SpecModel):
    path: str | None = None
    url: str | None = None
    records: list[dict[str, Any]] | None = None
    """Inline records: `benchmarks submit` inlines local files so the gateway needs no shared disk."""
    fields: dict[str, str] = Field(default_factory=dict)
    """Mapping from the task type's field name to the column name in the file."""
    id_field: str = "id"
    """Column holding the sample id; records without it are numbered by line."""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            key = "url" if value.startswith(("http://", "https://")) else "path"
            return {key: value}
        return value

    @field_validator("records")
    @classmethod
    def _storable_records(cls, records: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        # they travel in the benchmark's events and a suite stores them: a value neither holds would
        # fail there (a 500, a dead letter), so it is refused here, naming the record and the column
        for index, record in enumerate(records or ()):
            if problem := _unstorable(record):
                raise ValueError(f"record {index + 1}: {problem}")
        return records

    @model_validator(mode="after")
    def _exactly_one_source(self) -> DatasetRef:
        if sum(source is not None for source in (self.path, self.url, self.records)) != 1:
            raise ValueError("give exactly one of 'path', 'url' or 'records'")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("'url' must start with http:// or https://")
        return self

    @property
    def location(self) -> str:
        return self.path or self.url or "inline records"


class PromptSpec(SpecModel):
    template: str | None = None
    """str.format template over the record's fields; the task type's default otherwise."""
    system: str | None = None
    few_shot: int = Field(default=0, ge=0, le=32)
    """Solved examples drawn (seeded) from the dataset and shown before each question; they are
    not evaluated."""


class GenerationParams(SpecModel):
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=256, gt=0, le=1_000_000)
    stop: list[str] = Field(default_factory=list)
    seed: Seed | None = None


class Pricing(SpecModel):
    """Price per million tokens, for the report's cost column."""

    prompt_per_million: float = Field(ge=0, le=1e9)
    completion_per_million: float = Field(ge=0, le=1e9)
    currency: str = "USD"


class Limits(SpecModel):
    """How hard the runners may drive this model's endpoint."""

    concurrency: int = Field(default=8, ge=1, le=1024)
    """Requests in flight at once, per runner process (adaptive: halves on sustained 429s)."""
    requests_per_minute: int | None = Field(default=None, ge=1, le=10**9)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=10**12)
    """Budgets shared by all runner replicas (kept in the store), not per process."""
    budget: str | None = None
    """Name of the shared budget; models naming the same budget share it. Default: provider + base URL."""
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    max_retries: int = Field(default=5, ge=0, le=50)
    """Retries of 429s, 5xx, timeouts and connection errors, with exponential backoff and jitter."""
    adaptive: bool = True


_REMOTE_PROVIDERS = ("openai", "anthropic")
BUILTIN_MODEL_NAMES = frozenset({"lead", "extractive"})
"""The built-in offline models (services/runner/adapters/builtin.py implements exactly these)."""
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key"})


class ModelConfig(SpecModel):
    name: Name
    """Display name: the `model` value in the report."""
    provider: Literal["builtin", "openai", "anthropic"] = "builtin"
    model: str | None = None
    """Provider's model id; defaults to the display name."""
    api: Literal["chat", "completions"] = "chat"
    """openai only: Chat Completions or the legacy Completions API."""
    base_url: str | None = None
    """Any OpenAI-compatible server (vLLM, Ollama, llama.cpp, TGI, LiteLLM, ...) or the provider's API."""
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The NAME of the environment variable holding the API key; the key itself never travels.
    For the embedded CLI (the user's own environment): a spec sent to the service names a `credential`."""
    credential: Name | None = None
    """The name of a provider credential an admin stored for the tenant (PUT /v1/credentials/NAME);
    the runner sends its secret only to a base URL the credential is bound to."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers sent with every request to the model (never a key: see `credential`)."""
    params: GenerationParams = Field(default_factory=GenerationParams)
    pricing: Pricing | None = None
    limits: Limits = Field(default_factory=Limits)
    cache: bool = False
    """Reuse stored responses to the same rendered prompt (for re-scoring); off by default, since
    a cache would hide drift."""

    @field_validator("headers")
    @classmethod
    def _header_fields(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a header name: letters, digits and !#%&'*+^_`|~- only")
            if any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in value):
                raise ValueError(f"{name}: a header value may not contain control characters (such as a newline)")
        return headers

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            provider, sep, model = value.partition(":")
            if not sep or not model:
                raise ValueError(f"write a model as 'provider:model' (e.g. 'builtin:lead'), got {value!r}")
            return {"name": model, "provider": provider, "model": model}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if self.credential is not None and self.api_key_env is not None:
            raise ValueError(f"model {self.name!r}: give either 'credential' or 'apiKeyEnv', not both")
        if self.provider == "builtin":
            if self.credential is not None:
                raise ValueError(f"{self.name!r} is a built-in model: it takes no 'credential'")
            if self.model_id not in BUILTIN_MODEL_NAMES:
                raise ValueError(f"unknown built-in model {self.model_id!r}; available: {', '.join(sorted(BUILTIN_MODEL_NAMES))}")
            if self.base_url is not None:
                raise ValueError(f"{self.name!r} is a built-in model: it has no endpoint ('baseUrl') to point elsewhere")
            return self
        if self.base_url is None:
            raise ValueError(f"model {self.name!r}: {self.provider} models need 'baseUrl' (e.g. http://localhost:8000/v1)")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"model {self.name!r}: 'baseUrl' must start with http:// or https://")
        try:  # what every policy parses it with: a URL it cannot parse is refused here, not a 500 there
            parts = urlsplit(self.base_url)
            parts.port  # noqa: B018 - parsed on access
        except ValueError as exc:
            raise ValueError(f"model {self.name!r}: 'baseUrl' is not a valid URL: {exc}") from None
        if not parts.hostname:
            raise ValueError(f"model {self.name!r}: 'baseUrl' names no host")
        if self.api != "chat" and self.provider != "openai":
            raise ValueError(f"model {self.name!r}: 'api' applies to openai models only")
        secret = sorted(h for h in self.headers if h.lower() in _SECRET_HEADERS)
        if secret:
            raise ValueError(
                f"model {self.name!r}: headers.{secret[0]}: keys never travel in a spec; name a stored"
                " 'credential' (or, with the CLI, the environment variable holding it in 'apiKeyEnv')"
            )
        return self

    @property
    def model_id(self) -> str:
        return self.model or self.name

    @property
    def budget_key(self) -> str:
        return self.limits.budget or f"{self.provider}:{self.base_url}"


def _check_metric(name: str) -> None:
    """A ValueError (which pydantic reports with the field's location) unless the registry has `name`."""
    from shared.metrics.registry import get_metric  # lazy: the metrics (numpy, ROUGE tables) load only when a spec names one

    try:
        get_metric(name)
    except UnknownMetric as exc:
        raise ValueError(str(exc)) from None


class TaskSpec(SpecModel):
    name: Name
    type: TaskTypeName
    dataset: DatasetRef
    metrics: list[str] = Field(default_factory=list)
    """Empty means the task type's default metrics."""
    limit: int | None = Field(default=None, gt=0, le=10**9)
    seed: Seed = 0
    prompt: PromptSpec = Field(default_factory=PromptSpec)
    labels: list[str] = Field(default_factory=list)
    """Classification only: the allowed labels; derived from the dataset when empty."""
    stemming: bool = True
    """Porter stemming in ROUGE (rouge-score's use_stemmer); part of the metric configuration."""

    @field_validator("name")
    @classmethod
    def _usable_as_report_key(cls, value: str) -> str:
        if value == "model":
            raise ValueError("'model' is reserved: it is the model's key in each report row")
        if "." in value or value.startswith("$"):
            raise ValueError("a task name is a key in the report: no '.' and no leading '$' (MongoDB field names)")
        return value

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, names: list[str]) -> list[str]:
        for name in names:
            _check_metric(name)
        if len(set(names)) != len(names):
            raise ValueError("metrics are listed twice")
        return names

    @model_validator(mode="after")
    def _fill_defaults_and_check_template(self) -> TaskSpec:
        task_type = TASK_TYPES[self.type]
        if not self.metrics:
            # frozen model: the default is filled in once, here, so every stage sees the same list
            object.__setattr__(self, "metrics", list(task_type.default_metrics))
        if self.prompt.template is not None:
            allowed = {*task_type.input_fields, *task_type.optional_input_fields}
            if self.type == "classification":
                allowed.add("labels")
            try:
                used = {field for _, field, _, _ in string.Formatter().parse(self.prompt.template) if field is not None}
            except ValueError as exc:
                raise ValueError(f"prompt.template: {exc}") from None
            unknown = sorted(used - allowed)
            if unknown:
                raise ValueError(
                    f"prompt.template: unknown placeholder {{{unknown[0]}}}; {self.type} templates may use "
                    + ", ".join(f"{{{name}}}" for name in sorted(allowed))
                )
        if self.type != "classification" and self.labels:
            raise ValueError("labels: only classification tasks take labels")
        return self


class BenchmarkSpec(SpecModel):
    name: Name
    suite: Name | None = None
    """A recurring benchmark's name; defaults to the benchmark's name."""
    models: list[ModelConfig] = Field(min_length=1)
    tasks: list[TaskSpec] = Field(min_length=1)
    tolerances: dict[str, float] = Field(default_factory=dict)
    """Per metric, the smallest |change| (on the metric's scale) that counts as drift; 0 otherwise."""

    @field_validator("tolerances")
    @classmethod
    def _known_tolerance_metrics(cls, tolerances: dict[str, float]) -> dict[str, float]:
        for name, value in tolerances.items():
            _check_metric(name)
            if value < 0:
                raise ValueError(f"{name}: a tolerance cannot be negative")
        return tolerances

    @model_validator(mode="after")
    def _unique_names(self) -> BenchmarkSpec:
        for kind, names in (("models", [m.name for m in self.models]), ("tasks", [t.name for t in self.tasks])):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"{kind}: the name {name!r} appears twice; names must be unique")
                seen.add(name)
        return self

    @property
    def suite_name(self) -> str:
        return self.suite or self.name

    def to_document(self) -> dict[str, Any]:
        """The spec as stored beside a benchmark: camelCase JSON, inline records counted, not kept
        (the evaluated samples are identified by each task's dataset digest)."""
        document = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for task in document["tasks"]:
            records = task["dataset"].pop("records", None)
            if records is not None:
                task["dataset"]["inlineRecords"] = len(records)
        return document


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem: `tasks[0].metrics: unknown metric 'rouge-x' (...)`."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ""
        for part in problem["loc"]:
            if isinstance(part, int):
                where += f"[{part}]"
            else:
                where += ("." if where else "") + str(part)
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


M = TypeVar("M", bound=BaseModel)


def parse_document(model: type[M], data: Any, *, source: str, shape: str | None = None) -> M:
    """Validate decoded data as `model`; SpecError names the source, the field and the reason.
    `shape` is what to say when the data is not a mapping (None: the model judges any data)."""
    if shape is not None and not isinstance(data, dict):
        raise SpecError(f"{source}: {shape}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{source}: {describe_validation_error(exc)}") from None


def parse_spec(data: Any, *, source: str = "spec") -> BenchmarkSpec:
    """Validate a decoded spec; SpecError names the source, the field and the reason."""
    return parse_document(
        BenchmarkSpec, data, source=source, shape="the spec must be a mapping with 'name', 'models' and 'tasks'"
    )


def load_spec(path: Path) -> BenchmarkSpec:
    """Read a YAML or JSON spec file."""
    return parse_spec(read_document(path, "spec"), source=str(path))


def read_document(path: Path, what: str) -> Any:
    """A YAML or JSON file's content (JSON for .json, YAML otherwise); SpecError names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: the {what} is not UTF-8 text") from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
