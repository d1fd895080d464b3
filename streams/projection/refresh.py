"""Refresh tokens: session.started, token.refreshed, refresh_token.reused -> refresh_tokens_v1,
the session hash's refresh fields, and (on reuse) the session's revocation.

Rotation is decided by log order (see streams.operations): the first token.refreshed that spends
a session's refresh token rotates the session (new current hash, last activity); a later one
within the event's grace window of the first issues a sibling token (``issued:{hash}``) that
stays valid; any other later one spending the same token is reuse and revokes the session
exactly like session.revoked would
(a revocations_v1 row with reason "refresh token reused", and ``rev:v1:sess:{sid}``). A
refresh_token.reused event (a region saw a spent token presented) revokes the same way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from schemas import names
from schemas.envelope import Envelope, event_time_ms
from schemas.events import RefreshTokenReused, SessionStarted, TokenRefreshed
from schemas.settings import MAX_SESSION_TTL_S
from streams.operations import (
    Operation,
    PgInsertIgnore,
    PgRefreshSpend,
    PgUpsertMin,
    RedisHashKeepEarliest,
    RedisRefreshSpend,
)
from streams.projection.revocations import expiry_seconds, millis
from streams.record import Record

REUSE_REASON = "refresh token reused"
REUSE_REVOKED_BY = "system:refresh-reuse"
UNKNOWN_EXPIRY_AFFECTS = timedelta(seconds=MAX_SESSION_TTL_S)
"""How long a reuse revocation is kept when the region does not know the session's expiry (the
payload has none): no session lives longer (Settings enforces it), so it cannot lapse too early."""


def reduce_started(record: Record) -> list[Operation]:
    """The session's first refresh token, so its later exchange finds an issued, unspent row.

    Like the session itself, the earliest start event of a session id wins; the spent columns
    are not in the row, so a start delivered again never un-spends the token."""
    event = record.envelope
    payload: SessionStarted = event.payload
    row = {
        "refresh_hash": payload.refresh_token_hash,
        "session_id": payload.session_id,
        "user_id": event.user_id,
        "issued_by_event_id": event.event_id,
        "issued_at": event.occurred_at,
    }
    return [
        PgUpsertMin(
            names.TABLE_REFRESH_TOKENS, row, key="refresh_hash", compare="issued_by_event_id"
        )
    ]


def reduce_refreshed(record: Record) -> list[Operation]:
    event = record.envelope
    payload: TokenRefreshed = event.payload
    fallback_until = event.occurred_at + UNKNOWN_EXPIRY_AFFECTS
    issued = names.redis_session_issued_field(payload.new_refresh_hash)
    rotation = {
        names.SESSION_REFRESH_HASH_FIELD: payload.new_refresh_hash,
        names.SESSION_PREVIOUS_HASH_FIELD: payload.spent_refresh_hash,
        names.SESSION_LAST_ACTIVE_FIELD: str(millis(event.occurred_at)),
        names.redis_session_spent_field(payload.spent_refresh_hash): event.event_id,
        issued: event.event_id,
    }
    # Event ids are UUIDv7; an id that is not (tests, hand-made events) falls back to the event's
    # own time, still a value the event carries, so every region computes the same.
    event_ms = event_time_ms(event.event_id) or millis(event.occurred_at)
    grace_ms = max(0, payload.reuse_grace_ms)
    return [
        PgRefreshSpend(
            spent_hash=payload.spent_refresh_hash,
            new_hash=payload.new_refresh_hash,
            session_id=payload.session_id,
            user_id=_user(event),
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            revocation=_revocation_row(event, payload.session_id, fallback_until),
            event_ms=event_ms,
            grace_ms=grace_ms,
        ),
        RedisRefreshSpend(
            session_key=names.redis_session_key(payload.session_id),
            revoked_key=names.redis_revoked_session_key(payload.session_id),
            spent_field=names.redis_session_spent_field(payload.spent_refresh_hash),
            event_id=event.event_id,
            rotation=rotation,
            audit=_audit(event),
            fallback_until=expiry_seconds(fallback_until),
            issued_field=issued,
            event_ms=event_ms,
            grace_ms=grace_ms,
        ),
    ]


def reduce_reused(record: Record) -> list[Operation]:
    event = record.envelope
    payload: RefreshTokenReused = event.payload
    return [
        PgInsertIgnore(
            names.TABLE_REVOCATIONS,
            _revocation_row(event, payload.session_id, payload.affects_until),
        ),
        RedisHashKeepEarliest(
            names.redis_revoked_session_key(payload.session_id),
            _audit(event),
            compare_field="event_id",
            expire_at=expiry_seconds(payload.affects_until),
        ),
    ]


def _user(event: Envelope) -> str:
    if event.user_id is None:
        raise ValueError(f"{event.type} without a user id")  # dead-lettered by the projector
    return event.user_id


def _audit(event: Envelope) -> dict[str, str]:
    return {
        "event_id": event.event_id,
        "reason": REUSE_REASON,
        "revoked_by": REUSE_REVOKED_BY,
        "origin_region": event.origin_region,
        "revoked_at_ms": str(millis(event.occurred_at)),
    }


def _revocation_row(event: Envelope, session_id: str, affects_until: Any) -> dict[str, Any]:
    # The same columns as every other revocation row (streams.projection.revocations).
    return {
        "event_id": event.event_id,
        "kind": "session",
        "subject": session_id,
        "user_id": _user(event),
        "session_id": session_id,
        "not_before": None,
        "reason": REUSE_REASON,
        "revoked_by": REUSE_REVOKED_BY,
        "origin_region": event.origin_region,
        "revoked_at": event.occurred_at,
        "affects_until": affects_until,
    }
