"""Settings read from the environment (prefix BENCH_), validated once at start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.events import Trigger

if TYPE_CHECKING:
    from shared.outbound import OutboundPolicy

__all__ = ["Settings", "TenantQuota", "default_store_path"]


def default_store_path() -> Path:
    """`$XDG_DATA_HOME/benchmarks/benchmarks.sqlite3`, i.e. ~/.local/share/... by default."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "benchmarks" / "benchmarks.sqlite3"


class TenantQuota(BaseModel):
    """What one tenant may ask of a shared service; over a quota the gateway answers 429."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    benchmarks_in_flight: int | None = Field(default=None, ge=0)
    """Benchmarks pending or running at once (default 20)."""
    evaluations_per_day: int | None = Field(default=None, ge=0)
    """Model x sample evaluations asked for in any 24 hours (default 200,000)."""
    largest_benchmark: int | None = Field(default=None, ge=0)
    """Model x sample evaluations of one benchmark (default: the server's BENCH_MAX_SAMPLES)."""

    def over(self, other: TenantQuota) -> TenantQuota:
        """This quota's fields, falling back to `other`'s where unset."""
        return TenantQuota(**{**other.model_dump(exclude_none=True), **self.model_dump(exclude_none=True)})


_PRIORITY_TRIGGERS: tuple[Trigger, ...] = ("schedule", "ci")

DEFAULT_QUOTA = TenantQuota(benchmarks_in_flight=20, evaluations_per_day=200_000)


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting is named, never echoed (errors of a cross-field check
    # would otherwise show every input, BENCH_KAFKA_SASL_PASSWORD and BENCH_MONGO_URL included)
    model_config = SettingsConfigDict(env_prefix="BENCH_", extra="ignore", hide_input_in_errors=True)

    store_path: Path = Field(default_factory=default_store_path)
    """The embedded runtime's SQLite file (BENCH_STORE_PATH)."""
    tenant: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    """The embedded store's tenant, and the gateway's when auth is off (shared.events.TENANT_PATTERN)."""
    shard_size: int = Field(default=128, ge=1, le=1000)
    """Samples per work item (cut by bytes too, to fit a message). Every work item costs a Kafka
    message in each stage and a store write: at 32, 2 x 10,000 built-in samples ran at 0.34x the
    embedded runtime's rate over Kafka, at 128 at 0.55x (docs/performance.md)."""
    concurrency: int = Field(default=8, ge=1, le=1024)
    """Work items in flight at once in the embedded runtime."""
    bootstrap_seed: int = 0
    bootstrap_resamples: int = Field(default=1000, ge=100, le=100_000)

    # --- the distributed services ---------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:9092"
    """Kafka bootstrap servers, comma-separated (BENCH_KAFKA_BOOTSTRAP)."""
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    """MongoDB (or FerretDB) connection string (BENCH_MONGO_URL)."""
    mongo_database: str = Field(default="benchmarks", min_length=1)
    topic_prefix: str = ""
    """Prepended to every topic name: several deployments (or test runs) can share one cluster."""
    partitions: int = Field(default=6, ge=1, le=1000)
    """Partitions of the work, outputs and scores topics when the services create them."""
    control_partitions: int = Field(default=3, ge=1, le=1000)
    """Partitions of the requested, planned, completed, deployments and DLQ topics."""
    replication_factor: int = Field(default=1, ge=1, le=10)
    service_host: str = "127.0.0.1"
    """Address the services' HTTP endpoints (API, health, metrics) bind to."""
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    runner_port: int = Field(default=8001, ge=1, le=65535)
    scorer_port: int = Field(default=8002, ge=1, le=65535)
    aggregator_port: int = Field(default=8003, ge=1, le=65535)
    gateway_url: str = "http://127.0.0.1:8000"
    """Where `benchmarks submit` sends benchmarks (BENCH_GATEWAY_URL)."""
    data_dir: Path | None = None
    """Server-side folder that benchmarks submitted over HTTP may name dataset paths in; unset:
    such paths are refused (use a URL, or inline records as `benchmarks submit` does)."""
    max_samples: int = Field(default=20_000, ge=1)
    """Most model x sample evaluations one benchmark submitted over HTTP may ask for."""
    max_request_bytes: int = Field(default=900_000, ge=1_000)
    """Largest accepted request body: a request travels as one Kafka message (1 MB by default)."""
    runner_shards_in_flight: int = Field(default=64, ge=1, le=4096)
    """Work shards one runner process runs at once, across all its partitions, benchmarks and
    tenants (BENCH_RUNNER_SHARDS_IN_FLIGHT). Each model gets only as many as its concurrency can
    serve; the rest wait in the runner's fair queue without holding a partition."""
    runner_buffered_shards: int = Field(default=2000, ge=1, le=1_000_000)
    """Most work shards one runner holds, queued or running (BENCH_RUNNER_BUFFERED_SHARDS): it reads
    this far ahead of its slowest shard, so a small benchmark behind a big one is seen and run."""
    runner_buffered_bytes: int = Field(default=64_000_000, ge=1_000_000, le=10**11)
    """Most bytes of work shards one runner holds (BENCH_RUNNER_BUFFERED_BYTES): bounds its memory."""
    tenant_weights: dict[str, float] = Field(default_factory=dict)
    """Fair-share weight of each tenant's work on the runners (BENCH_TENANT_WEIGHTS, JSON:
    {"team-a": 3}); unnamed tenants weigh 1. A tenant of weight 3 starts three times the samples
    of a tenant of weight 1 while both wait."""
    priority_triggers: Annotated[list[Trigger], NoDecode] = Field(default_factory=lambda: list(_PRIORITY_TRIGGERS))
    """Triggers whose runs go before ad-hoc ones on the runners (BENCH_PRIORITY_TRIGGERS,
    comma-separated from api, cli, schedule, deployment, ci). Fair share applies within a class."""
    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
    """This process's stable name in its Kafka consumer groups (BENCH_INSTANCE_ID, e.g. the pod's
    name): a restarted process takes its partitions back at once instead of after the session
    timeout (static membership). Unset: dynamic members, which leave the group when they stop."""
    kafka_session_timeout_s: float = Field(default=10.0, ge=1, le=1800)
    """A consumer not heard of for this long is out of its group and its partitions move
    (BENCH_KAFKA_SESSION_TIMEOUT_S)."""
    scheduler_interval_s: float = Field(default=30.0, gt=0, le=3600)
    """How often each gateway looks for due scheduled runs (BENCH_SCHEDULER_INTERVAL_S)."""
    scheduler_enabled: bool = True
    """Set false to run gateways that never start scheduled runs (BENCH_SCHEDULER_ENABLED)."""
    shutdown_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    """On SIGTERM a service stops taking messages and finishes those in flight for up to this long
    (BENCH_SHUTDOWN_TIMEOUT_S); a Kubernetes grace period must be longer."""
    retry_attempts: int = Field(default=5, ge=1, le=100)
    """Tries of a retryable failure (store or broker unreachable) before the message is re-read."""

    # --- recovery from faults (DESIGN.md, "Delivery repairs") ------------------------------------
    store_timeout_s: float = Field(default=3.0, gt=0, le=300)
    """Longest any one MongoDB operation may take (BENCH_STORE_TIMEOUT_S): a paused or partitioned
    database fails fast as StoreUnavailable instead of hanging a request or a consumer."""
    publish_timeout_s: float = Field(default=5.0, gt=0, le=300)
    """Longest the gateway waits for Kafka to take a message before answering (BENCH_PUBLISH_TIMEOUT_S)."""
    retry_after_s: int = Field(default=5, ge=1, le=3600)
    """The Retry-After the gateway sends with a 503 while a backing service is away."""
    max_message_bytes: int = Field(default=900_000, ge=10_000, le=100_000_000)
    """Largest message the services publish (BENCH_MAX_MESSAGE_BYTES): below the broker's limit
    (1 MB by default). Work shards are cut by bytes as well as by count to stay under it."""
    dlq_payload_bytes: int = Field(default=256_000, ge=1_000, le=10_000_000)
    """Most bytes of an original payload a dead letter keeps; a longer one is cut, with its digest and size."""
    reconcile_interval_s: float = Field(default=15.0, gt=0, le=3600)
    """How often the aggregator's reconciler looks for benchmarks that stopped moving (one replica a round)."""
    outbox_grace_s: float = Field(default=10.0, gt=0, le=86_400)
    """A benchmark accepted but not queued for this long is published by the reconciler (the outbox)."""
    stall_timeout_s: float = Field(default=600.0, gt=0, le=86_400)
    """A pending or running benchmark with no new score for this long is re-driven (its missing
    shards run again), at most `max_redrives` times, then failed with the reason."""
    max_redrives: int = Field(default=3, ge=0, le=100)
    readiness_interval_s: float = Field(default=2.0, gt=0, le=300)
    """How often each service checks its Kafka and stores in the background; /readyz answers from that."""
    model_keys: dict[str, list[str]] = Field(default_factory=dict)
    """Environment variables the runner service may send to models as API keys, each with the base
    URLs it may go to (BENCH_MODEL_KEYS, JSON: {"OPENAI_API_KEY": ["https://api.openai.com/v1"]}).
    A spec naming any other `apiKeyEnv`, or a bound one with another base URL, is refused."""
    outbound_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Networks (CIDRs) and host names the services may reach although internal (loopback,
    private, link-local...), for dataset URLs and model base URLs (BENCH_OUTBOUND_ALLOW,
    comma-separated: `127.0.0.0/8,::1,vllm.models.svc.cluster.local`). Empty: public addresses only."""
    log_reminder_s: float = Field(default=60.0, gt=0, le=86_400)
    """During an outage a service logs it once, then a reminder at most this often, then the recovery."""

    # --- a service many teams share (README, "API keys and tenants") -----------------------------
    auth_enabled: bool = True
    """Every /v1 route wants `Authorization: Bearer <API key>`; the key's tenant scopes all it
    sees and does (BENCH_AUTH_ENABLED). Off only for a gateway nobody else can reach."""
    api_key: SecretStr | None = None
    """The key the CLI sends to a gateway (BENCH_API_KEY); never printed."""
    quotas: dict[str, TenantQuota] = Field(default_factory=dict)
    """Per-tenant quotas (BENCH_QUOTAS, JSON: {"*": {...}, "team-a": {"benchmarksInFlight": 50}}):
    `*` is every tenant's default; a tenant's own entry overrides it field by field."""

    # --- transport security (docs/deployment.md, "Transport security") ---------------------------
    # MongoDB's TLS and credentials are options of BENCH_MONGO_URL itself
    # (`mongodb://user:password@host/?tls=true&tlsCAFile=/path/ca.crt`), so they need no setting here.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How the services talk to Kafka (BENCH_KAFKA_SECURITY_PROTOCOL): SASL_SSL in production
    (a user and password over TLS); SASL_PLAINTEXT sends them unencrypted (trusted networks only)."""
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (BENCH_KAFKA_SASL_MECHANISM); with a SASL protocol only."""
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    """BENCH_KAFKA_SASL_PASSWORD: shown as ********** in every repr, log line and error."""
    kafka_ssl_cafile: Path | None = None
    """CA bundle (PEM) the brokers' certificates are checked against; unset: the system's CAs."""
    kafka_ssl_certfile: Path | None = None
    """Client certificate (PEM) for brokers that want mutual TLS; may hold the key as well."""
    kafka_ssl_keyfile: Path | None = None
    """The client certificate's private key (PEM), when not in BENCH_KAFKA_SSL_CERTFILE."""

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> Settings:
        protocol = self.kafka_security_protocol
        sasl = {
            "BENCH_KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
            "BENCH_KAFKA_SASL_USERNAME": self.kafka_sasl_username,
            "BENCH_KAFKA_SASL_PASSWORD": self.kafka_sasl_password and self.kafka_sasl_password.get_secret_value(),
        }
        files = {
            "BENCH_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "BENCH_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "BENCH_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        if protocol.startswith("SASL_"):
            missing = [name for name, value in sasl.items() if not value]
            if missing:
                raise ValueError(f"BENCH_KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}")
        elif given := [name for name, value in sasl.items() if value]:
            raise ValueError(
                f"{', '.join(given)} set, but BENCH_KAFKA_SECURITY_PROTOCOL={protocol} sends no credentials:"
                " use SASL_SSL (or SASL_PLAINTEXT)"
            )
        if not protocol.endswith("SSL") and (given := [name for name, value in files.items() if value]):
            raise ValueError(
                f"{', '.join(given)} set, but BENCH_KAFKA_SECURITY_PROTOCOL={protocol} uses no TLS: use SSL or SASL_SSL"
            )
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ValueError("BENCH_KAFKA_SSL_KEYFILE needs BENCH_KAFKA_SSL_CERTFILE (the certificate of that key)")
        return self

    # --- provider credentials (README, "Provider credentials") ------------------------------------
    credentials_key: SecretStr | None = None
    """Fernet keys that encrypt the tenants' provider credentials at rest (BENCH_CREDENTIALS_KEY,
    comma-separated: the first encrypts, every one decrypts, so a new key goes first and the old
    one stays after it until every credential was re-encrypted). Gateways and runners need the
    same list; unset: credentials can be neither stored nor used. Checked where it is used
    (shared/credentials.py), so that no error message ever echoes it."""

    @field_validator("model_keys")
    @classmethod
    def _model_keys_are_bound(cls, bindings: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, urls in bindings.items():
            if name.upper().startswith("BENCH_"):
                raise ValueError(f"{name}: the service's own settings can never be sent to a model")
            if not urls or not all(url.startswith(("http://", "https://")) for url in urls):
                raise ValueError(f"{name}: bind it to one or more http(s) base URLs")
        return bindings

    @field_validator("tenant_weights")
    @classmethod
    def _weights_are_positive(cls, weights: dict[str, float]) -> dict[str, float]:
        for tenant, weight in weights.items():
            if not weight > 0 or weight > 1e6:
                raise ValueError(f"{tenant}: a weight is a number above 0 and at most 1,000,000")
        return weights

    @field_validator("outbound_allow", "priority_triggers", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @property
    def outbound_policy(self) -> OutboundPolicy:
        from shared.outbound import OutboundPolicy  # here: aiohttp only where URLs are fetched, not for every CLI command

        return OutboundPolicy.parse(self.outbound_allow)

    def quota_for(self, tenant: str) -> TenantQuota:
        """The tenant's quota: its own entry over `*` over the defaults; every field set."""
        quota = self.quotas.get(tenant, TenantQuota()).over(self.quotas.get("*", TenantQuota())).over(DEFAULT_QUOTA)
        return quota.over(TenantQuota(largest_benchmark=self.max_samples))
