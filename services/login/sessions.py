"""One session as this region's read model knows it (Redis, then Postgres when Redis errors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, tables
from services.core.readmodel import POSTGRES_ERRORS, REDIS_ERRORS, StoreUnavailable, hgetall


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    user_id: str
    client_id: str
    refresh_token_hash: str
    expires_at: datetime


async def find_session(redis: Redis, engine: AsyncEngine, session_id: str) -> SessionRecord | None:
    """The session, or None if this region has not (yet) projected it."""
    try:
        fields = await hgetall(redis, names.redis_session_key(session_id))
    except REDIS_ERRORS:
        return await _from_postgres(engine, session_id)
    return _from_hash(session_id, fields)


def _from_hash(session_id: str, fields: dict[str, str]) -> SessionRecord | None:
    try:
        expires_at = datetime.fromtimestamp(int(fields["expires_at"]), UTC)
        return SessionRecord(
            session_id,
            fields["user_id"],
            fields.get("client_id", ""),
            fields["refresh_token_hash"],
            expires_at,
        )
    except (KeyError, ValueError):
        return None  # absent, or only partly projected: not known yet


async def _from_postgres(engine: AsyncEngine, session_id: str) -> SessionRecord | None:
    t = tables.sessions
    query = select(t.c.user_id, t.c.client_id, t.c.refresh_token_hash, t.c.expires_at).where(
        t.c.session_id == session_id
    )
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(query)).first()
    except POSTGRES_ERRORS as exc:
        raise StoreUnavailable("neither redis nor postgres answered") from exc
    if row is None:
        return None
    return SessionRecord(
        session_id, row.user_id, row.client_id, row.refresh_token_hash, row.expires_at
    )
