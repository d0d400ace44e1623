"""The roles an API key may have, in rising order: each may do all that the roles before it may.
Kept apart from the key store so the CLI offers exactly these without loading pymongo."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["ROLES", "Role", "may"]

Role = Literal["reader", "submitter", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)


def may(role: Role, needed: Role) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)
