"""session.revoked, token.revoked, user.revoked -> revocations_v1 and the ``rev:v1:*`` hashes.

Revocation always wins, whatever the delivery order: the ``rev:v1:*`` keys stand on their own
(they never depend on the session or user being projected yet), so a revocation that arrives
before its session still revokes it. Every event is one durable row (its event id makes a
redelivery a no-op); in Redis the earliest revocation of a session or token is the one kept for
display, and for a user the greatest ``not_before`` and, separately, the greatest event id
win. Each entry expires when the longest-lived credential any of its revocations could affect
expires (``affects_until``), never earlier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas import names
from schemas.envelope import Envelope
from schemas.epoch import epoch_ms, epoch_s_ceil
from schemas.events import SessionRevoked, TokenRevoked, UserRevoked
from streams.operations import (
    Operation,
    PgInsertIgnore,
    RedisHashKeepEarliest,
    RedisHashSetIfHigher,
)
from streams.record import Record

KIND_SESSION, KIND_TOKEN, KIND_USER = "session", "token", "user"
"""``revocations_v1.kind``: what ``subject`` names (a session id, a jti, a user id)."""


@dataclass(frozen=True, slots=True)
class Audit:
    """Why and by whom, and until when (the longest-lived credential it could affect)."""

    reason: str
    revoked_by: str
    affects_until: datetime


def reduce_session(record: Record) -> list[Operation]:
    event = record.envelope
    payload: SessionRevoked = event.payload
    key = names.redis_revoked_session_key(payload.session_id)
    return revoke(event, KIND_SESSION, payload.session_id, key, _audit_of(event))


def reduce_token(record: Record) -> list[Operation]:
    event = record.envelope
    payload: TokenRevoked = event.payload
    key = names.redis_revoked_token_key(payload.jti)
    return revoke(event, KIND_TOKEN, payload.jti, key, _audit_of(event))


def reduce_user(record: Record) -> list[Operation]:
    event = record.envelope
    payload: UserRevoked = event.payload
    audit = Audit(payload.reason, payload.revoked_by, payload.affects_until)
    return user_not_before(event, payload.not_before, audit)


def revoke(event: Envelope, kind: str, subject: str, key: str, audit: Audit) -> list[Operation]:
    """Revoke one session or token: its revocations_v1 row and its ``rev:v1:*`` hash ``key``,
    where the earliest event id is kept and the expiry only moves later (``affects_until``)."""
    return [
        PgInsertIgnore(names.TABLE_REVOCATIONS, revocation_row(event, kind, subject, audit)),
        RedisHashKeepEarliest(
            key,
            audit_fields(event, audit),
            compare_field="event_id",
            expire_at=epoch_s_ceil(audit.affects_until),
        ),
    ]


def user_not_before(event: Envelope, not_before: datetime, audit: Audit) -> list[Operation]:
    """Revoke every session and token of ``event.user_id`` issued before ``not_before``: a
    revocations_v1 row and the greatest-wins ``rev:v1:user`` hash. Account events (password
    change, disable) call this too, so there is one not-before rule for every cause."""
    key = names.redis_user_not_before_key(event.user_id)
    not_before_ms = names.REVOCATION_NOT_BEFORE_FIELD
    fields = {not_before_ms: str(epoch_ms(not_before)), **audit_fields(event, audit)}
    row = revocation_row(event, KIND_USER, event.user_id, audit) | {"not_before": not_before}
    latest = {
        names.USER_REVOCATION_ORDER_FIELD: descending(event.event_id),
        names.USER_REVOCATION_LATEST_FIELD: event.event_id,
    }
    expire_at = epoch_s_ceil(audit.affects_until)
    return [
        PgInsertIgnore(names.TABLE_REVOCATIONS, row),
        RedisHashSetIfHigher(
            key, fields, compare_field=not_before_ms, tie_field="event_id", expire_at=expire_at
        ),
        # The greatest revocation id is what sessions are compared with (services.verifier.rule):
        # keeping the smallest complemented id keeps the greatest id, with the same expiry rule.
        RedisHashKeepEarliest(
            key, latest, compare_field=names.USER_REVOCATION_ORDER_FIELD, expire_at=expire_at
        ),
    ]


_COMPLEMENT = str.maketrans("0123456789abcdef", "fedcba9876543210")


def descending(event_id: str) -> str:
    """The id with every hex digit complemented: string order reversed, same length."""
    return event_id.translate(_COMPLEMENT)


def _audit_of(event: Envelope) -> Audit:
    payload = event.payload
    return Audit(payload.reason, payload.revoked_by, payload.affects_until)


def audit_fields(event: Envelope, audit: Audit) -> dict[str, str]:
    """The audit fields of a ``rev:v1:*`` hash (``revoked_at_ms``: epoch ms of the event)."""
    return {
        "event_id": event.event_id,
        "reason": audit.reason,
        "revoked_by": audit.revoked_by,
        "origin_region": event.origin_region,
        "revoked_at_ms": str(epoch_ms(event.occurred_at)),
    }


def revocation_row(event: Envelope, kind: str, subject: str, audit: Audit) -> dict[str, Any]:
    """The revocations_v1 row of ``event`` (keyed by its event id), the only place it is built:
    the refresh rotation's reuse row is this row too (``PgRefreshSpend.revocation``)."""
    # Every kind writes the same columns, so one batch is one INSERT statement.
    return {
        "event_id": event.event_id,
        "kind": kind,
        "subject": subject,
        "user_id": event.user_id,
        "session_id": getattr(event.payload, "session_id", None),
        "not_before": None,
        "reason": audit.reason,
        "revoked_by": audit.revoked_by,
        "origin_region": event.origin_region,
        "revoked_at": event.occurred_at,
        "affects_until": audit.affects_until,
    }
