"""The response cache is per tenant: the same model and prompt never answer across tenants."""

from __future__ import annotations

from services.runner.adapters.base import Completion, GenerationRequest
from services.runner.cache import CachedModel
from shared.spec import ModelConfig

CONFIG = ModelConfig(name="m", provider="openai", base_url="https://api.example.com/v1", cache=True)
REQUEST = GenerationRequest(task_type="qa", system="", prompt="What is 2+2?", inputs={})


class Calls:
    def __init__(self) -> None:
        self.count = 0

    async def generate(self, request: GenerationRequest) -> Completion:
        self.count += 1
        return Completion(text=f"answer {self.count}")

    async def aclose(self) -> None:
        return None


class DictCache:
    def __init__(self) -> None:
        self.entries: dict[str, dict] = {}

    async def get_response(self, key: str) -> dict | None:
        return self.entries.get(key)

    async def put_response(self, key: str, completion: dict) -> None:
        self.entries[key] = completion


async def test_a_tenant_reuses_its_own_responses_only() -> None:
    cache, model = DictCache(), Calls()
    acme, globex = (CachedModel(model, cache, CONFIG, tenant=t) for t in ("acme", "globex"))
    assert (await acme.generate(REQUEST)).text == "answer 1"
    assert (await acme.generate(REQUEST)).text == "answer 1"  # acme's own call, reused
    assert (await globex.generate(REQUEST)).text == "answer 2"  # never acme's
    assert model.count == 2 and sorted(key.split("|")[0] for key in cache.entries) == ["acme", "globex"]
