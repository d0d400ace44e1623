"""Provider credentials: encryption under the operator's keys (round trip, rotation, wrong key),
URL binding, model configs naming them, the gateway's refusals, and the runner's pool resolving
them per tenant, briefly cached."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from services.gateway.validation import RequestProblem, check_submission
from services.runner.adapters.base import Completion, GenerationRequest
from services.runner.models import CredentialedModel, ModelPool, UnusableModel
from services.runner.pacing import MemoryBudget, WindowPlan
from shared.credentials import NO_KEY, Credential, CredentialCipher, CredentialRefused, CredentialStore, NoCredentialsKey
from shared.errors import ModelConfigError, ModelRequestRejected, SpecError
from shared.settings import Settings
from shared.spec import GenerationParams, ModelConfig, parse_spec

SECRET = "sk-live-0123456789abcdef"
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _keys(*keys: str) -> SecretStr:
    return SecretStr(",".join(keys))


class TestCipher:
    def test_a_secret_round_trips_and_its_ciphertext_does_not_contain_it(self) -> None:
        cipher = CredentialCipher(_keys(NEW))
        ciphertext = cipher.encrypt(SECRET)
        assert SECRET not in ciphertext
        assert cipher.encrypt(SECRET) != ciphertext  # a fresh IV every time
        assert cipher.decrypt(ciphertext, name="openai") == (SECRET, True)

    def test_a_rotated_key_list_still_reads_old_ciphertexts_and_says_they_want_re_encrypting(self) -> None:
        old = CredentialCipher(_keys(OLD)).encrypt(SECRET)
        rotated = CredentialCipher(_keys(NEW, OLD))
        assert rotated.decrypt(old, name="openai") == (SECRET, False)
        assert rotated.decrypt(rotated.encrypt(SECRET), name="openai") == (SECRET, True)  # the first key encrypts

    def test_the_first_key_encrypts(self) -> None:
        with pytest.raises(CredentialRefused):
            CredentialCipher(_keys(OLD)).decrypt(CredentialCipher(_keys(NEW, OLD)).encrypt(SECRET), name="openai")

    def test_a_wrong_key_is_a_refusal_naming_the_credential_not_the_secret(self) -> None:
        ciphertext = CredentialCipher(_keys(OLD)).encrypt(SECRET)
        with pytest.raises(CredentialRefused, match="credential 'openai' cannot be decrypted") as caught:
            CredentialCipher(_keys(NEW)).decrypt(ciphertext, name="openai")
        assert SECRET not in str(caught.value)

    @pytest.mark.parametrize("keys", [None, SecretStr(""), SecretStr(" , ")])
    def test_no_key_is_refused_as_such(self, keys: SecretStr | None) -> None:
        with pytest.raises(NoCredentialsKey, match=NO_KEY):
            CredentialCipher(keys)

    def test_a_malformed_key_is_named_by_position_never_echoed(self) -> None:
        with pytest.raises(NoCredentialsKey, match="key 2 of 2 is not a Fernet key") as caught:
            CredentialCipher(_keys(NEW, "not-a-key-but-a-password"))
        assert "not-a-key-but-a-password" not in str(caught.value) and NEW not in str(caught.value)

    def test_the_setting_hides_the_key(self) -> None:
        settings = Settings(credentials_key=NEW)
        assert NEW not in repr(settings) and NEW not in str(settings.model_dump())


def _credential(*urls: str) -> Credential:
    return Credential(tenant="a", name="openai", urls=urls, created_at=NOW, created_by="x", updated_at=NOW, updated_by="x")


@pytest.mark.parametrize(
    ("base_url", "covered"),
    [
        ("https://api.openai.com/v1", True),
        ("https://api.openai.com/v1/", True),
        ("https://api.openai.com/v1/deployments/x", True),
        ("https://api.openai.com/v10", False),
        ("https://api.openai.com.evil.example/v1", False),
        ("http://api.openai.com/v1", False),
        ("https://api.openai.com:444/v1", False),
        ("http://127.0.0.1:8001/v1", True),
        ("http://127.0.0.1:8002/v1", False),
    ],
)
def test_a_credential_covers_only_urls_under_its_own(base_url: str, covered: bool) -> None:
    assert _credential("https://api.openai.com/v1", "http://127.0.0.1:8001").covers(base_url) is covered


def _spec(**model: Any) -> dict[str, Any]:
    config = {"name": "m", "provider": "openai", "baseUrl": "http://127.0.0.1:8001/v1", **model}
    records = [{"id": "1", "question": "q", "answers": ["a"]}]
    return {"name": "s", "models": [config], "tasks": [{"name": "qa", "type": "qa", "dataset": {"records": records}}]}


class TestModelConfig:
    def test_a_model_names_a_credential_or_an_environment_variable_not_both(self) -> None:
        assert parse_spec(_spec(credential="openai")).models[0].credential == "openai"
        with pytest.raises(SpecError, match="give either 'credential' or 'apiKeyEnv', not both"):
            parse_spec(_spec(credential="openai", apiKeyEnv="OPENAI_API_KEY"))

    def test_a_built_in_model_takes_no_credential(self) -> None:
        with pytest.raises(SpecError, match="built-in model: it takes no 'credential'"):
            parse_spec({**_spec(), "models": [{"name": "lead", "credential": "openai"}]})

    @pytest.mark.parametrize("name", ["", "a\nb", "x" * 201])
    def test_a_credential_name_follows_the_name_rules(self, name: str) -> None:
        with pytest.raises(SpecError, match=r"models\[0\]\.credential"):
            parse_spec(_spec(credential=name))

    @pytest.mark.parametrize(
        ("base_url", "reason"),
        [
            ("http://[::1/v1", "Invalid IPv6 URL"),
            ("http://127.0.0.1:99999/v1", "Port out of range"),
            ("http:///v1", "names no host"),
        ],
    )
    def test_a_base_url_no_policy_can_parse_is_refused_up_front(self, base_url: str, reason: str) -> None:
        with pytest.raises(SpecError, match=reason):
            parse_spec(_spec(credential="openai", baseUrl=base_url))
        assert not _credential("http://127.0.0.1:8001").covers(base_url)  # and never covered, should one get past

    def test_a_key_in_a_header_is_refused_pointing_at_credentials(self) -> None:
        with pytest.raises(SpecError, match="keys never travel in a spec; name a stored 'credential'"):
            parse_spec(_spec(headers={"X-Api-Key": SECRET}))


class FakeCredentials:
    """What the gateway and the runner ask of a CredentialStore, in memory."""

    def __init__(self, **stored: tuple[str, tuple[str, ...], str]) -> None:
        self.stored = dict(stored.items())  # name -> (tenant, urls, secret)
        self.resolved = 0

    async def get(self, tenant: str, name: str) -> Credential | None:
        found = self.stored.get(name)
        if found is None or found[0] != tenant:
            return None
        return Credential(tenant=tenant, name=name, urls=found[1], created_at=NOW, created_by="x", updated_at=NOW, updated_by="x")

    async def resolve(self, tenant: str, name: str, base_url: str) -> str:
        self.resolved += 1
        credential = await self.get(tenant, name)
        if credential is None:
            raise CredentialRefused(f"credential {name!r}: tenant {tenant!r} has no credential of that name")
        if not credential.covers(base_url):
            raise CredentialRefused(f"credential {name!r} may only be sent to {', '.join(credential.urls)}, not to {base_url}")
        return self.stored[name][2]


SETTINGS = Settings(outbound_allow=["127.0.0.0/8"])


async def _refusal(credentials: FakeCredentials, tenant: str = "a", **model: Any) -> RequestProblem:
    with pytest.raises(RequestProblem) as caught:
        await check_submission(
            parse_spec(_spec(**model)), SETTINGS, tenant=tenant, credentials=cast(CredentialStore, credentials)
        )
    return caught.value


class TestSubmission:
    credentials = FakeCredentials(openai=("a", ("http://127.0.0.1:8001",), SECRET))

    async def test_a_spec_sent_over_http_may_not_name_an_environment_variable(self) -> None:
        refused = await _refusal(self.credentials, apiKeyEnv="OPENAI_API_KEY")
        assert refused.loc == ("body", "models", 0, "apiKeyEnv")
        assert "may not name an environment variable" in str(refused) and "'credential'" in str(refused)

    async def test_a_named_credential_must_exist_for_the_callers_tenant(self) -> None:
        for tenant, name in (("a", "missing"), ("b", "openai")):  # tenant b cannot name tenant a's
            refused = await _refusal(self.credentials, tenant=tenant, credential=name)
            assert refused.loc == ("body", "models", 0, "credential")
            assert f"no credential named {name!r}" in str(refused)

    async def test_a_named_credential_must_be_bound_to_the_models_base_url(self) -> None:
        refused = await _refusal(self.credentials, credential="openai", baseUrl="http://127.0.0.1:8002/v1")
        assert refused.loc == ("body", "models", 0, "credential")
        assert str(refused) == (
            "model 'm': credential 'openai' may only be sent to http://127.0.0.1:8001, not to http://127.0.0.1:8002/v1"
        )

    async def test_a_bound_credential_is_accepted(self) -> None:
        spec = parse_spec(_spec(credential="openai"))
        datasets = await check_submission(spec, SETTINGS, tenant="a", credentials=cast(CredentialStore, self.credentials))
        assert list(datasets) == ["qa"]


class FakeAdapter:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.closed = False

    async def generate(self, request: GenerationRequest) -> Completion:
        return Completion(text=self.secret)

    async def aclose(self) -> None:
        self.closed = True


REQUEST = GenerationRequest(task_type="qa", system="", prompt="p", inputs={}, labels=(), params=GenerationParams())


class TestRunnerPool:
    def _config(self, **fields: Any) -> ModelConfig:
        return ModelConfig.model_validate(
            {"name": "m", "provider": "openai", "baseUrl": "http://127.0.0.1:8001/v1", "credential": "openai", **fields}
        )

    async def test_without_a_credential_store_a_named_credential_is_unusable(self) -> None:
        pool = ModelPool()  # the embedded CLI
        with pytest.raises(
            ModelConfigError, match="credential 'openai': named credentials need the service; use apiKeyEnv locally"
        ):
            pool.check(self._config(), tenant="default")

    async def test_the_secret_is_resolved_for_the_tenant_cached_briefly_and_rotations_take_effect(self) -> None:
        credentials = FakeCredentials(openai=("a", ("http://127.0.0.1:8001",), "sk-one"))
        now = [0.0]
        opened: list[FakeAdapter] = []

        def open_adapter(secret: str) -> FakeAdapter:
            opened.append(FakeAdapter(secret))
            return opened[-1]

        model = CredentialedModel(
            self._config(), tenant="a", credentials=credentials, open_adapter=open_adapter, ttl_s=30, clock=lambda: now[0]
        )
        assert (await model.generate(REQUEST)).text == "sk-one"
        assert (await model.generate(REQUEST)).text == "sk-one"
        assert credentials.resolved == 1  # cached

        credentials.stored["openai"] = ("a", ("http://127.0.0.1:8001",), "sk-two")  # rotated
        now[0] = 29.0
        assert (await model.generate(REQUEST)).text == "sk-one"
        now[0] = 30.0
        assert (await model.generate(REQUEST)).text == "sk-two"
        assert len(opened) == 2

        now[0] = 45.0
        assert (await model.generate(REQUEST)).text == "sk-two"  # the same secret: the same client
        now[0] = 60.0
        credentials.stored["openai"] = ("a", ("http://127.0.0.1:9999",), "sk-two")  # rebound elsewhere
        with pytest.raises(
            ModelRequestRejected, match=r"may only be sent to http://127.0.0.1:9999, not to http://127.0.0.1:8001/v1"
        ):
            await model.generate(REQUEST)
        del credentials.stored["openai"]  # deleted
        now[0] = 90.0
        with pytest.raises(ModelRequestRejected, match="tenant 'a' has no credential of that name"):
            await model.generate(REQUEST)
        assert len(opened) == 2
        await model.aclose()
        assert all(adapter.closed for adapter in opened)

    async def test_another_tenant_gets_a_refusal_not_the_secret(self) -> None:
        credentials = FakeCredentials(openai=("a", ("http://127.0.0.1:8001",), SECRET))
        model = CredentialedModel(self._config(), tenant="b", credentials=credentials, open_adapter=FakeAdapter)
        with pytest.raises(ModelRequestRejected) as caught:
            await model.generate(REQUEST)
        assert "tenant 'b' has no credential" in str(caught.value) and SECRET not in str(caught.value)

    async def test_adapters_are_per_tenant(self) -> None:
        pool = ModelPool(credentials=FakeCredentials())
        config = self._config()
        try:
            assert pool.get(config, tenant="a") is pool.get(config, tenant="a")
            assert pool.get(config, tenant="a") is not pool.get(config, tenant="b")
            assert not isinstance(pool.get(config, tenant="a"), UnusableModel)
        finally:
            await pool.close()

    async def test_rate_budgets_are_per_tenant(self) -> None:
        taken: list[str] = []

        class Recording(MemoryBudget):
            async def take(self, key: str, plan: WindowPlan, amount: int) -> float:
                taken.append(key)
                return await super().take(key, plan, amount)

        pool = ModelPool(budget=Recording(), credentials=FakeCredentials())  # no credential: refused, nothing sent
        config = self._config(limits={"requestsPerMinute": 60})
        try:
            for tenant in ("a", "b"):
                with pytest.raises(ModelRequestRejected):
                    await pool.get(config, tenant=tenant).generate(REQUEST)
        finally:
            await pool.close()
        assert taken == [f"a|{config.budget_key}|requests", f"b|{config.budget_key}|requests"]
