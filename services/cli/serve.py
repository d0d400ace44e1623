"""`benchmarks serve`: run one service of the distributed shape under uvicorn."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from shared.settings import Settings

__all__ = ["Service", "serve"]


class Service(StrEnum):
    gateway = "gateway"
    runner = "runner"
    scorer = "scorer"
    aggregator = "aggregator"


def serve(
    service: Annotated[Service, typer.Argument(help="Which service to run.")],
    host: Annotated[str | None, typer.Option(help="Bind address \\[default: $BENCH_SERVICE_HOST or 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port \\[default: $BENCH_<SERVICE>_PORT]")] = None,
) -> None:
    """Run one service (Kafka + MongoDB settings from BENCH_* variables)."""
    import importlib

    import uvicorn

    from shared.logs import configure_service_logging

    settings = Settings()
    module = importlib.import_module(f"services.{service.value}.app")
    # after the import: FastStream's own (non-propagating) loggers exist by now and get the filter too
    configure_service_logging(service.value, reminder_s=settings.log_reminder_s)
    uvicorn.run(
        module.create_app(settings),
        host=host or settings.service_host,
        port=port or getattr(settings, f"{service.value}_port"),
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
    )
