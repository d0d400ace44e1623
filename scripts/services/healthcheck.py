#!/usr/bin/env python3
"""Health probes used by scripts/services.sh.

    healthcheck.py kafka HOST:PORT[,HOST:PORT...]   # a broker answers a Metadata request
    healthcheck.py mongo MONGODB_URL                # the server answers {ping: 1}

Exit 0 when healthy, 1 otherwise (reason on stderr). Uses aiokafka / pymongo
when the running interpreter has them; otherwise speaks just enough of the wire
protocol with the standard library, so a bare python3 is enough.

Kafka with SASL or TLS (BENCH_KAFKA_SECURITY_PROTOCOL and the other BENCH_KAFKA_SASL_* /
BENCH_KAFKA_SSL_* settings in the environment) is probed with aiokafka and the services' own
translation of those settings (shared/kafka_security.py), so the repo's .venv is needed then.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import urllib.parse
from pathlib import Path
from typing import Any

TIMEOUT = 5.0


def _hosts(spec: str, default_port: int) -> list[tuple[str, int]]:
    """'a:1,b,[::1]:2' -> [('a', 1), ('b', default_port), ('::1', 2)]"""
    out: list[tuple[str, int]] = []
    for hp in filter(None, (x.strip() for x in spec.split(","))):
        if hp.startswith("["):
            host, _, rest = hp[1:].partition("]")
            port = rest.lstrip(":")
        elif hp.count(":") == 1:
            host, _, port = hp.partition(":")
        else:
            host, port = hp, ""
        out.append((host, int(port or default_port)))
    return out


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def kafka_raw(host: str, port: int) -> None:
    # Metadata v4 (supported by Kafka 1.0 .. 4.x; 4.0 dropped v0-v3), all topics.
    body = struct.pack(">hhih", 3, 4, 1, 6) + b"health" + struct.pack(">i?", -1, False)
    with socket.create_connection((host, port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exact(s, 4))
        resp = _recv_exact(s, size)
    # correlation_id int32, throttle_time_ms int32, brokers array length int32
    corr, _throttle, nbrokers = struct.unpack(">iii", resp[:12])
    if corr != 1 or nbrokers < 1:
        raise RuntimeError(f"metadata lists {nbrokers} brokers")


def _secured() -> bool:
    return os.environ.get("BENCH_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").strip().upper() != "PLAINTEXT"


def _kafka_security() -> dict[str, Any]:
    """aiokafka's security arguments from the BENCH_KAFKA_* settings, as the services build them."""
    if not _secured():
        return {}
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo: shared/
    from shared.kafka_security import client_options
    from shared.settings import Settings

    return client_options(Settings())


async def _kafka_client(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(TIMEOUT * 1000), **_kafka_security())
    await admin.start()
    try:
        info = await admin.describe_cluster()
        if not info.get("brokers"):
            raise RuntimeError("metadata lists no brokers")
    finally:
        await admin.close()


def kafka(bootstrap: str) -> None:
    try:
        import aiokafka  # noqa: F401
    except ImportError:
        if _secured():
            raise RuntimeError(
                "BENCH_KAFKA_SECURITY_PROTOCOL is not PLAINTEXT: the probe needs aiokafka (the repo's .venv)"
            ) from None
        errors = []
        for host, port in _hosts(bootstrap, 9092):
            try:
                return kafka_raw(host, port)
            except Exception as e:  # noqa: BLE001 - whatever failed, try the next bootstrap server
                errors.append(f"{host}:{port}: {e}")
        raise RuntimeError("; ".join(errors) or "no bootstrap servers") from None
    import asyncio

    asyncio.run(asyncio.wait_for(_kafka_client(bootstrap), TIMEOUT * 2))


def _bson_ping() -> bytes:
    # {ping: 1, $db: "admin"}
    elems = b"\x10ping\x00" + struct.pack("<i", 1) + b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    return struct.pack("<i", len(elems) + 5) + elems + b"\x00"


def mongo_raw(host: str, port: int) -> None:
    doc = _bson_ping()
    body = struct.pack("<i", 0) + b"\x00" + doc  # OP_MSG flags, section kind 0
    header = struct.pack("<iiii", 16 + len(body), 1, 0, 2013)
    with socket.create_connection((host, port), TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(header + body)
        (size,) = struct.unpack("<i", _recv_exact(s, 4))
        resp = _recv_exact(s, size - 4)
    # reply document must contain ok: 1.0 (double) or ok: 1 (int32)
    if b"\x01ok\x00" + struct.pack("<d", 1.0) not in resp and b"\x10ok\x00" + struct.pack("<i", 1) not in resp:
        raise RuntimeError("ping did not return ok: 1")


def mongo(url: str) -> None:
    try:
        import pymongo
    except ImportError:
        netloc = urllib.parse.urlsplit(url).netloc.rpartition("@")[2]
        host, port = _hosts(netloc, 27017)[0]
        return mongo_raw(host, port)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=int(TIMEOUT * 1000), connectTimeoutMS=int(TIMEOUT * 1000)
    )
    try:
        client.admin.command("ping")
    finally:
        client.close()


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("kafka", "mongo"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        {"kafka": kafka, "mongo": mongo}[argv[1]](argv[2])
    except Exception as e:  # noqa: BLE001 - any failure means not healthy, and says why
        print(f"{argv[1]} not healthy: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
