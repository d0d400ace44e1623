"""Settings read from the environment (prefix BENCH_), validated once at start-up."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_store_path"]


def default_store_path() -> Path:
    """`$XDG_DATA_HOME/benchmarks/benchmarks.sqlite3`, i.e. ~/.local/share/... by default."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "benchmarks" / "benchmarks.sqlite3"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BENCH_", extra="ignore")

    store_path: Path = Field(default_factory=default_store_path)
    """The embedded runtime's SQLite file (BENCH_STORE_PATH)."""
    tenant: str = Field(default="default", min_length=1)
    shard_size: int = Field(default=32, ge=1, le=1000)
    """Samples per work item: small enough to stay far below Kafka's 1 MB message limit."""
    concurrency: int = Field(default=8, ge=1, le=1024)
    """Work items in flight at once in the embedded runtime."""
    bootstrap_seed: int = 0
    bootstrap_resamples: int = Field(default=1000, ge=100, le=100_000)
