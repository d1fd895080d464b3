"""Read-side queries against a region's projections: Redis first, Postgres when Redis errors.

A Redis *miss* is an answer (the user is unknown) when Redis is healthy; only a Redis *error*
sends the query to Postgres, so a cold or flushed Redis is never silently papered over.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import Select, Text, or_, select, true
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, tables
from schemas.postgres_client import make_engine as make_engine
from schemas.redis_client import as_text
from schemas.redis_client import make_redis as make_redis
from schemas.settings import CLOCK_SKEW_S

log = logging.getLogger(__name__)
REDIS_ERRORS = (RedisError, OSError, TimeoutError)
POSTGRES_ERRORS = (SQLAlchemyError, OSError, TimeoutError)
T = TypeVar("T")


class StoreUnavailable(RuntimeError):
    """Neither Redis nor Postgres could answer; the caller must fail closed."""


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    username: str
    password_hash: str


@dataclass(frozen=True)
class PublishedKey:
    kid: str
    region: str
    alg: str
    public_jwk: dict[str, str]
    published_at: str
    issuer: str = ""  # the publishing region's token issuer; "" if published by older code


@dataclass(frozen=True)
class SessionRow:
    session_id: str
    user_id: str
    client_id: str
    origin_region: str
    started_at: datetime
    expires_at: datetime
    # The first revocation that covers the session (its own, or a user-wide one issued after it
    # started); all empty while it is not revoked.
    revoked_at: datetime | None = None
    revoke_reason: str = ""
    revoked_by: str = ""
    revoke_region: str = ""

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


async def read_with_fallback(
    from_redis: Callable[[], Awaitable[T]],
    from_postgres: Callable[[], Awaitable[T]],
    warning: str | None = None,
) -> T:
    """``from_redis()``; when Redis errors (``REDIS_ERRORS``), ``from_postgres()`` instead, logging
    ``warning`` first if given. Raises ``StoreUnavailable`` when Postgres errors too
    (``POSTGRES_ERRORS``): the caller fails closed. A Redis miss is an answer, never a fallback."""
    try:
        return await from_redis()
    except REDIS_ERRORS as exc:
        if warning is not None:
            log.warning(warning, extra={"err": repr(exc)})
    try:
        return await from_postgres()
    except POSTGRES_ERRORS as exc:
        raise StoreUnavailable("neither redis nor postgres answered") from exc


def optional_text(value: bytes | str | int | float | None) -> str | None:
    """A Redis reply value as text (UTF-8 decoded), None kept as None."""
    return None if value is None else as_text(value)


text = as_text
"""A Redis reply value as text; "" for a missing (None) value (``schemas.redis_client.as_text``)."""


async def hgetall(redis: Redis, key: str) -> dict[str, str]:
    """All fields of the hash ``key`` as text ({} when absent)."""
    # redis-py types its commands as sync-or-async; on the asyncio client they are awaitables.
    raw = await cast(Awaitable[dict[Any, Any]], redis.hgetall(key))
    return {text(k): text(v) for k, v in raw.items()}


class ReadModel:
    def __init__(self, redis: Redis, engine: AsyncEngine) -> None:
        self._redis = redis
        self._engine = engine

    async def user(self, user_id: str) -> UserRecord | None:
        """The registered user, or None if unknown. Raises ``StoreUnavailable``."""
        return await read_with_fallback(
            lambda: self._user_from_redis(user_id),
            lambda: self._user_from_postgres(user_id),
            "redis unavailable, reading user from postgres",
        )

    async def _user_from_redis(self, user_id: str) -> UserRecord | None:
        return _user_from_hash(user_id, await hgetall(self._redis, names.redis_user_key(user_id)))

    async def _user_from_postgres(self, user_id: str) -> UserRecord | None:
        query = select(tables.users.c.username, tables.users.c.password_hash).where(
            tables.users.c.user_id == user_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else UserRecord(user_id, row.username, row.password_hash)

    async def signing_keys(self) -> list[PublishedKey]:
        """Every published signing key this region has projected. Raises ``StoreUnavailable``."""
        return await read_with_fallback(
            self._keys_from_redis,
            self._keys_from_postgres,
            "redis unavailable, reading keys from postgres",
        )

    async def _keys_from_redis(self) -> list[PublishedKey]:
        fields = await hgetall(self._redis, names.redis_signing_keys_key())
        return [k for k in (_key_from_json(v) for v in fields.values()) if k is not None]

    async def _keys_from_postgres(self) -> list[PublishedKey]:
        t = tables.signing_keys
        query = select(t.c.kid, t.c.region, t.c.alg, t.c.public_jwk, t.c.published_at, t.c.issuer)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            PublishedKey(
                r.kid,
                r.region,
                r.alg,
                dict(r.public_jwk),
                r.published_at.isoformat(),
                r.issuer or "",
            )
            for r in rows
        ]


def _user_from_hash(user_id: str, fields: dict[str, str]) -> UserRecord | None:
    if not fields:
        return None
    if "password_hash" not in fields:
        log.warning("user projection lacks password_hash", extra={"user_id": user_id})
        return None
    return UserRecord(user_id, fields.get("username", ""), fields["password_hash"])


def _key_from_json(raw: Any) -> PublishedKey | None:
    try:
        doc = orjson.loads(raw)
        return PublishedKey(
            kid=str(doc["kid"]),
            region=str(doc["region"]),
            alg=str(doc["alg"]),
            public_jwk={str(k): str(v) for k, v in doc["public_jwk"].items()},
            published_at=str(doc.get("published_at", "")),
            issuer=str(doc.get("issuer") or ""),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        log.warning("skipping a malformed signing key record in redis")
        return None


async def list_sessions(engine: AsyncEngine, user_id: str) -> list[SessionRow]:
    t = tables.sessions
    own, user_wide = _covering_revocation("session"), _covering_revocation("user")
    query = (
        select(t.c.session_id, t.c.user_id, t.c.client_id, t.c.origin_region)
        .add_columns(t.c.started_at, t.c.expires_at)
        .add_columns(*own.c, *user_wide.c)
        .select_from(t.outerjoin(own, true()).outerjoin(user_wide, true()))
        .where(t.c.user_id == user_id)
        .order_by(t.c.started_at)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [_session_row(tuple(row)) for row in rows]


def _covering_revocation(kind: str) -> Any:
    """The earliest revocation event of ``kind`` that covers the session row (LATERAL)."""
    s, r = tables.sessions, tables.revocations.alias(f"{kind}_rev")
    if kind == "session":
        covers = (r.c.kind == "session") & (r.c.subject == s.c.session_id)
    else:  # a user-wide revocation covers the session by services.verifier.rule
        covers = (r.c.kind == "user") & (r.c.user_id == s.c.user_id)
        covers &= or_(
            r.c.event_id.cast(Text) > s.c.user_revocation_seen,
            s.c.user_revocation_seen.is_(None)
            & (r.c.not_before + timedelta(seconds=CLOCK_SKEW_S) > s.c.started_at),
        )
    query: Select[Any] = (
        select(r.c.event_id, r.c.revoked_at, r.c.reason, r.c.revoked_by, r.c.origin_region)
        .where(covers)
        .order_by(r.c.event_id)
        .limit(1)
    )
    return query.lateral(f"{kind}_rev_first")


def _session_row(row: tuple[Any, ...]) -> SessionRow:
    session, own, user_wide = row[:6], row[6:11], row[11:16]
    found = [rev for rev in (own, user_wide) if rev[0] is not None]
    base = SessionRow(*session)
    if not found:
        return base
    _, revoked_at, reason, revoked_by, region = min(found, key=lambda rev: str(rev[0]))
    return replace(
        base,
        revoked_at=revoked_at,
        revoke_reason=reason,
        revoked_by=revoked_by,
        revoke_region=region,
    )
