"""SCRATCH (issue 12): the contract's ``ClientRecord``/``ClientRegistry`` shape until
``services.core.clients`` (h12-clients) is merged; then this module is deleted."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

CLIENT_SECRET_HASH_PREFIX = "sha256:"  # noqa: S105 (a prefix, not a secret)


@dataclass(frozen=True, slots=True)
class ClientRecord:
    client_id: str
    name: str
    client_type: str
    token_endpoint_auth_method: str
    grant_types: frozenset[str]
    scopes: frozenset[str]
    default_scopes: tuple[str, ...]
    audiences: frozenset[str]
    default_audience: str
    can_introspect: bool
    secret_hash: str
    jwks: Mapping[str, Any] = field(default_factory=dict)
    disabled: bool = False


class ClientRegistry:
    """In-memory stand-in with the contract's ``get`` (``records`` filled by tests)."""

    records: ClassVar[dict[str, ClientRecord]] = {}

    def __init__(self, redis: Any, engine: Any) -> None:
        self._records = self.records

    async def get(self, client_id: str) -> ClientRecord | None:
        return self._records.get(client_id)


def hash_client_secret(secret: str) -> str:
    return CLIENT_SECRET_HASH_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


def client_secret_matches(stored: str, presented: str) -> bool:
    if not stored.startswith(CLIENT_SECRET_HASH_PREFIX):
        return False
    candidate = hash_client_secret(presented)
    return hmac.compare_digest(candidate.encode("ascii"), stored.encode("ascii", "replace"))
