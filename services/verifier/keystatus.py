"""Which published signing keys are still usable: published minus retired minus revoked.

The status sets only grow (a key never comes back), so reading them after the published keys is
safe in any order. Redis first; Postgres when Redis errors; neither -> StoreUnavailable (the
keyring then keeps its cached set, and revoked keys are refused by the revocation check anyway).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, tables
from schemas.redis_client import as_text
from services.core.readmodel import (
    POSTGRES_ERRORS,
    REDIS_ERRORS,
    PublishedKey,
    ReadModel,
    StoreUnavailable,
)


@dataclass(frozen=True)
class KeyStatus:
    key: PublishedKey
    retired: bool
    revoked: bool

    @property
    def active(self) -> bool:
        return not (self.retired or self.revoked)


@dataclass(frozen=True)
class KeyStates:
    """The published keys and the retired / revoked kids (which need not be published here)."""

    published: list[PublishedKey]
    retired: set[str]
    revoked: set[str]

    def statuses(self) -> list[KeyStatus]:
        return [KeyStatus(k, k.kid in self.retired, k.kid in self.revoked) for k in self.published]


async def key_states(redis: Redis, engine: AsyncEngine) -> KeyStates:
    published = await ReadModel(redis, engine).signing_keys()
    retired, revoked = await _status_sets(redis, engine)
    return KeyStates(published, retired, revoked)


async def key_statuses(redis: Redis, engine: AsyncEngine) -> list[KeyStatus]:
    return (await key_states(redis, engine)).statuses()


def active_keys_loader(redis: Redis, engine: AsyncEngine) -> Callable[[], Awaitable[list[Any]]]:
    async def load() -> list[PublishedKey]:
        return [s.key for s in await key_statuses(redis, engine) if s.active]

    return load


async def _status_sets(redis: Redis, engine: AsyncEngine) -> tuple[set[str], set[str]]:
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.hkeys(names.redis_retired_signing_keys_key())
        pipe.hkeys(names.redis_revoked_signing_keys_key())
        retired, revoked = cast(list[list[bytes | str]], await pipe.execute())
    except REDIS_ERRORS:
        return await _status_from_postgres(engine)
    return {as_text(k) for k in retired}, {as_text(k) for k in revoked}


async def _status_from_postgres(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    t = tables.signing_key_status
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(t.c.kid, t.c.retired_at, t.c.revoked_at))).all()
    except POSTGRES_ERRORS as exc:
        raise StoreUnavailable("neither redis nor postgres answered") from exc
    retired = {r.kid for r in rows if r.retired_at is not None}
    return retired, {r.kid for r in rows if r.revoked_at is not None}
