"""Kafka transport security in one place: the BENCH_KAFKA_SECURITY_PROTOCOL, _SASL_* and _SSL_*
settings (shared/settings.py, which checks they are complete) as connection arguments.

- `broker_security(settings)`: the FastStream security object `KafkaBroker(security=...)` takes;
  the broker's producer, consumers and admin client (its readiness ping) all use it.
- `client_options(settings)`: the same as keyword arguments of aiokafka's own clients
  (`AIOKafkaAdminClient(**client_options(settings))`), derived from that object by FastStream's
  own translation, so the broker and the bare clients can never disagree.
- `connection_problem(settings)`: why one connection to the first bootstrap server fails (wrong
  password, TLS refused, nobody listening). aiokafka's clients say only "Unable to bootstrap".

The password leaves its SecretStr only here, straight into the client; no message carries it.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.settings import Settings

__all__ = ["broker_security", "client_options", "connection_problem"]

_SASL = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


def broker_security(settings: Settings) -> BaseSecurity | None:
    """What `KafkaBroker(security=...)` takes; None for PLAINTEXT (FastStream's default)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings) if protocol.endswith("SSL") else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    mechanism, username, password = settings.kafka_sasl_mechanism, settings.kafka_sasl_username, settings.kafka_sasl_password
    if not (mechanism and username and password):  # Settings refuses this; a model_construct()ed one may not
        raise ValueError(f"BENCH_KAFKA_SECURITY_PROTOCOL={protocol} needs a SASL mechanism, user name and password")
    return _SASL[mechanism](username, password.get_secret_value(), ssl_context=context, use_ssl=context is not None)


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's clients: security_protocol, ssl_context, sasl_* (or none)."""
    return parse_security(broker_security(settings))


async def connection_problem(settings: Settings, *, timeout_s: float = 10.0) -> str:
    """What one connection to the first bootstrap server, with the settings' security, runs into;
    "the connection works" if nothing does (the trouble is elsewhere then, e.g. metadata)."""
    host, port = _first_server(settings.kafka_bootstrap)
    try:
        async with asyncio.timeout(timeout_s):
            connection = await create_conn(
                host,
                port,
                client_id="benchmarks-diagnosis",
                request_timeout_ms=int(timeout_s * 1000),
                **client_options(settings),
            )
    except TimeoutError:
        return f"{host}:{port} did not answer within {timeout_s:g}s"
    except (OSError, KafkaError) as exc:  # a KafkaError's text starts with its class name already
        return f"{host}:{port} ({_describe(settings)}): {exc if isinstance(exc, KafkaError) else f'{type(exc).__name__}: {exc}'}"
    connection.close()
    return f"{host}:{port} ({_describe(settings)}): the connection works"


def _describe(settings: Settings) -> str:
    protocol = settings.kafka_security_protocol
    if protocol.startswith("SASL_"):
        return f"{protocol}, {settings.kafka_sasl_mechanism} as user {settings.kafka_sasl_username!r}"
    return protocol


def _first_server(bootstrap: str) -> tuple[str, int]:
    server = bootstrap.split(",")[0].strip()
    host, _, port = server.rpartition(":")
    return host.strip("[]") or server, int(port) if port.isdigit() else 9092


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    """Checks the brokers' certificates (against BENCH_KAFKA_SSL_CAFILE, else the system's CAs)
    and their host names; presents a client certificate when one is configured."""
    cafile, certfile, keyfile = settings.kafka_ssl_cafile, settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except OSError as exc:  # ssl.SSLError is an OSError too
        raise ValueError(f"BENCH_KAFKA_SSL_CAFILE={cafile}: not a readable PEM CA bundle ({_reason(exc)})") from exc
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, keyfile)
        except OSError as exc:
            raise ValueError(
                f"BENCH_KAFKA_SSL_CERTFILE={certfile}, BENCH_KAFKA_SSL_KEYFILE={keyfile}:"
                f" not a readable PEM certificate and key that belong together ({_reason(exc)})"
            ) from exc
    return context


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
