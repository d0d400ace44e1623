"""The outbound policy: which addresses a spec's URLs may reach, decided on resolved addresses.

No test here sends a packet anywhere but loopback: decisions about other addresses are tested
on the policy alone (no connection), names resolve through a stub resolver that answers with
loopback addresses, and the servers are loopback servers (127.0.0.1 and 127.0.0.2).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from aiohttp.abc import AbstractResolver

from shared.outbound import OutboundPolicy, fetch_text
from tests.waiting import wait_for_async

DENY = OutboundPolicy()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.10.20.30", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.5.4", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_internal_addresses_are_refused_by_default_and_allowed_when_listed(address: str, kind: str) -> None:
    refused = DENY.refusal("data.example", address)
    assert refused is not None and f"a {kind} address" in refused and "BENCH_OUTBOUND_ALLOW" in refused
    network = address if ":" in address else f"{address}/32"
    assert OutboundPolicy.parse([network]).refusal("data.example", address) is None
    assert OutboundPolicy.parse(["data.example"]).refusal("data.example", address) is None  # a host the operator trusts


def test_public_addresses_are_allowed_and_lists_parse() -> None:
    assert DENY.refusal("data.example", "93.184.216.34") is None  # decided, not connected to
    assert DENY.refusal("data.example", "2606:2800:220:1:248:1893:25c8:1946") is None
    policy = OutboundPolicy.parse(["127.0.0.0/8", "::1", "Models.Internal.", " "])
    assert policy.refusal("models.internal", "10.0.0.5") is None and policy.refusal("other", "10.0.0.5") is not None


class Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Any]] = {}
    drips: ClassVar[list[str]] = []
    """One entry per /drip request the server has started answering (appended by its threads)."""

    def do_GET(self) -> None:
        route = self.routes.get(self.path)
        if route is None:
            self.send_response(404)
            self.end_headers()
        elif isinstance(route, str):
            self.send_response(302)
            self.send_header("Location", route)
            self.end_headers()
        else:
            route(self)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    """A data server on 127.0.0.1 and a redirector on 127.0.0.2 (both loopback)."""
    started = []
    urls = {}
    for name, host in (("inside", "127.0.0.1"), ("outside", "127.0.0.2")):
        server = ThreadingHTTPServer((host, 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        urls[name] = f"http://{host}:{server.server_address[1]}"

    def data(handler: BaseHTTPRequestHandler) -> None:
        body = b'{"question": "q", "answers": ["a"]}\n'
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def big(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()
        handler.wfile.write(b"x" * 5_000)

    def drip(handler: BaseHTTPRequestHandler) -> None:
        Handler.drips.append(handler.path)
        handler.send_response(200)
        handler.end_headers()
        for _ in range(30):  # bounded: 30 bytes over at most 15 s
            try:
                handler.wfile.write(b"x")
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.5)

    Handler.routes = {"/data.jsonl": data, "/big": big, "/drip": drip, "/start": urls["inside"] + "/data.jsonl"}
    Handler.drips = []
    yield urls
    for server in started:
        server.shutdown()
        server.server_close()


class LoopbackStub(AbstractResolver):
    """Every name resolves to 127.0.0.1: what a DNS-rebinding name would do."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


async def test_a_loopback_url_is_refused_and_fetched_when_allowed(servers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1, a loopback address"):
        await fetch_text(servers["inside"] + "/data.jsonl", policy=DENY)
    text = await fetch_text(servers["inside"] + "/data.jsonl", policy=OutboundPolicy.parse(["127.0.0.1/32"]))
    assert text.startswith('{"question"')


async def test_a_redirect_into_a_refused_address_is_refused(servers: dict[str, str]) -> None:
    only_outside = OutboundPolicy.parse(["127.0.0.2/32"])  # stands for "the internet" here
    with pytest.raises(ValueError, match=r"refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1, a loopback address"):
        await fetch_text(servers["outside"] + "/start", policy=only_outside)
    assert await fetch_text(servers["outside"] + "/start", policy=OutboundPolicy.parse(["127.0.0.0/8"]))


async def test_a_name_resolving_to_a_refused_address_is_refused(servers: dict[str, str]) -> None:
    port = servers["inside"].rsplit(":", 1)[1]
    url = f"http://rebound.example:{port}/data.jsonl"
    with pytest.raises(ValueError, match=r"refused: rebound\.example resolves to 127\.0\.0\.1, a loopback address"):
        await fetch_text(url, policy=DENY, resolver=LoopbackStub())
    assert await fetch_text(url, policy=OutboundPolicy.parse(["127.0.0.1"]), resolver=LoopbackStub())


async def test_downloads_are_bounded_in_bytes_and_in_total_time(servers: dict[str, str]) -> None:
    allowed = OutboundPolicy.parse(["127.0.0.0/8"])
    with pytest.raises(ValueError, match="larger than 1,000 bytes"):
        await fetch_text(servers["inside"] + "/big", policy=allowed, max_bytes=1_000)
    with pytest.raises(ValueError, match="took longer than 2s in all"):  # a byte every 0.5 s: each read is quick
        await fetch_text(servers["inside"] + "/drip", policy=allowed, timeout_s=2)


async def test_closed_and_refused_ports_look_alike(servers: dict[str, str]) -> None:
    allowed = OutboundPolicy.parse(["127.0.0.0/8"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(ValueError, match=r"^cannot connect$"):
            await fetch_text(f"http://127.0.0.1:{closed}/", policy=allowed)


async def test_a_model_url_refused_by_the_policy_is_a_permanent_error_not_retried() -> None:
    from services.runner.adapters.http import guarded_transport, new_client, post_json
    from shared.errors import ModelRequestRejected
    from shared.spec import ModelConfig

    config = ModelConfig.model_validate({"name": "m", "provider": "openai", "baseUrl": "http://127.0.0.1:9/v1"})
    client = new_client(config, {}, transport=guarded_transport(DENY))
    try:
        with pytest.raises(ModelRequestRejected, match=r"127.0.0.1 resolves to 127.0.0.1, a loopback address"):
            await post_json(client, "/chat/completions", {}, model="m")
    finally:
        await client.aclose()


async def test_the_gateway_check_names_a_refused_model_url() -> None:
    from shared.outbound import url_refusal

    assert "a loopback address" in (await url_refusal("http://127.0.0.1:8000/v1", DENY) or "")
    assert await url_refusal("http://127.0.0.1:8000/v1", OutboundPolicy.parse(["127.0.0.0/8"])) is None


async def test_slow_dataset_urls_hold_no_worker_thread(servers: dict[str, str]) -> None:
    """With one worker thread, three dripping downloads still let an inline dataset through first:
    downloads wait on the event loop; the threads only parse."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from shared.datasets import fetch_task_dataset
    from shared.spec import TaskSpec

    allowed = OutboundPolicy.parse(["127.0.0.0/8"])
    slow = TaskSpec.model_validate({"name": "slow", "type": "qa", "dataset": {"url": servers["inside"] + "/drip"}})
    inline = TaskSpec.model_validate(
        {"name": "inline", "type": "qa", "dataset": {"records": [{"question": "q", "answers": ["a"]}]}}
    )
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    finished: list[str] = []

    async def load(task: TaskSpec) -> None:
        with contextlib.suppress(Exception):  # the drip is not JSON lines: only the order matters here
            await fetch_task_dataset(task, base_dir=Path.cwd(), outbound=allowed)
        finished.append(task.name)

    slow_loads = [asyncio.create_task(load(slow)) for _ in range(3)]
    await wait_for_async(
        "the three downloads to be under way",
        lambda: len(Handler.drips) == 3,
        timeout=30,
        detail=lambda: f"{len(Handler.drips)} started",
    )
    await load(inline)
    assert finished == ["inline"]  # not stuck behind the downloads
    for task in slow_loads:
        task.cancel()
    await asyncio.gather(*slow_loads, return_exceptions=True)
