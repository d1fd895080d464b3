"""Revocation reducers: one durable row per event and a self-standing ``rev:v1:*`` entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import names
from schemas.envelope import Payload, new_event_id
from schemas.epoch import epoch_ms, epoch_s_ceil
from schemas.events import SessionRevoked, TokenRevoked, UserRevoked
from schemas.names import NO_USER_REVOCATION
from streams.operations import PgInsertIgnore, RedisHashKeepEarliest, RedisHashSetIfHigher
from streams.projection import reduce
from streams.projection.revocations import descending
from streams.record import Record
from tests.unit.test_reducers import ALICE, T0, make_record

UNTIL = T0 + timedelta(days=30, microseconds=250_000)
NOT_BEFORE = T0 + timedelta(milliseconds=123)


def session_revoked(sid: str = "s-1", until: datetime = UNTIL) -> SessionRevoked:
    return SessionRevoked(
        session_id=sid, reason="lost laptop", revoked_by="ops", affects_until=until
    )


def token_revoked(jti: str = "jti-1", until: datetime = UNTIL) -> TokenRevoked:
    return TokenRevoked(
        jti=jti, session_id="s-1", reason="leaked", revoked_by="app", affects_until=until
    )


def user_revoked(not_before: datetime = NOT_BEFORE, until: datetime = UNTIL) -> UserRevoked:
    return UserRevoked(not_before=not_before, reason="pwned", revoked_by="ops", affects_until=until)


CASES: list[tuple[Payload, str, str, str, dict[str, Any]]] = [
    (session_revoked(), "session", "s-1", names.redis_revoked_session_key("s-1"),
     {"session_id": "s-1", "not_before": None, "reason": "lost laptop", "revoked_by": "ops"}),
    (token_revoked(), "token", "jti-1", names.redis_revoked_token_key("jti-1"),
     {"session_id": "s-1", "not_before": None, "reason": "leaked", "revoked_by": "app"}),
    (user_revoked(), "user", ALICE, names.redis_user_not_before_key(ALICE),
     {"session_id": None, "not_before": NOT_BEFORE, "reason": "pwned", "revoked_by": "ops"}),
]  # fmt: skip


@pytest.mark.parametrize(("payload", "kind", "subject", "key", "columns"), CASES)
def test_each_revocation_is_archived_recorded_and_cached(
    payload: Payload, kind: str, subject: str, key: str, columns: dict[str, Any]
) -> None:
    record = make_record(payload, region="us", at=T0)
    event_id = record.envelope.event_id
    archive, row, cached, *_greatest_id = reduce(record)
    assert isinstance(archive, PgInsertIgnore)
    assert archive.table == names.TABLE_EVENT_ARCHIVE
    assert row == PgInsertIgnore(
        names.TABLE_REVOCATIONS,
        {
            "event_id": event_id,
            "kind": kind,
            "subject": subject,
            "user_id": ALICE,
            "origin_region": "us",
            "revoked_at": T0,
            "affects_until": UNTIL,
            **columns,
        },
    )
    assert isinstance(cached, RedisHashKeepEarliest | RedisHashSetIfHigher)
    assert cached.key == key
    assert {k: cached.mapping[k] for k in ("event_id", "origin_region", "revoked_at_ms")} == {
        "event_id": event_id,
        "origin_region": "us",
        "revoked_at_ms": str(epoch_ms(T0)),
    }
    assert cached.mapping["reason"] == columns["reason"]
    assert cached.mapping["revoked_by"] == columns["revoked_by"]
    # The entry lives until the credential could expire, rounded up, never down.
    assert cached.expire_at == int(UNTIL.timestamp()) + 1


def test_sessions_and_tokens_keep_the_earliest_event() -> None:
    for payload in (session_revoked(), token_revoked()):
        cached = reduce(make_record(payload))[-1]
        assert isinstance(cached, RedisHashKeepEarliest)
        assert cached.compare_field == "event_id"


def test_a_user_revocation_keeps_the_greatest_not_before_in_exact_milliseconds() -> None:
    cached = reduce(make_record(user_revoked()))[2]
    assert isinstance(cached, RedisHashSetIfHigher)
    assert (cached.compare_field, cached.tie_field) == ("not_before_ms", "event_id")
    assert cached.mapping["not_before_ms"] == str(int(T0.timestamp()) * 1000 + 123)


@pytest.mark.parametrize(
    ("moment", "ms"),
    [
        (datetime(2026, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC), 1767225600123),
        (datetime(2026, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC), 1767225600999),
        (datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), -500),
    ],
)
def test_milliseconds_are_exact(moment: datetime, ms: int) -> None:
    assert epoch_ms(moment) == ms


@pytest.mark.parametrize(
    ("moment", "seconds"),
    [
        (datetime(2026, 1, 1, tzinfo=UTC), 1767225600),
        (datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC), 1767225601),
    ],
)
def test_expiry_rounds_up_to_whole_seconds(moment: datetime, seconds: int) -> None:
    assert epoch_s_ceil(moment) == seconds


def test_a_user_revocation_keeps_the_greatest_event_id_whatever_the_order() -> None:
    """Sessions are compared with the greatest user-wide revocation id, so the entry must keep it
    however the events arrive (and live as long as the not-before does)."""
    ids = [new_event_id(ms) for ms in (1_000, 2_000, 3_000)]
    ops = [_greatest_id_op(make_record(user_revoked(), event_id=i)) for i in ids]
    for op, event_id in zip(ops, ids, strict=True):
        assert op.mapping[names.USER_REVOCATION_LATEST_FIELD] == event_id
        assert op.expire_at == int(UNTIL.timestamp()) + 1
    kept = min(ops, key=lambda op: op.mapping[op.compare_field])  # what KeepEarliest keeps
    assert kept.mapping[names.USER_REVOCATION_LATEST_FIELD] == max(ids)


@pytest.mark.parametrize("event_id", ["018f3a6e-2c40-7a1b-8c3d-4e5f60718293", NO_USER_REVOCATION])
def test_descending_ids_reverse_the_order(event_id: str) -> None:
    later = new_event_id()
    assert (descending(later) < descending(event_id)) == (later > event_id)
    assert len(descending(event_id)) == len(event_id)


def _greatest_id_op(record: Record) -> RedisHashKeepEarliest:
    op = reduce(record)[3]
    assert isinstance(op, RedisHashKeepEarliest)
    return op
