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

from schemas import names
from schemas.envelope import Envelope, event_time_ms
from schemas.epoch import epoch_ms, epoch_s_ceil
from schemas.events import RefreshTokenReused, SessionStarted, TokenRefreshed
from schemas.settings import MAX_SESSION_TTL_S
from streams.operations import (
    Operation,
    PgRefreshSpend,
    PgUpsertMin,
    RedisRefreshSpend,
)
from streams.projection.revocations import KIND_SESSION, Audit, audit_fields, revocation_row, revoke
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
        names.SESSION_LAST_ACTIVE_FIELD: str(epoch_ms(event.occurred_at)),
        names.redis_session_spent_field(payload.spent_refresh_hash): event.event_id,
        issued: event.event_id,
    }
    # Event ids are UUIDv7; an id that is not (tests, hand-made events) falls back to the event's
    # own time, still a value the event carries, so every region computes the same.
    event_ms = event_time_ms(event.event_id) or epoch_ms(event.occurred_at)
    grace_ms = max(0, payload.reuse_grace_ms)
    reuse = Audit(REUSE_REASON, REUSE_REVOKED_BY, fallback_until)
    return [
        PgRefreshSpend(
            spent_hash=payload.spent_refresh_hash,
            new_hash=payload.new_refresh_hash,
            session_id=payload.session_id,
            user_id=_user(event),
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            revocation=revocation_row(event, KIND_SESSION, payload.session_id, reuse),
            event_ms=event_ms,
            grace_ms=grace_ms,
        ),
        RedisRefreshSpend(
            session_key=names.redis_session_key(payload.session_id),
            revoked_key=names.redis_revoked_session_key(payload.session_id),
            spent_field=names.redis_session_spent_field(payload.spent_refresh_hash),
            event_id=event.event_id,
            rotation=rotation,
            audit=audit_fields(event, reuse),
            fallback_until=epoch_s_ceil(fallback_until),
            issued_field=issued,
            event_ms=event_ms,
            grace_ms=grace_ms,
        ),
    ]


def reduce_reused(record: Record) -> list[Operation]:
    event = record.envelope
    payload: RefreshTokenReused = event.payload
    _user(event)  # a reuse without a user is dead-lettered, as in reduce_refreshed
    key = names.redis_revoked_session_key(payload.session_id)
    audit = Audit(REUSE_REASON, REUSE_REVOKED_BY, payload.affects_until)
    return revoke(event, KIND_SESSION, payload.session_id, key, audit)


def _user(event: Envelope) -> str:
    if event.user_id is None:
        raise ValueError(f"{event.type} without a user id")  # dead-lettered by the projector
    return event.user_id
