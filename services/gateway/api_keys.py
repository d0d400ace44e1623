"""API keys: who may call the gateway, as which role, for which tenant.

A key is `bk_<id>_<secret>`: 256 random bits, shown once when created. The store keeps only its
SHA-256 and the public id. A fast hash is right for a random key (slow hashes guard guessable
passwords; nobody guesses 256 bits), and it keeps a request's check to one lookup by id.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.roles import ROLES, Role, may
from shared.errors import InvalidInput
from shared.events import TENANT_PATTERN
from shared.mongo import translated_errors

__all__ = ["Role", "ROLES", "ApiKey", "KeyStore", "may"]

_KEY = re.compile(r"^bk_(?P<id>[0-9a-f]{12})_[A-Za-z0-9_-]{43}$")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    tenant: str
    role: Role
    name: str
    """Who or what holds it (a person, `ci-deploys`): recorded as `requestedBy` and in the audit trail."""
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.name} ({self.key_id})"

    def to_json(self) -> dict[str, Any]:
        """What an admin may see of a key: never its secret nor its hash."""
        return {
            "keyId": self.key_id,
            "tenant": self.tenant,
            "role": self.role,
            "name": self.name,
            "createdAt": self.created_at.isoformat(),
            "createdBy": self.created_by,
            "revokedAt": self.revoked_at.isoformat() if self.revoked_at else None,
            "revokedBy": self.revoked_by,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """A presented key checked: the key, or why it is refused."""

    key: ApiKey | None
    refusal: str | None = None


class KeyStore:
    """The `api_keys` collection: one document per key, `_id` its public id."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._keys = database["api_keys"]

    async def ensure_indexes(self) -> None:
        with translated_errors():
            await self._keys.create_index([("tenant", ASCENDING), ("createdAt", ASCENDING)], name="by_tenant")

    async def create(self, *, tenant: str, role: Role, name: str, created_by: str, now: datetime) -> tuple[ApiKey, str]:
        """A new key: its record and the key itself, which is never stored nor shown again."""
        if not re.fullmatch(TENANT_PATTERN, tenant):
            raise InvalidInput(f"tenant {tenant!r}: 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit")
        key_id = secrets.token_hex(6)
        secret = f"bk_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id=key_id, tenant=tenant, role=role, name=name, created_at=now, created_by=created_by)
        with translated_errors():
            await self._keys.insert_one(
                {
                    "_id": key_id,
                    "tenant": tenant,
                    "role": role,
                    "name": name,
                    "sha256": _digest(secret),
                    "createdAt": now,
                    "createdBy": created_by,
                    "revokedAt": None,
                    "revokedBy": None,
                }
            )
        return record, secret

    async def verify(self, presented: str) -> Verdict:
        match = _KEY.match(presented)
        if match is None:
            return Verdict(None, "the API key is malformed (keys look like bk_<12 hex>_<43 characters>)")
        with translated_errors():
            document = await self._keys.find_one({"_id": match["id"]})
        if document is None or not hmac.compare_digest(document["sha256"], _digest(presented)):
            return Verdict(None, "unknown API key")
        key = _record(document)
        if key.revoked_at is not None:
            return Verdict(None, f"API key {key.key_id} was revoked at {key.revoked_at.isoformat()}")
        return Verdict(key)

    async def list(self, tenant: str) -> list[ApiKey]:
        with translated_errors():
            return [_record(d) async for d in self._keys.find({"tenant": tenant}).sort("createdAt", ASCENDING)]

    async def revoke(self, tenant: str, key_id: str, *, by: str, now: datetime) -> ApiKey | None:
        """Revoke one of the tenant's keys (at once, for every gateway); None if it has no such key.
        Revoking a revoked key keeps the first revocation."""
        with translated_errors():
            await self._keys.update_one(
                {"_id": key_id, "tenant": tenant, "revokedAt": None}, {"$set": {"revokedAt": now, "revokedBy": by}}
            )
            document = await self._keys.find_one({"_id": key_id, "tenant": tenant})
        return _record(document) if document else None


def _record(document: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=document["_id"],
        tenant=document["tenant"],
        role=document["role"],
        name=document["name"],
        created_at=document["createdAt"],
        created_by=document["createdBy"],
        revoked_at=document.get("revokedAt"),
        revoked_by=document.get("revokedBy"),
    )
