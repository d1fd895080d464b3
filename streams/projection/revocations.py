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

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import names
from schemas.envelope import Envelope
from schemas.events import SessionRevoked, TokenRevoked, UserRevoked
from streams.operations import (
    Operation,
    PgInsertIgnore,
    RedisHashKeepEarliest,
    RedisHashSetIfHigher,
)
from streams.record import Record

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def millis(moment: datetime) -> int:
    """Exact epoch milliseconds (integer arithmetic: float timestamps can round 0.123 to 122)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def expiry_seconds(moment: datetime) -> int:
    # Rounded up: the entry must not lapse a fraction of a second before the credential does.
    return math.ceil((moment - _EPOCH) / timedelta(seconds=1))


def reduce_session(record: Record) -> list[Operation]:
    event = record.envelope
    payload: SessionRevoked = event.payload
    return [
        PgInsertIgnore(
            names.TABLE_REVOCATIONS, _row(event, "session", payload.session_id, _audit_of(event))
        ),
        RedisHashKeepEarliest(
            names.redis_revoked_session_key(payload.session_id),
            _audit(event, _audit_of(event)),
            compare_field="event_id",
            expire_at=expiry_seconds(payload.affects_until),
        ),
    ]


def reduce_token(record: Record) -> list[Operation]:
    event = record.envelope
    payload: TokenRevoked = event.payload
    return [
        PgInsertIgnore(
            names.TABLE_REVOCATIONS, _row(event, "token", payload.jti, _audit_of(event))
        ),
        RedisHashKeepEarliest(
            names.redis_revoked_token_key(payload.jti),
            _audit(event, _audit_of(event)),
            compare_field="event_id",
            expire_at=expiry_seconds(payload.affects_until),
        ),
    ]


def reduce_user(record: Record) -> list[Operation]:
    event = record.envelope
    payload: UserRevoked = event.payload
    audit = Audit(payload.reason, payload.revoked_by, payload.affects_until)
    return user_not_before(event, payload.not_before, audit)


@dataclass(frozen=True, slots=True)
class Audit:
    reason: str
    revoked_by: str
    affects_until: datetime


def user_not_before(event: Envelope, not_before: datetime, audit: Audit) -> list[Operation]:
    """Revoke every session and token of ``event.user_id`` issued before ``not_before``: a
    revocations_v1 row and the greatest-wins ``rev:v1:user`` hash. Account events (password
    change, disable) call this too, so there is one not-before rule for every cause."""
    key = names.redis_user_not_before_key(event.user_id)
    fields = {"not_before_ms": str(millis(not_before)), **_audit(event, audit)}
    row = _row(event, "user", event.user_id, audit) | {"not_before": not_before}
    latest = {
        names.USER_REVOCATION_ORDER_FIELD: descending(event.event_id),
        names.USER_REVOCATION_LATEST_FIELD: event.event_id,
    }
    expire_at = expiry_seconds(audit.affects_until)
    return [
        PgInsertIgnore(names.TABLE_REVOCATIONS, row),
        RedisHashSetIfHigher(
            key, fields, compare_field="not_before_ms", tie_field="event_id", expire_at=expire_at
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


def _audit(event: Envelope, audit: Audit) -> dict[str, str]:
    return {
        "event_id": event.event_id,
        "reason": audit.reason,
        "revoked_by": audit.revoked_by,
        "origin_region": event.origin_region,
        "revoked_at_ms": str(millis(event.occurred_at)),
    }


def _row(event: Envelope, kind: str, subject: str, audit: Audit) -> dict[str, Any]:
    payload = event.payload
    # Every kind writes the same columns, so one batch is one INSERT statement.
    return {
        "event_id": event.event_id,
        "kind": kind,
        "subject": subject,
        "user_id": event.user_id,
        "session_id": getattr(payload, "session_id", None),
        "not_before": None,
        "reason": audit.reason,
        "revoked_by": audit.revoked_by,
        "origin_region": event.origin_region,
        "revoked_at": event.occurred_at,
        "affects_until": audit.affects_until,
    }
