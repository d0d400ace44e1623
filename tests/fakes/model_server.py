"""A fake of the OpenAI-compatible and Anthropic model APIs, served over real HTTP on 127.0.0.1.

Tests and benchmarks point the runner's model adapters at it to exercise retries, Retry-After,
timeouts, concurrency limits, rate budgets, malformed responses and token usage.

Endpoints (shapes follow the real APIs):

- ``POST /v1/chat/completions``  OpenAI Chat Completions   (OpenAI base URL: ``f"{url}/v1"``)
- ``POST /v1/completions``       OpenAI legacy Completions
- ``POST /v1/messages``          Anthropic Messages        (Anthropic base URL: ``url``);
                                 requires the ``x-api-key`` and ``anthropic-version`` headers
- ``POST /_control``             change the knobs below over HTTP (JSON body, see ``configure``)
- ``GET  /_stats``               the ``Stats`` snapshot as JSON

Errors use each API's style: OpenAI ``{"error": {"message", "type", "param", "code"}}``,
Anthropic ``{"type": "error", "error": {"type", "message"}}``.

The reply:

- ``reply_mode="echo-last-line"`` (default): the last non-empty line of the last user message
  (of the prompt for /v1/completions), with a leading ``Answer:``/``Summary:``/``Label:`` removed;
  a line that is only such a label is skipped, so a prompt ending in ``"...\\n\\nAnswer:"``
  replies with the line before it.
- ``reply_mode="fixed"``: ``fixed_reply``.

Then, as the real APIs do, the reply is cut at the first stop sequence (``stop`` /
``stop_sequences``) and at ``max_tokens`` words (finish_reason ``"length"``, Anthropic
stop_reason ``"max_tokens"``). Tokens are whitespace-separated words: input = all prompt text
(system + every message, or the prompt), output = the reply.

Knobs (constructor, ``configure()`` or ``POST /_control``):

- ``latency_ms``: every served request sleeps this long first (limiter 429s answer at once).
- ``concurrency_limit`` / ``limit_retry_after``: a request arriving while ``concurrency_limit``
  requests are being served gets a 429 (``Retry-After: limit_retry_after`` if set).
- ``requests_per_minute``: a sliding 60 s window over the requests it let through; beyond it a 429
  with ``Retry-After`` = seconds until the oldest leaves the window.
- ``reply_mode`` / ``fixed_reply``: see above.
- a script: a FIFO of steps, each applied to the next ``times`` model requests in arrival order,
  before (and instead of) the limiters::

      {"status": 429, "retry_after": 0.2}     # 429, with Retry-After if retry_after is not None
      {"status": 500}                          # any 4xx/5xx, as an error in the API's style
      {"kind": "timeout", "seconds": 5}        # sleep 5 s instead of latency_ms, then answer normally
      {"kind": "truncated"}                    # 200, application/json, the JSON cut in half
      {"kind": "no_choices"}                   # 200, "choices": [] (OpenAI) / "content": [] (Anthropic)
      {"kind": "html_error", "status": 502}    # an nginx-style HTML error page
      ... each with an optional "times": n (default 1)

A sleeping request ends as soon as its client disconnects (no reply; it stops counting as in
flight) or the server stops (it then answers at once). Retry-After values are written as
decimal seconds (``"0.2"``), so clients must parse them as floats.

A request is counted as ended (no longer in flight, its outcome in ``outcomes``) in one step,
just before the last byte of its response goes out: once a client holds a whole response,
``stats()`` already shows that request ended, whatever the threads' scheduling. Only what the
client cannot see is counted later: a disconnect is counted when the server notices it, so a
test that has given up on a request waits for ``disconnects`` (with a deadline).

Stats (``stats()`` / ``GET /_stats``): requests in total and per endpoint, in-flight now and the
maximum observed (every model request counts, rejected ones too), the arrival time.time() of every
request, headers and JSON bodies of the last ``history`` requests, and ``outcomes``: how many
requests ended each way ("ok", "bad_request", "429", "503", "timeout", "truncated", "no_choices",
"html_error", "concurrency_limit", "rate_limit", ...). ``reset()`` restores the constructor's
knobs, empties the script and zeroes the stats.

Usage::

    with FakeModelServer(latency_ms=50) as server:
        server.configure(concurrency_limit=4, limit_retry_after=0.05)
        server.script({"status": 429, "retry_after": 0.1, "times": 2}, {"status": 503})
        ...  # point an adapter at server.url
        assert server.stats().requests == 3

    python -m tests.fakes.model_server --port 8555 --latency-ms 50   # serves until SIGINT/SIGTERM

``RemoteFakeModelServer(url)`` drives a server in another process through the same methods.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import re
import secrets
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, Self, cast

import uvicorn

from tests.waiting import wait_for

__all__ = [
    "FakeModelServer",
    "RemoteFakeModelServer",
    "Step",
    "Stats",
    "RecordedRequest",
    "ENDPOINTS",
    "echo_last_line",
]

ReplyMode = Literal["echo-last-line", "fixed"]
StepKind = Literal["status", "timeout", "truncated", "no_choices", "html_error"]
Api = Literal["chat", "completions", "messages"]

ENDPOINTS: dict[str, Api] = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/messages": "messages",
}
_LABEL = re.compile(r"^(?:Answer|Summary|Label):\s*")
_STEP_KINDS = ("status", "timeout", "truncated", "no_choices", "html_error")
_STEP_KEYS = {"status": {"status", "retry_after"}, "timeout": {"seconds"}, "html_error": {"status"}}
_LIMIT_MESSAGES = {
    "concurrency_limit": "Too many concurrent requests",
    "rate_limit": "Rate limit reached for requests per minute",
}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""configure()'s default: leave the knob as it is (None is a value: 'no limit')."""


# --------------------------------------------------------------------------- configuration


@dataclass(slots=True)
class _Config:
    latency_ms: float = 0.0
    concurrency_limit: int | None = None
    limit_retry_after: float | None = None
    requests_per_minute: int | None = None
    reply_mode: ReplyMode = "echo-last-line"
    fixed_reply: str = "OK"

    def updated(self, changes: Mapping[str, Any]) -> _Config:
        """A copy with `changes` applied; raises ValueError on a bad name or value."""
        new = dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not UNSET})
        if not _is_number(new.latency_ms) or new.latency_ms < 0:
            raise ValueError(f"latency_ms must be a number >= 0, got {new.latency_ms!r}")
        for name in ("concurrency_limit", "requests_per_minute"):
            value = getattr(new, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be None or an int >= 1, got {value!r}")
        if new.limit_retry_after is not None and (not _is_number(new.limit_retry_after) or new.limit_retry_after < 0):
            raise ValueError(f"limit_retry_after must be None or a number >= 0, got {new.limit_retry_after!r}")
        if new.reply_mode not in ("echo-last-line", "fixed"):
            raise ValueError(f"reply_mode must be 'echo-last-line' or 'fixed', got {new.reply_mode!r}")
        if not isinstance(new.fixed_reply, str):
            raise ValueError(f"fixed_reply must be a string, got {new.fixed_reply!r}")
        return new


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted behaviour, applied to the next `times` model requests."""

    kind: StepKind
    times: int = 1
    status: int | None = None
    retry_after: float | None = None
    seconds: float = 0.0

    @property
    def label(self) -> str:
        """The key this step is counted under in Stats.outcomes."""
        return str(self.status) if self.kind == "status" else self.kind

    @classmethod
    def parse(cls, raw: Step | Mapping[str, Any]) -> Step:
        if isinstance(raw, Step):
            return raw
        if not isinstance(raw, Mapping):
            raise ValueError(f"a script step must be a mapping, got {raw!r}")
        data = dict(raw)
        kind = data.pop("kind", "status")
        times = data.pop("times", 1)
        if kind not in _STEP_KINDS:
            raise ValueError(f"unknown step kind {kind!r}; expected one of {_STEP_KINDS}")
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ValueError(f"times must be an int >= 1, got {times!r}")
        allowed = _STEP_KEYS.get(kind, set())
        if unknown := set(data) - allowed:
            raise ValueError(f"unexpected keys {sorted(unknown)} in a {kind!r} step")
        status = data.get("status", 502 if kind == "html_error" else None)
        if kind in ("status", "html_error") and (not isinstance(status, int) or not 400 <= status <= 599):
            raise ValueError(f"a {kind!r} step needs a status between 400 and 599, got {status!r}")
        retry_after = data.get("retry_after")
        if retry_after is not None and (not _is_number(retry_after) or retry_after < 0):
            raise ValueError(f"retry_after must be None or a number >= 0, got {retry_after!r}")
        seconds = data.get("seconds", 0.0)
        if kind == "timeout" and (not _is_number(seconds) or seconds <= 0):
            raise ValueError(f"a 'timeout' step needs seconds > 0, got {seconds!r}")
        return cls(kind=kind, times=times, status=status, retry_after=retry_after, seconds=float(seconds))


# --------------------------------------------------------------------------- stats


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    time: float
    path: str
    headers: dict[str, str]
    """Lower-cased names, as received."""
    body: Any
    """The parsed JSON body, or the raw text when it is not JSON."""


@dataclass(slots=True)
class Stats:
    requests: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    arrivals: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    disconnects: int = 0
    """Requests whose client went away while the server was still sleeping on them."""
    script_pending: int = 0
    """Requests the remaining script steps will still apply to."""
    recent: list[RecordedRequest] = field(default_factory=list)
    """Headers and bodies of the last `history` model requests, oldest first."""

    @property
    def last(self) -> RecordedRequest:
        return self.recent[-1]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Stats:
        fields = dict(data)
        fields["recent"] = [RecordedRequest(**r) for r in fields.get("recent", ())]
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class _Ticket:
    """What admission decided for one request."""

    verdict: Literal["serve", "concurrency_limit", "rate_limit"]
    config: _Config
    epoch: int
    """The stats epoch it was admitted in (see _State.reset)."""
    step: Step | None = None
    retry_after: float | None = None


class _State:
    """Knobs, script and stats, shared by the server thread and the test thread under one lock."""

    def __init__(self, config: _Config, history: int) -> None:
        self._lock = threading.Lock()
        self._initial = config
        self._history = history
        self.config = config
        self._epoch = 0
        self._clear()
        self._in_flight = 0  # every model request being handled, for max_in_flight
        self._serving = 0  # those not rejected by a limiter, for concurrency_limit

    def _clear(self) -> None:
        self._script: deque[list[Any]] = deque()  # [Step, remaining]
        self._window: deque[float] = deque()  # monotonic times of requests let through the rpm budget
        self._requests = 0
        self._by_endpoint: Counter[str] = Counter()
        self._arrivals: list[float] = []
        self._recent: deque[RecordedRequest] = deque(maxlen=self._history)
        self._outcomes: Counter[str] = Counter()
        self._disconnects = 0
        self._max_in_flight = 0

    def configure(self, changes: Mapping[str, Any]) -> None:
        with self._lock:
            self.config = self.config.updated(changes)

    def add_steps(self, steps: list[Step]) -> None:
        with self._lock:
            self._script.extend([step, step.times] for step in steps)

    def reset(self) -> None:
        with self._lock:
            self.config = self._initial
            self._clear()
            self._max_in_flight = self._in_flight
            # A request admitted before may still be finishing (its client already has the
            # response): its outcome belongs to the stats just cleared, not to the next test's.
            self._epoch += 1

    def admit(self, path: str, headers: dict[str, str], body: Any) -> _Ticket:
        now = time.time()
        with self._lock:
            self._requests += 1
            self._by_endpoint[path] += 1
            self._arrivals.append(now)
            self._recent.append(RecordedRequest(now, path, headers, body))
            self._in_flight += 1
            if self._in_flight > self._max_in_flight:
                self._max_in_flight = self._in_flight
            config = self.config
            if self._script:
                entry = self._script[0]
                entry[1] -= 1
                if entry[1] == 0:
                    self._script.popleft()
                self._serving += 1
                return _Ticket("serve", config, self._epoch, step=entry[0])
            if config.concurrency_limit is not None and self._serving >= config.concurrency_limit:
                return _Ticket("concurrency_limit", config, self._epoch, retry_after=config.limit_retry_after)
            if config.requests_per_minute is not None:
                clock = time.monotonic()
                window = self._window
                while window and window[0] <= clock - 60.0:
                    window.popleft()
                if len(window) >= config.requests_per_minute:
                    return _Ticket("rate_limit", config, self._epoch, retry_after=max(window[0] + 60.0 - clock, 0.001))
                window.append(clock)
            self._serving += 1
            return _Ticket("serve", config, self._epoch)

    def release(self, ticket: _Ticket, outcome: str, disconnected: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if ticket.verdict == "serve":
                self._serving -= 1
            if ticket.epoch == self._epoch:
                self._outcomes[outcome] += 1
                self._disconnects += disconnected

    def snapshot(self) -> Stats:
        with self._lock:
            return Stats(
                requests=self._requests,
                by_endpoint=dict(self._by_endpoint),
                in_flight=self._in_flight,
                max_in_flight=self._max_in_flight,
                arrivals=list(self._arrivals),
                outcomes=dict(self._outcomes),
                disconnects=self._disconnects,
                script_pending=sum(remaining for _, remaining in self._script),
                recent=list(self._recent),
            )


# --------------------------------------------------------------------------- the model APIs


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class _Prompt:
    model: str
    input_text: list[str]
    last_user: str
    max_tokens: int | None
    stop: list[str]


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    raise _BadRequest(400, "content must be a string or a list of content blocks")


def _parse(api: Api, body: Any, headers: Mapping[str, str]) -> _Prompt:
    if api == "messages":
        if "x-api-key" not in headers:
            raise _BadRequest(401, "x-api-key header is required")
        if "anthropic-version" not in headers:
            raise _BadRequest(400, "anthropic-version: header is required")
    if not isinstance(body, dict):
        raise _BadRequest(400, "the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _BadRequest(400, "model: field required")
    max_tokens = body.get("max_tokens")
    if api != "messages":
        max_tokens = body.get("max_completion_tokens", max_tokens)
    if api == "messages" and max_tokens is None:
        raise _BadRequest(400, "max_tokens: field required")
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        raise _BadRequest(400, "max_tokens must be an integer >= 1")
    stop = body.get("stop_sequences" if api == "messages" else "stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _BadRequest(400, "stop sequences must be a string or a list of strings")

    if api == "completions":
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise _BadRequest(400, "prompt: must be a string")
        return _Prompt(model, [prompt], prompt, max_tokens, stop)

    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise _BadRequest(400, "messages: must be a non-empty list of objects")
    texts = [_text_of(m.get("content")) for m in messages]
    if api == "messages" and body.get("system") is not None:
        texts.insert(0, _text_of(body["system"]))
    users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    return _Prompt(model, texts, users[-1] if users else texts[-1], max_tokens, stop)


def echo_last_line(text: str) -> str:
    """The last non-empty line without its Answer:/Summary:/Label: label; label-only lines are skipped."""
    for line in reversed(text.splitlines()):
        line = _LABEL.sub("", line.strip())
        if line:
            return line
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _reply(prompt: _Prompt, config: _Config) -> tuple[str, Literal["stop", "stop_sequence", "length"], str | None]:
    """(text, why it ended, the stop sequence that ended it)."""
    text = config.fixed_reply if config.reply_mode == "fixed" else echo_last_line(prompt.last_user)
    hits = [(text.find(s), s) for s in prompt.stop if s and s in text]
    if hits:
        at, sequence = min(hits)
        return text[:at], "stop_sequence", sequence
    if prompt.max_tokens is not None and _words(text) > prompt.max_tokens:
        return " ".join(text.split()[: prompt.max_tokens]), "length", None
    return text, "stop", None


def _success(api: Api, prompt: _Prompt, config: _Config, empty: bool) -> dict[str, Any]:
    text, ended, sequence = _reply(prompt, config)
    input_tokens = sum(_words(t) for t in prompt.input_text)
    output_tokens = 0 if empty else _words(text)
    if api == "messages":
        return {
            "id": f"msg_{secrets.token_hex(12)}",
            "type": "message",
            "role": "assistant",
            "model": prompt.model,
            "content": [] if empty else [{"type": "text", "text": text}],
            "stop_reason": {"stop": "end_turn", "stop_sequence": "stop_sequence", "length": "max_tokens"}[ended],
            "stop_sequence": sequence,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
    finish_reason = "length" if ended == "length" else "stop"
    if api == "chat":
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        kind, prefix = "chat.completion", "chatcmpl"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        kind, prefix = "text_completion", "cmpl"
    return {
        "id": f"{prefix}-{secrets.token_hex(12)}",
        "object": kind,
        "created": int(time.time()),
        "model": prompt.model,
        "choices": [] if empty else [choice],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    }


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Overloaded" if status == 529 else "Error"


def _error_body(api: Api, status: int, message: str | None = None) -> dict[str, Any]:
    message = message or _phrase(status)
    if api == "messages":
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if status == 429:
        kind, code = "requests", "rate_limit_exceeded"
    elif status >= 500:
        kind, code = "server_error", None
    else:
        kind, code = "invalid_request_error", {401: "invalid_api_key", 404: "unknown_url"}.get(status)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


_HTML_ERROR = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


# --------------------------------------------------------------------------- the ASGI app


class _App:
    """A bare ASGI app: no framework on the hot path."""

    def __init__(self, state: _State) -> None:
        self.state = state
        self.stopping: asyncio.Event | None = None  # set by the server when it stops; ends sleeps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path, method = scope["path"], scope["method"]
        api = ENDPOINTS.get(path)
        if api is not None:
            if method != "POST":
                await _send_json(send, 405, _error_body(api, 405))
            else:
                await self._model_call(api, path, scope, bytes(body), receive, send)
        elif path == "/_control" and method == "POST":
            await self._control(bytes(body), send)
        elif path == "/_stats" and method == "GET":
            await _send_json(send, 200, self.state.snapshot().to_json())
        else:
            await _send_json(send, 404, _error_body("chat", 404, f"no route for {method} {path}"))

    async def _model_call(self, api: Api, path: str, scope: Scope, raw: bytes, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = _NOT_JSON
        ticket = self.state.admit(path, headers, body if body is not _NOT_JSON else raw.decode("utf-8", "replace"))
        outcome, disconnected, released = "ok", False, False

        def release() -> None:
            """Count the request as ended, once: called just before the last byte of its response
            goes out (so a client holding a whole response never sees it still in flight or
            uncounted in stats()), or on the way out when no response is sent."""
            nonlocal released
            if not released:
                released = True
                self.state.release(ticket, outcome, disconnected)

        try:
            if ticket.verdict != "serve":
                outcome = ticket.verdict
                await _send_json(send, 429, _error_body(api, 429, _LIMIT_MESSAGES[outcome]), ticket.retry_after, release)
                return
            step = ticket.step
            delay = step.seconds if step is not None and step.kind == "timeout" else ticket.config.latency_ms / 1000
            if step is not None:
                outcome = step.label
            if delay > 0 and await self._sleep(delay, receive):
                disconnected = True
                return
            if step is not None and step.kind == "status":
                status = cast(int, step.status)
                await _send_json(send, status, _error_body(api, status), step.retry_after, release)
                return
            if step is not None and step.kind == "html_error":
                status = cast(int, step.status)
                page = _HTML_ERROR.format(status=status, phrase=_phrase(status)).encode()
                await _send(send, status, page, b"text/html", before_body=release)
                return
            try:
                prompt = _parse(api, body if body is not _NOT_JSON else None, headers)
            except _BadRequest as exc:
                outcome = "bad_request"
                await _send_json(send, exc.status, _error_body(api, exc.status, str(exc)), before_body=release)
                return
            payload = _json(_success(api, prompt, ticket.config, empty=step is not None and step.kind == "no_choices"))
            if step is not None and step.kind == "truncated":
                payload = payload[: len(payload) // 2]
            await _send(send, 200, payload, b"application/json", before_body=release)
        finally:
            release()

    async def _sleep(self, seconds: float, receive: Receive) -> bool:
        """Sleep; end early when the server stops. True if the client disconnected first."""
        waiters = [asyncio.ensure_future(receive())]
        if self.stopping is not None:
            waiters.append(asyncio.ensure_future(self.stopping.wait()))
        try:
            done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return waiters[0] in done and waiters[0].result()["type"] == "http.disconnect"

    async def _control(self, raw: bytes, send: Send) -> None:
        try:
            changes = json.loads(raw or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            _apply_control(self.state, changes)
        except ValueError as exc:
            await _send_json(send, 400, {"error": {"message": str(exc), "type": "invalid_request_error"}})
            return
        await _send_json(send, 200, {"ok": True, "config": dataclasses.asdict(self.state.config)})


_NOT_JSON = object()
_CONTROL_KEYS = {f.name for f in dataclasses.fields(_Config)} | {"script", "reset"}


def _apply_control(state: _State, changes: Mapping[str, Any]) -> None:
    """Apply a /_control body: reset first, then the knobs, then append the script steps."""
    if unknown := set(changes) - _CONTROL_KEYS:
        raise ValueError(f"unknown control keys {sorted(unknown)}; expected some of {sorted(_CONTROL_KEYS)}")
    steps = [Step.parse(s) for s in changes.get("script") or []]
    knobs = {k: v for k, v in changes.items() if k not in ("script", "reset")}
    state.config.updated(knobs)  # validate everything before changing anything
    if changes.get("reset"):
        state.reset()
    state.configure(knobs)
    state.add_steps(steps)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    retry_after: float | None = None,
    before_body: Callable[[], None] | None = None,
) -> None:
    """Send a whole response; `before_body()` runs after the headers, before the body goes out."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", f"{retry_after:g}".encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if before_body is not None:
        before_body()
    await send({"type": "http.response.body", "body": body})


async def _send_json(
    send: Send, status: int, value: Any, retry_after: float | None = None, before_body: Callable[[], None] | None = None
) -> None:
    await _send(send, status, _json(value), b"application/json", retry_after, before_body)


# --------------------------------------------------------------------------- the server


class FakeModelServer:
    """The fake, on a free port of 127.0.0.1, served by uvicorn on its own thread and event loop."""

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        concurrency_limit: int | None = None,
        limit_retry_after: float | None = None,
        requests_per_minute: int | None = None,
        reply_mode: ReplyMode = "echo-last-line",
        fixed_reply: str = "OK",
        history: int = 1000,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        config = _Config().updated(
            {
                "latency_ms": latency_ms,
                "concurrency_limit": concurrency_limit,
                "limit_retry_after": limit_retry_after,
                "requests_per_minute": requests_per_minute,
                "reply_mode": reply_mode,
                "fixed_reply": fixed_reply,
            }
        )
        self._state = _State(config, history)
        self._app = _App(self._state)
        self._host, self._port = host, port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._sock: socket.socket | None = None

    # -- lifecycle

    @property
    def url(self) -> str:
        if self._sock is None:
            raise RuntimeError("the server is not running")
        return f"http://{self._host}:{self._sock.getsockname()[1]}"

    def start(self, timeout: float = 10.0) -> Self:
        """Bind, serve on a background thread, and return once the server is accepting requests."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._sock = self._bind()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._serve(ready, log_config=None))
            except BaseException as exc:  # noqa: BLE001 - reported to start(); a thread must not die silently
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name=f"fake-model-server:{self.url}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            self.stop()
            raise RuntimeError("the fake model server did not start") from (failure[0] if failure else None)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (sleeping requests answer at once), join the thread, close the socket."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError("the fake model server thread did not stop")
        if self._sock is not None:
            self._sock.close()
        self._thread = self._loop = self._stop = None

    def run(self, announce: Callable[[str], None] = print) -> None:
        """Serve on this thread until SIGINT or SIGTERM (for `python -m`); announce(url) once bound."""
        self._sock = self._bind()
        announce(self.url)
        asyncio.run(self._serve(None, log_config=uvicorn.config.LOGGING_CONFIG, signals=True))
        self._sock.close()

    def _bind(self) -> socket.socket:
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
        # says TCP, and without it Nagle + delayed ACK add ~40 ms to every response.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        return sock

    async def _serve(self, ready: threading.Event | None, log_config: Any, signals: bool = False) -> None:
        assert self._sock is not None
        config = uvicorn.Config(
            self._app,
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_level="warning",
            log_config=log_config,
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=5,
            backlog=4096,
            timeout_keep_alive=60,  # long, like real APIs: a short one races with clients reusing idle connections
        )
        # Server.serve() polls for should_exit every 0.1 s; driving startup/shutdown ourselves
        # lets stop() return as soon as the connections close.
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._app.stopping = self._stop
        if signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._loop.add_signal_handler(sig, self._stop.set)
        await server.startup(sockets=[self._sock])
        await server.on_tick(0)  # sets the Date and Server headers
        if ready is not None:
            ready.set()
        await self._stop.wait()
        await server.shutdown(sockets=[self._sock])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)

    # -- control (thread-safe)

    def configure(
        self,
        *,
        latency_ms: float = UNSET,
        concurrency_limit: int | None = UNSET,
        limit_retry_after: float | None = UNSET,
        requests_per_minute: int | None = UNSET,
        reply_mode: ReplyMode = UNSET,
        fixed_reply: str = UNSET,
    ) -> None:
        """Change the given knobs (None turns a limit off); the others stay as they are."""
        self._state.configure(
            {
                "latency_ms": latency_ms,
                "concurrency_limit": concurrency_limit,
                "limit_retry_after": limit_retry_after,
                "requests_per_minute": requests_per_minute,
                "reply_mode": reply_mode,
                "fixed_reply": fixed_reply,
            }
        )

    def script(self, *steps: Step | Mapping[str, Any]) -> None:
        """Append steps to the script (see the module docstring for their shapes)."""
        self._state.add_steps([Step.parse(s) for s in steps])

    def reset(self) -> None:
        """Back to the constructor's knobs, an empty script and zeroed stats."""
        self._state.reset()

    def stats(self) -> Stats:
        return self._state.snapshot()

    def settled_stats(self, timeout: float = 10.0) -> Stats:
        """Stats once no request is in flight: after a client gave up on a request, the server
        counts it only once it notices the disconnect (answered requests are counted at once)."""
        last = [self._state.snapshot()]

        def settled() -> Stats | None:
            last[0] = self._state.snapshot()
            return last[0] if not last[0].in_flight else None

        return wait_for(
            "the fake model server to have no request in flight",
            settled,
            timeout=timeout,
            interval=0.01,
            detail=lambda: f"{last[0].in_flight} still in flight",
        )


class RemoteFakeModelServer:
    """Drives a FakeModelServer in another process through /_control and /_stats.

    Uses urllib: an httpx client per call would build an SSL context each time (~50 ms).
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout

    def _call(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else _json(body)
        request = urllib.request.Request(f"{self.url}{path}", data=data, headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                raise ValueError(json.loads(exc.read())["error"]["message"]) from None

    def control(self, **changes: Any) -> None:
        """POST /_control: reset?, the knobs of FakeModelServer.configure, script?."""
        self._call("/_control", changes)

    def configure(self, **knobs: Any) -> None:
        self.control(**knobs)

    def script(self, *steps: Step | Mapping[str, Any]) -> None:
        self.control(script=[s if isinstance(s, Mapping) else _step_json(s) for s in steps])

    def reset(self) -> None:
        self.control(reset=True)

    def stats(self) -> Stats:
        return Stats.from_json(self._call("/_stats"))


def _step_json(step: Step) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": step.kind, "times": step.times}
    if step.kind in ("status", "html_error"):
        data["status"] = step.status
    if step.kind == "status":
        data["retry_after"] = step.retry_after
    if step.kind == "timeout":
        data["seconds"] = step.seconds
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI/Anthropic model API server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed at start)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency-limit", type=int)
    parser.add_argument("--limit-retry-after", type=float)
    parser.add_argument("--requests-per-minute", type=int)
    parser.add_argument("--reply-mode", choices=["echo-last-line", "fixed"], default="echo-last-line")
    parser.add_argument("--fixed-reply", default="OK")
    args = parser.parse_args(argv)
    server = FakeModelServer(
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        concurrency_limit=args.concurrency_limit,
        limit_retry_after=args.limit_retry_after,
        requests_per_minute=args.requests_per_minute,
        reply_mode=args.reply_mode,
        fixed_reply=args.fixed_reply,
    )
    server.run(announce=lambda url: print(url, flush=True))


if __name__ == "__main__":
    main()
