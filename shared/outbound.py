"""Where the services may send requests: the outbound policy for dataset URLs and model base URLs.

A spec is a stranger's data, and the services sit inside the operator's network. So a URL a spec
names is refused when its host resolves to a loopback, private, link-local (cloud metadata),
multicast, reserved or unspecified address, unless the operator allow-listed that network or
host (BENCH_OUTBOUND_ALLOW). The decision is taken on the resolved addresses, by the resolver the
HTTP client connects with (PolicyConnector), so it holds for IP literals, for every redirect and
against DNS rebinding: the address checked is the address connected to.

Downloads are bounded in bytes and in total time (not per read), and stream on the event loop.
The embedded CLI runs with no policy (the machine is the user's own), but with the same bounds.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

__all__ = [
    "OutboundPolicy",
    "OutboundRefused",
    "PolicyConnector",
    "connector",
    "fetch_text",
    "url_refusal",
    "MAX_DOWNLOAD_BYTES",
    "DOWNLOAD_TIMEOUT_S",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_DOWNLOAD_BYTES = 200_000_000
DOWNLOAD_TIMEOUT_S = 60.0
"""A whole download, connection and every redirect included: a server dripping bytes is cut off."""
MAX_REDIRECTS = 5


class OutboundRefused(OSError):
    """The policy refused the address a host resolved to (an OSError: what a refused connection
    is, so HTTP clients report it as a failed connection, with this reason as its `strerror`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EACCES, reason)

    def __str__(self) -> str:
        return str(self.strerror)


def _kind(address: IPAddress) -> str | None:
    """What makes an address internal, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _kind(address.ipv4_mapped)
    for kind, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flag:
            return kind
    return None


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Deny internal addresses, except the allow-listed networks and host names."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Sequence[str]) -> OutboundPolicy:
        """From BENCH_OUTBOUND_ALLOW's entries: CIDRs or addresses (`127.0.0.0/8`, `::1`) and host names."""
        networks, hosts = [], set()
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def refusal(self, host: str, address: str) -> str | None:
        """Why `host`, resolved to `address`, may not be reached; None when it may."""
        if host.lower().rstrip(".") in self.hosts:
            return None
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if any(ip in network for network in self.networks):
            return None
        kind = _kind(ip)
        if kind is None:
            return None
        return (
            f"{host} resolves to {ip}, a {kind} address, which the outbound policy refuses (allow it with BENCH_OUTBOUND_ALLOW)"
        )


class PolicyConnector(aiohttp.TCPConnector):
    """aiohttp's connector, connecting only to addresses the policy allows: every host it is
    about to connect to (a name it resolved, an IP literal, each redirect's target) is checked;
    when no address is left, the connection fails with the policy's reason."""

    def __init__(self, policy: OutboundPolicy, **options: Any) -> None:
        super().__init__(**options)
        self._policy = policy

    async def _resolve_host(self, host: str, port: int, traces: Any = None) -> list[Any]:  # aiohttp's one hook
        found = await super()._resolve_host(host, port, traces=traces)
        allowed, refusals = [], []
        for entry in found:
            reason = self._policy.refusal(host, entry["host"])
            (refusals.append(reason) if reason else allowed.append(entry))
        if not allowed:
            raise OutboundRefused(refusals[0] if refusals else f"{host} does not resolve")
        return allowed


async def url_refusal(url: str, policy: OutboundPolicy, *, timeout_s: float = 5.0) -> str | None:
    """Why `url`'s host may not be reached under `policy` now (the runner checks again on every
    connection), or None. For a clear 422 at submission rather than an error on every sample."""
    host = urlsplit(url).hostname or ""
    try:
        async with asyncio.timeout(timeout_s):
            found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return None  # unresolvable now: the runner records why on each sample
    refusals = [policy.refusal(host, str(info[4][0])) for info in found]
    return refusals[0] if refusals and all(refusals) else None


def connector(policy: OutboundPolicy | None, **options: Any) -> aiohttp.TCPConnector:
    """A connector that connects only where `policy` allows (anywhere when None). `options` go
    to aiohttp's TCPConnector (tests pass a stub `resolver`)."""
    return PolicyConnector(policy, **options) if policy is not None else aiohttp.TCPConnector(**options)


async def fetch_text(
    url: str,
    *,
    policy: OutboundPolicy | None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
    resolver: AbstractResolver | None = None,
) -> str:
    """GET `url` as UTF-8 text within `max_bytes` and `timeout_s` in all, following at most
    MAX_REDIRECTS redirects, each one's address checked. OSError-free: failures are ValueErrors
    whose message says what went wrong (the caller names the dataset)."""
    tcp = connector(policy, **({"resolver": resolver} if resolver is not None else {}))
    try:
        async with (
            aiohttp.ClientSession(connector=tcp, timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
            session.get(url, max_redirects=MAX_REDIRECTS, allow_redirects=True) as response,
        ):
            if response.status >= 400:
                raise ValueError(f"download failed with HTTP {response.status}")
            body = bytearray()
            async for chunk in response.content.iter_chunked(65_536):
                body += chunk
                if len(body) > max_bytes:
                    raise ValueError(f"download is larger than {max_bytes:,} bytes")
    except TimeoutError:
        raise ValueError(f"download took longer than {timeout_s:g}s in all") from None
    except aiohttp.TooManyRedirects:
        raise ValueError(f"more than {MAX_REDIRECTS} redirects") from None
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, OutboundRefused):
            raise ValueError(f"refused: {exc.os_error}") from None
        raise ValueError("cannot connect") from None  # the same words for closed and filtered ports
    except aiohttp.ClientError as exc:
        raise ValueError(f"download failed: {type(exc).__name__}") from None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the download is not UTF-8 text") from None
