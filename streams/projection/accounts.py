"""user.password_changed, user.password_rehashed, user.disabled, user.enabled, user.unlocked ->
user_accounts_v1 and ``acct:v1:{uid}``.

Each kind of change owns a group of columns (password; re-hash; disabled status; unlock time)
and the latest event of that kind (greatest time-ordered event id) wins its group, whatever the
delivery order, however often. A password change and a disable also revoke every session and
token of the user issued before them, through the same not-before rule as ``user.revoked``.
"""

from __future__ import annotations

from datetime import timedelta

from schemas import names
from schemas.envelope import Envelope
from schemas.epoch import epoch_ms
from schemas.events import PasswordChanged, PasswordRehashed, UserDisabled
from schemas.settings import MAX_SESSION_TTL_S
from streams.operations import (
    Operation,
    PgFailuresDropBefore,
    PgUpsertMax,
    RedisHashSetIfGreater,
    RedisWindowReset,
)
from streams.projection.revocations import Audit, user_not_before
from streams.record import Record

REASON_PASSWORD_CHANGED = "password_changed"  # noqa: S105 (an audit reason)
REASON_DISABLED = "user_disabled"


def reduce_password(record: Record) -> list[Operation]:
    event = record.envelope
    payload: PasswordChanged = event.payload
    row = {
        "user_id": event.user_id,
        "password_hash": payload.password_hash,
        "password_event_id": event.event_id,
        "password_changed_at": event.occurred_at,
    }
    cached = {
        "password_hash": payload.password_hash,
        "password_event_id": event.event_id,
        "password_changed_ms": str(epoch_ms(event.occurred_at)),
    }
    return [
        *_latest(row, cached, "password_event_id"),
        *_revoke_earlier(event, REASON_PASSWORD_CHANGED, payload.changed_by),
    ]


def reduce_rehashed(record: Record) -> list[Operation]:
    """Its own group (the latest re-hash wins), kept apart from the password group: readers use
    it only while ``rehash_of_event_id`` names the event that set the current password, so the
    result is the same in every delivery order and a re-hash never undoes a change. No
    revocation: the password is the same."""
    event = record.envelope
    payload: PasswordRehashed = event.payload
    fields = {
        "rehash_event_id": event.event_id,
        "rehash_of_event_id": payload.replaces_event_id,
        "rehashed_password_hash": payload.password_hash,
    }
    return _latest({"user_id": event.user_id, **fields}, fields, "rehash_event_id")


def reduce_disabled(record: Record) -> list[Operation]:
    event = record.envelope
    payload: UserDisabled = event.payload
    return [
        *_status(event, disabled=True, reason=payload.reason),
        *_revoke_earlier(event, REASON_DISABLED, payload.changed_by),
    ]


def reduce_enabled(record: Record) -> list[Operation]:
    # Enabling does not bring back what the disable revoked: sessions start again by logging in.
    return _status(record.envelope, disabled=False, reason="")


def reduce_unlocked(record: Record) -> list[Operation]:
    event, at = record.envelope, record.position
    # Every earlier failure in the log stops counting, whatever its date (streams.operations).
    drops: list[Operation] = [
        PgFailuresDropBefore(event.user_id, at.topic, at.partition, at.offset),
        RedisWindowReset(names.redis_login_failures_user_key(event.user_id)),
    ]
    cached = {
        names.UNLOCKED_AT_FIELD: str(epoch_ms(event.occurred_at)),
        names.UNLOCK_EVENT_FIELD: event.event_id,
    }
    row = {
        "user_id": event.user_id,
        "unlocked_at": event.occurred_at,
        "unlock_event_id": event.event_id,
    }
    return [*_latest(row, cached, names.UNLOCK_EVENT_FIELD), *drops]


def _status(event: Envelope, *, disabled: bool, reason: str) -> list[Operation]:
    row = {
        "user_id": event.user_id,
        "disabled": disabled,
        "status_event_id": event.event_id,
        "status_reason": reason,
    }
    cached = {
        names.ACCOUNT_DISABLED_FIELD: "1" if disabled else "0",
        "status_event_id": event.event_id,
        "status_reason": reason,
    }
    return _latest(row, cached, "status_event_id")


def _latest(row: dict[str, object], cached: dict[str, str], compare: str) -> list[Operation]:
    user_id = str(row["user_id"])
    return [
        PgUpsertMax(names.TABLE_USER_ACCOUNTS, row, key="user_id", compare=compare),
        RedisHashSetIfGreater(names.redis_account_key(user_id), cached, compare_field=compare),
    ]


def _revoke_earlier(event: Envelope, reason: str, changed_by: str) -> list[Operation]:
    # The not-before must outlive every session issued before it; sessions live at most
    # MAX_SESSION_TTL_S (enforced by Settings), which the projector can rely on without settings.
    affects_until = event.occurred_at + timedelta(seconds=MAX_SESSION_TTL_S)
    return user_not_before(event, event.occurred_at, Audit(reason, changed_by, affects_until))
