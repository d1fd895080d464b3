"""One session as this region's read model knows it (Redis, then Postgres when Redis errors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, tables
from schemas.epoch import from_epoch_s
from services.core.readmodel import hgetall, read_with_fallback


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    user_id: str
    client_id: str
    refresh_token_hash: str
    expires_at: datetime


class Sessions:
    """Finds sessions in this region's projections."""

    def __init__(self, redis: Redis, engine: AsyncEngine) -> None:
        self._redis = redis
        self._engine = engine

    async def find(self, session_id: str) -> SessionRecord | None:
        """The session, or None if this region has not (yet) projected it. Raises
        ``StoreUnavailable`` when neither store answers."""
        return await read_with_fallback(
            lambda: self._from_redis(session_id),
            lambda: self._from_postgres(session_id),
        )

    async def _from_redis(self, session_id: str) -> SessionRecord | None:
        return _from_hash(
            session_id, await hgetall(self._redis, names.redis_session_key(session_id))
        )

    async def _from_postgres(self, session_id: str) -> SessionRecord | None:
        t = tables.sessions
        query = select(t.c.user_id, t.c.client_id, t.c.refresh_token_hash, t.c.expires_at).where(
            t.c.session_id == session_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return SessionRecord(
            session_id, row.user_id, row.client_id, row.refresh_token_hash, row.expires_at
        )


def _from_hash(session_id: str, fields: dict[str, str]) -> SessionRecord | None:
    try:
        return SessionRecord(
            session_id,
            fields["user_id"],
            fields.get("client_id", ""),
            fields[names.SESSION_REFRESH_HASH_FIELD],
            from_epoch_s(int(fields[names.SESSION_EXPIRES_FIELD])),
        )
    except (KeyError, ValueError):
        return None  # absent, or only partly projected: not known yet
