"""Which API keys a model config may use on a shared runner, and where they may go."""

from __future__ import annotations

import pytest

from services.runner.models import ModelPool, UnusableModel
from shared.key_policy import key_refusal, url_under
from shared.settings import Settings
from shared.spec import ModelConfig

BINDINGS = {"OPENAI_API_KEY": ["https://api.openai.com/v1"], "LOCAL_KEY": ["http://127.0.0.1:8080"]}


@pytest.mark.parametrize(
    ("url", "under"),
    [
        ("https://api.openai.com/v1", True),
        ("https://api.openai.com/v1/", True),
        ("https://API.openai.com/v1/chat", True),
        ("https://api.openai.com/v10", False),
        ("https://api.openai.com", False),
        ("http://api.openai.com/v1", False),
        ("https://api.openai.com:8443/v1", False),
        ("https://api.openai.com.evil.example/v1", False),
        ("https://evil.example/api.openai.com/v1", False),
        ("https://user:pass@api.openai.com/v1", False),
    ],
)
def test_a_url_is_under_a_prefix_only_on_the_same_origin_and_path(url: str, under: bool) -> None:
    assert url_under(url, "https://api.openai.com/v1") is under


def _model(**fields: object) -> ModelConfig:
    return ModelConfig.model_validate({"name": "m", "provider": "openai", "baseUrl": "https://api.openai.com/v1", **fields})


def test_only_bound_variables_are_read_and_only_for_their_urls() -> None:
    assert key_refusal(_model(apiKeyEnv="OPENAI_API_KEY"), BINDINGS) is None
    assert key_refusal(_model(), BINDINGS) is None  # no key asked for
    assert key_refusal(_model(apiKeyEnv="BENCH_MONGO_URL"), None) is None  # the embedded CLI: the user's own environment
    refused = key_refusal(_model(apiKeyEnv="BENCH_MONGO_URL"), BINDINGS)
    assert refused == (
        "model 'm': apiKeyEnv BENCH_MONGO_URL is not a key this server may use"
        " (the operator's BENCH_MODEL_KEYS allows: LOCAL_KEY, OPENAI_API_KEY)"
    )
    elsewhere = key_refusal(_model(apiKeyEnv="OPENAI_API_KEY", baseUrl="https://collector.example/v1"), BINDINGS)
    assert (
        elsewhere
        == "model 'm': the key in OPENAI_API_KEY may only be sent to https://api.openai.com/v1, not to https://collector.example/v1"
    )


def test_a_refused_key_is_never_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_MONGO_URL", "mongodb://admin:s3cret@db:27017/")
    pool = ModelPool(key_bindings=BINDINGS)
    model = pool.get(_model(apiKeyEnv="BENCH_MONGO_URL", baseUrl="http://127.0.0.1:9/v1"), tenant="default")
    assert isinstance(model, UnusableModel) and "s3cret" not in model.reason


def test_the_service_settings_can_never_be_bound_as_keys() -> None:
    with pytest.raises(ValueError, match="BENCH_MONGO_URL: the service's own settings can never be sent to a model"):
        Settings(model_keys={"BENCH_MONGO_URL": ["https://x.example"]})
    with pytest.raises(ValueError, match="bind it to one or more http"):
        Settings(model_keys={"OPENAI_API_KEY": []})
