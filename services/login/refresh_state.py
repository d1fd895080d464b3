"""What the refresh grant needs to know about one session, from this region's projections.

Redis: one HMGET of ``sess:v1:{sid}`` (the session, its current and previous refresh hash, last
activity, and who spent the presented hash). Postgres (when Redis errors): the same answers from
sessions_v1 and refresh_tokens_v1.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from redis.asyncio import Redis
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, tables
from services.core.readmodel import POSTGRES_ERRORS, REDIS_ERRORS, StoreUnavailable

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SESSION_FIELDS = (
    "user_id",
    "client_id",
    "started_at",
    "expires_at",
    names.SESSION_REFRESH_HASH_FIELD,
    names.SESSION_PREVIOUS_HASH_FIELD,
    names.SESSION_LAST_ACTIVE_FIELD,
    names.SESSION_REVOCATION_SEEN_FIELD,
)


@dataclass(frozen=True, slots=True)
class RefreshState:
    user_id: str
    client_id: str
    started_at_ms: int
    expires_at_ms: int
    current_hash: str
    previous_hash: str
    """The hash whose exchange issued the current one ("" before the first rotation)."""
    last_active_ms: int
    """The start, or the latest rotation: when the previous hash was spent."""
    presented_spent_by: str | None
    """The event that spent the presented hash, if this session ever spent it."""
    presented_live: bool = False
    """The presented hash was issued to this session (its start, a rotation or a grace-window
    sibling) and is not spent yet."""
    revocation_seen: str = ""
    """SessionStarted.user_revocation_seen ("" for sessions logged before it existed)."""


def millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


async def load_state(
    redis: Redis, engine: AsyncEngine, session_id: str, presented: str
) -> RefreshState | None:
    """The session's refresh state, or None if this region has not projected the session yet."""
    fields = [
        *_SESSION_FIELDS,
        names.redis_session_spent_field(presented),
        names.redis_session_issued_field(presented),
    ]
    key = names.redis_session_key(session_id)
    try:
        values = await cast(Awaitable[list[Any]], redis.hmget(key, fields))
    except REDIS_ERRORS:
        return await _from_postgres(engine, session_id, presented)
    return _from_redis([_text(v) for v in values], presented)


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _from_redis(values: list[str | None], presented: str) -> RefreshState | None:
    user_id, client_id, started, expires, current, previous, active, seen, spent_by, issued = values
    if user_id is None or started is None or expires is None or current is None:
        return None  # absent, or only partly projected: not known yet
    started_ms = int(started) * 1000  # whole seconds, like an access token's iat
    is_current = hmac.compare_digest(presented.encode(), current.encode())
    return RefreshState(
        user_id=user_id,
        client_id=client_id or "",
        started_at_ms=started_ms,
        expires_at_ms=int(expires) * 1000,
        current_hash=current,
        previous_hash=previous or "",
        last_active_ms=int(active) if active else started_ms,
        presented_spent_by=spent_by,
        revocation_seen=seen or "",
        presented_live=spent_by is None and (is_current or issued is not None),
    )


async def _from_postgres(
    engine: AsyncEngine, session_id: str, presented: str
) -> RefreshState | None:
    s, r = tables.sessions, tables.refresh_tokens
    session_query = select(
        s.c.user_id,
        s.c.client_id,
        s.c.started_at,
        s.c.expires_at,
        s.c.refresh_token_hash,
        s.c.user_revocation_seen,
    ).where(s.c.session_id == session_id)
    token_query = select(
        r.c.refresh_hash, r.c.issued_by_event_id, r.c.issued_at, r.c.spent_by_event_id
    ).where(
        r.c.session_id == session_id,
        or_(
            r.c.spent_by_event_id.is_(None),
            r.c.refresh_hash == presented,
            r.c.spent_by_event_id.in_(
                select(r.c.issued_by_event_id).where(
                    r.c.session_id == session_id, r.c.spent_by_event_id.is_(None)
                )
            ),
        ),
    )
    try:
        async with engine.connect() as conn:
            session = (await conn.execute(session_query)).first()
            rows = (await conn.execute(token_query)).all() if session is not None else []
    except POSTGRES_ERRORS as exc:
        raise StoreUnavailable("neither redis nor postgres answered") from exc
    if session is None:
        return None
    return _state_from_rows(session, rows, presented)


def _state_from_rows(session: Any, rows: Sequence[Any], presented: str) -> RefreshState:
    started_ms = millis(session.started_at) // 1000 * 1000  # whole seconds, as in Redis
    unspent = sorted((r for r in rows if r.spent_by_event_id is None), key=lambda r: r.issued_at)
    current = unspent[-1] if unspent else None
    previous = [r for r in rows if current and r.spent_by_event_id == current.issued_by_event_id]
    mine = [r for r in rows if r.refresh_hash == presented]
    spent_by = [r.spent_by_event_id for r in mine]
    return RefreshState(
        user_id=session.user_id,
        client_id=session.client_id,
        started_at_ms=started_ms,
        expires_at_ms=millis(session.expires_at),
        current_hash=current.refresh_hash if current else session.refresh_token_hash,
        previous_hash=previous[0].refresh_hash if previous else "",
        last_active_ms=millis(current.issued_at) if current else started_ms,
        presented_spent_by=next((str(e) for e in spent_by if e is not None), None),
        revocation_seen=session.user_revocation_seen or "",
        presented_live=bool(mine) and all(e is None for e in spent_by),
    )
