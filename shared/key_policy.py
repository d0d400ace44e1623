"""Which environment variables a model config may take its API key from, on a shared server.

A spec is data from a stranger. On the runner service, `apiKeyEnv` may name only a variable the
operator bound to the endpoints it may be sent to (BENCH_MODEL_KEYS, e.g.
`{"OPENAI_API_KEY": ["https://api.openai.com/v1"]}`), and the key goes only to a base URL under
one of them: a spec can neither read the runner's other variables (its database URL, say) nor
send a bound key to a server of its choosing. The embedded CLI has no policy: the user owns the
environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from shared.spec import ModelConfig

__all__ = ["KeyBindings", "key_refusal", "url_under"]

KeyBindings = Mapping[str, Sequence[str]]
"""Environment variable name -> the base URLs (prefixes) its value may be sent to."""


def url_under(url: str, prefix: str) -> bool:
    """Whether `url` is `prefix` or below it: same scheme, host and port, and a path under the
    prefix's path segment by segment (so `https://api.example.com.evil/` is not under
    `https://api.example.com`, nor `/v10` under `/v1`). A URL that does not parse is under nothing."""
    try:
        target, allowed = urlsplit(url), urlsplit(prefix)
        if (target.scheme.lower(), target.hostname, target.port) != (allowed.scheme.lower(), allowed.hostname, allowed.port):
            return False
    except ValueError:  # a bad IPv6 literal or port
        return False
    if target.username or target.password:
        return False
    base = allowed.path.rstrip("/")
    return target.path.rstrip("/") == base or target.path.startswith(base + "/")


def key_refusal(config: ModelConfig, bindings: KeyBindings | None) -> str | None:
    """Why `config` may not use its `apiKeyEnv` under `bindings` (None: no policy), else None."""
    if bindings is None or config.api_key_env is None:
        return None
    allowed = bindings.get(config.api_key_env)
    if allowed is None:
        known = ", ".join(sorted(bindings)) or "none"
        return (
            f"model {config.name!r}: apiKeyEnv {config.api_key_env} is not a key this server may use"
            f" (the operator's BENCH_MODEL_KEYS allows: {known})"
        )
    if config.base_url is None or not any(url_under(str(config.base_url), prefix) for prefix in allowed):
        return (
            f"model {config.name!r}: the key in {config.api_key_env} may only be sent to {', '.join(allowed)},"
            f" not to {config.base_url}"
        )
    return None
