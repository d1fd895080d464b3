"""The OAuth client registry's read side (issue 12): who a calling client is, in this region.

Reads the projection of the ``client.*`` events (``streams.projection.clients``): the hash
``client:v1:{client_id}`` in Redis, else (Redis erroring) the ``oauth_clients_v1`` row, else
``StoreUnavailable`` so the caller fails closed (RFC 6749 §5.2 ``invalid_client`` is for a
client that is *known* to be wrong, never for a store that did not answer). As for users, a
Redis miss is an answer: the client is unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, tables
from services.core.readmodel import hgetall, read_with_fallback

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A registered client's configuration as this region projected it.

    Terms are RFC 7591 §2 / RFC 6749: ``client_type`` is ``"confidential"`` or ``"public"``;
    ``token_endpoint_auth_method`` one of ``client_secret_basic``, ``client_secret_post``,
    ``private_key_jwt``, ``none``; ``audiences`` are RFC 8707 ``resource`` values;
    ``secret_hash`` is ``"sha256:<hex>"`` or ``""`` (check it with
    ``schemas.client_secrets.client_secret_matches``); ``jwks`` an RFC 7517 JWK Set (``{}`` if
    none). ``disabled`` clients must be refused as ``invalid_client``.
    """

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
    jwks: Mapping[str, Any]
    disabled: bool


class ClientRegistry:
    """Looks clients up in one region's stores (Redis first, Postgres when Redis errors)."""

    def __init__(self, redis: Redis, engine: AsyncEngine) -> None:
        self._redis = redis
        self._engine = engine

    async def get(self, client_id: str) -> ClientRecord | None:
        """The client, or None if this region has not applied its ``client.registered`` (unknown
        client). Redis, else Postgres (``read_with_fallback``); raises ``StoreUnavailable`` when
        neither answers (fail closed)."""
        return await read_with_fallback(
            lambda: self._from_redis(client_id),
            lambda: self._from_postgres(client_id),
            "redis unavailable, reading client from postgres",
        )

    async def _from_redis(self, client_id: str) -> ClientRecord | None:
        fields = await hgetall(self._redis, names.redis_client_key(client_id))
        return record_from_fields(client_id, fields)

    async def _from_postgres(self, client_id: str) -> ClientRecord | None:
        t = tables.oauth_clients
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.client_id == client_id))).first()
        return (
            None if row is None else record_from_row({str(k): v for k, v in row._mapping.items()})
        )


def record_from_fields(client_id: str, fields: Mapping[str, str]) -> ClientRecord | None:
    """A ``client:v1:{id}`` hash (all values text) as a record; None while the registration is
    not applied or the configuration is unreadable (logged, the client is then unknown)."""
    if not fields.get("registration_event_id"):
        return None
    row: dict[str, Any] = dict(fields)
    row["can_introspect"] = fields.get("can_introspect") == "1"
    row["disabled"] = fields.get("disabled") == "1"
    return record_from_row(row)


def record_from_row(row: Mapping[str, Any]) -> ClientRecord | None:
    """An ``oauth_clients_v1`` row (lists and JWK Set as JSON text) as a record; None while the
    registration is not applied or the row is unreadable."""
    if not row.get("registration_event_id") or row.get("config_order") is None:
        return None
    try:
        return ClientRecord(
            client_id=str(row["client_id"]),
            name=str(row["name"]),
            client_type=str(row["client_type"]),
            token_endpoint_auth_method=str(row["token_endpoint_auth_method"]),
            grant_types=frozenset(_strings(row["grant_types"])),
            scopes=frozenset(_strings(row["scopes"])),
            default_scopes=_strings(row["default_scopes"]),
            audiences=frozenset(_strings(row["audiences"])),
            default_audience=str(row["default_audience"]),
            can_introspect=bool(row["can_introspect"]),
            secret_hash=str(row.get("secret_hash") or ""),
            jwks=_object(row["jwks"]),
            disabled=bool(row.get("disabled") or False),
        )
    except (KeyError, TypeError, ValueError):
        log.warning("client projection is unreadable", extra={"client_id": row.get("client_id")})
        return None


def _strings(raw: Any) -> tuple[str, ...]:
    value = orjson.loads(raw)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("not a JSON array of strings")
    return tuple(value)


def _object(raw: Any) -> dict[str, Any]:
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value
