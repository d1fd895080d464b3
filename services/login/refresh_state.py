"""What the refresh grant needs to know about one session, from this region's projections.

Redis: one script (services.login.lua.REFRESH_STATE_LUA) reads ``sess:v1:{sid}`` (the session, its
current and previous refresh hash, last activity, and who spent the presented hash) and the
user's disabled flag in one round trip. Postgres (when Redis errors): the same session answers
from sessions_v1 and refresh_tokens_v1; the flag is then left to the account store.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, tables
from schemas.envelope import event_time_ms
from schemas.epoch import epoch_ms, epoch_s
from services.core.readmodel import StoreUnavailable, optional_text, read_with_fallback
from services.login.errors import Unavailable
from services.login.lua import REFRESH_STATE_LUA

_SESSION_FIELDS = (
    "user_id",
    "client_id",
    "started_at",
    names.SESSION_EXPIRES_FIELD,
    names.SESSION_REFRESH_HASH_FIELD,
    names.SESSION_PREVIOUS_HASH_FIELD,
    names.SESSION_LAST_ACTIVE_FIELD,
    names.SESSION_REVOCATION_SEEN_FIELD,
    names.SESSION_SCOPE_FIELD,
    names.SESSION_AUDIENCE_FIELD,
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
    scope: str = ""
    """SessionStarted.scope: what the session was granted ("" for none, or logged before)."""
    audience: str = ""
    """SessionStarted.audience ("" for sessions logged before it existed)."""
    user_disabled: bool | None = None
    """Whether the user is disabled, read with the session (Redis); None when the state came
    from Postgres: the caller asks the account store (services.login.account)."""


class RefreshStates:
    """Reads one session's refresh state from this region's projections (Redis, then Postgres
    when Redis errors)."""

    def __init__(self, redis: Redis, engine: AsyncEngine) -> None:
        self._redis = redis
        self._engine = engine
        self._read = redis.register_script(REFRESH_STATE_LUA)
        self._account_prefix = names.redis_account_key("")

    async def load(self, session_id: str, presented: str) -> RefreshState | None:
        """The session's refresh state for the ``presented`` hash, or None if this region has not
        projected the session yet. Raises ``StoreUnavailable`` when neither store answers."""
        return await read_with_fallback(
            lambda: self._from_redis(session_id, presented),
            lambda: _from_postgres(self._engine, session_id, presented),
        )

    async def known(
        self, session_id: str, presented: str, now_ms: int, max_age_s: float
    ) -> RefreshState | None:
        """The state, or None for a session that was never issued (unknown here and too old to
        be on its way, see ``may_be_in_flight``). Raises ``Unavailable`` (503) when no store
        answers, or when the session is unknown here but may still arrive."""
        try:
            state = await self.load(session_id, presented)
        except StoreUnavailable:
            raise Unavailable("session store unreachable, try again") from None
        if state is None and may_be_in_flight(session_id, now_ms, max_age_s):
            raise Unavailable("session not known in this region yet, try again")
        return state

    async def _from_redis(self, session_id: str, presented: str) -> RefreshState | None:
        fields = [
            *_SESSION_FIELDS,
            names.redis_session_spent_field(presented),
            names.redis_session_issued_field(presented),
        ]
        key = names.redis_session_key(session_id)
        args = [self._account_prefix, names.ACCOUNT_DISABLED_FIELD, *fields]
        values = await self._read(keys=[key], args=args)
        return _from_redis([optional_text(v) for v in values], presented)


def may_be_in_flight(session_id: str, now_ms: int, max_age_s: float) -> bool:
    """Whether a session this region does not know may still be on its way here: its id (a
    UUIDv7, RFC 9562) was made no more than ``max_age_s`` ago (nor more than that ahead, for a
    fast issuing clock). Any other id was never issued by a session start of this version."""
    created_ms = event_time_ms(session_id)
    return created_ms is not None and abs(now_ms - created_ms) <= max_age_s * 1000


def _from_redis(values: list[str | None], presented: str) -> RefreshState | None:
    user_id, client_id, started, expires, current, previous, active, seen, scope, audience = values[
        :10
    ]
    spent_by, issued, disabled = values[10:]
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
        scope=scope or "",
        audience=audience or "",
        user_disabled=disabled == "1",
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
        s.c.scope,
        s.c.audience,
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
    async with engine.connect() as conn:
        session = (await conn.execute(session_query)).first()
        rows = (await conn.execute(token_query)).all() if session is not None else []
    if session is None:
        return None
    return _state_from_rows(session, rows, presented)


def _state_from_rows(session: Any, rows: Sequence[Any], presented: str) -> RefreshState:
    started_ms = epoch_s(session.started_at) * 1000  # whole seconds, as in Redis
    unspent = sorted((r for r in rows if r.spent_by_event_id is None), key=lambda r: r.issued_at)
    current = unspent[-1] if unspent else None
    previous = [r for r in rows if current and r.spent_by_event_id == current.issued_by_event_id]
    mine = [r for r in rows if r.refresh_hash == presented]
    spent_by = [r.spent_by_event_id for r in mine]
    return RefreshState(
        user_id=session.user_id,
        client_id=session.client_id,
        started_at_ms=started_ms,
        expires_at_ms=epoch_ms(session.expires_at),
        current_hash=current.refresh_hash if current else session.refresh_token_hash,
        previous_hash=previous[0].refresh_hash if previous else "",
        last_active_ms=epoch_ms(current.issued_at) if current else started_ms,
        presented_spent_by=next((str(e) for e in spent_by if e is not None), None),
        revocation_seen=session.user_revocation_seen or "",
        presented_live=bool(mine) and all(e is None for e in spent_by),
        scope=session.scope or "",
        audience=session.audience or "",
    )
