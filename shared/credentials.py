"""Provider credentials: API keys an admin stores per tenant, each bound to the base URLs it may
be sent to, encrypted at rest with the operator's key.

A spec sent to the service names a credential (`credential: openai-prod`), never a key nor an
environment variable. The runner resolves the name for the benchmark's tenant and sends the
secret only to a base URL under one of the credential's URLs (shared/key_policy.url_under):
a spec pointing a credential at a server of its choosing gets a refusal, not the key.

The secret is encrypted with Fernet under the operator's BENCH_CREDENTIALS_KEY, a comma-separated
list of keys: the first encrypts, every one decrypts, so a key rotates by putting the new one
first; a credential encrypted under an older key is re-encrypted under the first when it is
next used or stored. No API returns a secret or its ciphertext; refusals name the credential
and the URL, never the secret.

Documents (`credentials`): `_id` = JSON [tenant, name]; tenant, name, urls, ciphertext,
createdAt, createdBy, updatedAt, updatedBy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.errors import ModelConfigError
from shared.key_policy import url_under
from shared.mongo import translated_errors

__all__ = [
    "Credential",
    "CredentialCipher",
    "CredentialRefused",
    "CredentialStore",
    "NoCredentialsKey",
    "NO_KEY",
    "MAX_SECRET_BYTES",
    "MAX_URLS",
]

NO_KEY = "the operator has not set BENCH_CREDENTIALS_KEY"
MAX_SECRET_BYTES = 8192
MAX_URLS = 20


class CredentialRefused(ModelConfigError):
    """A named credential cannot be used for this model: the tenant has none of that name, it is
    not bound to the model's base URL, or the operator's key cannot read it (permanent)."""


class NoCredentialsKey(CredentialRefused):
    """BENCH_CREDENTIALS_KEY is unset or not a list of Fernet keys: no credential can be stored or read."""


class CredentialCipher:
    """Fernet under the operator's keys: the first encrypts, every one decrypts."""

    def __init__(self, keys: SecretStr | None) -> None:
        parts = [part.strip() for part in (keys.get_secret_value() if keys else "").split(",") if part.strip()]
        if not parts:
            raise NoCredentialsKey(NO_KEY)
        fernets = []
        for index, part in enumerate(parts):
            try:
                fernets.append(Fernet(part))
            except ValueError:  # never echo the key: say which one
                raise NoCredentialsKey(
                    f"BENCH_CREDENTIALS_KEY: key {index + 1} of {len(parts)} is not a Fernet key"
                    " (32 url-safe base64-encoded bytes, e.g. from cryptography's Fernet.generate_key())"
                ) from None
        self._primary = fernets[0]
        self._all = MultiFernet(fernets)

    def encrypt(self, secret: str) -> str:
        return self._primary.encrypt(secret.encode()).decode()

    def decrypt(self, ciphertext: str, *, name: str) -> tuple[str, bool]:
        """The secret, and whether it was encrypted under the first key (else it wants re-encrypting)."""
        token = ciphertext.encode()
        try:
            return self._primary.decrypt(token).decode(), True
        except InvalidToken:
            pass
        try:
            return self._all.decrypt(token).decode(), False
        except InvalidToken:
            raise CredentialRefused(
                f"credential {name!r} cannot be decrypted with any key in BENCH_CREDENTIALS_KEY"
                " (encrypted under a key no longer listed?): an admin must store it again"
            ) from None


@dataclass(frozen=True, slots=True)
class Credential:
    """What may be known of a stored credential: never its secret nor its ciphertext."""

    tenant: str
    name: str
    urls: tuple[str, ...]
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    def covers(self, base_url: str) -> bool:
        return any(url_under(base_url, prefix) for prefix in self.urls)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "urls": list(self.urls),
            "createdAt": self.created_at.isoformat(),
            "createdBy": self.created_by,
            "updatedAt": self.updated_at.isoformat(),
            "updatedBy": self.updated_by,
        }


_PUBLIC = {"ciphertext": 0}
"""The projection every read but `resolve` uses: the ciphertext never leaves the store."""


class CredentialStore:
    """The `credentials` collection. `keys` is BENCH_CREDENTIALS_KEY: needed to store or resolve
    a credential (NoCredentialsKey otherwise), not to list, look up or delete one."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], *, keys: SecretStr | None) -> None:
        self._credentials = database["credentials"]
        self._keys = keys
        self._cipher: CredentialCipher | None = None

    def require_key(self) -> CredentialCipher:
        """The cipher under the operator's keys; NoCredentialsKey when they are unset or malformed."""
        if self._cipher is None:
            self._cipher = CredentialCipher(self._keys)
        return self._cipher

    async def put(self, tenant: str, name: str, *, secret: str, urls: Sequence[str], by: str, now: datetime) -> bool:
        """Create or replace the tenant's credential `name`; True if it was created."""
        ciphertext = self.require_key().encrypt(secret)
        key = _key(tenant, name)
        change = {"urls": list(urls), "ciphertext": ciphertext, "updatedAt": now, "updatedBy": by}
        with translated_errors("for provider credentials"):
            if await self._credentials.find_one({"_id": key}, {"_id": 1}) is None:
                try:
                    await self._credentials.insert_one(
                        {"_id": key, "tenant": tenant, "name": name, "createdAt": now, "createdBy": by, **change}
                    )
                    return True
                except DuplicateKeyError:
                    pass  # created meanwhile by another request: this one replaces it
            await self._credentials.update_one({"_id": key}, {"$set": change})
        return False

    async def get(self, tenant: str, name: str) -> Credential | None:
        with translated_errors("for provider credentials"):
            document = await self._credentials.find_one({"_id": _key(tenant, name)}, _PUBLIC)
        return _record(document) if document else None

    async def list(self, tenant: str) -> list[Credential]:
        with translated_errors("for provider credentials"):
            cursor = self._credentials.find({"tenant": tenant}, _PUBLIC).sort("name", ASCENDING)
            return [_record(document) async for document in cursor]

    async def delete(self, tenant: str, name: str) -> Credential | None:
        """Delete the tenant's credential; what it was (None if there was none)."""
        with translated_errors("for provider credentials"):
            document = await self._credentials.find_one({"_id": _key(tenant, name)}, _PUBLIC)
            if document is None or (await self._credentials.delete_one({"_id": document["_id"]})).deleted_count != 1:
                return None
        return _record(document)

    async def resolve(self, tenant: str, name: str, base_url: str) -> str:
        """The secret of the tenant's credential `name`, to be sent to `base_url`; CredentialRefused
        (naming the credential and the URL, never the secret) when the tenant has no such
        credential or it is not bound to that URL."""
        with translated_errors("for provider credentials"):
            document = await self._credentials.find_one({"_id": _key(tenant, name)})
        if document is None:
            raise CredentialRefused(f"credential {name!r}: tenant {tenant!r} has no credential of that name")
        credential = _record(document)
        if not credential.covers(base_url):
            raise CredentialRefused(f"credential {name!r} may only be sent to {', '.join(credential.urls)}, not to {base_url}")
        secret, current = self.require_key().decrypt(document["ciphertext"], name=name)
        if not current:  # rotation: under the first key from now on, unless an admin replaced it meanwhile
            with translated_errors("for provider credentials"):
                await self._credentials.update_one(
                    {"_id": document["_id"], "ciphertext": document["ciphertext"]},
                    {"$set": {"ciphertext": self.require_key().encrypt(secret)}},
                )
        return secret


def _key(tenant: str, name: str) -> str:
    return json.dumps([tenant, name])


def _record(document: dict[str, Any]) -> Credential:
    return Credential(
        tenant=document["tenant"],
        name=document["name"],
        urls=tuple(document["urls"]),
        created_at=document["createdAt"],
        created_by=document["createdBy"],
        updated_at=document["updatedAt"],
        updated_by=document["updatedBy"],
    )
