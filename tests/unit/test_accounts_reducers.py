"""Account, signing-key status and login-failure projections: the latest account change wins
and failures count once, under any delivery order, duplication and batching.

The projector runs for real against the in-memory store (tests/memory_store.py), which the
executor contract suite checks against the real executors.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import names
from schemas.envelope import Payload, new_event_id
from schemas.epoch import epoch_ms
from schemas.events import (
    LockoutLifted,
    LoginFailed,
    PasswordChanged,
    SigningKeyRetired,
    SigningKeyRevoked,
    UserDisabled,
    UserEnabled,
)
from schemas.identity import user_id_for
from schemas.settings import MAX_SESSION_TTL_S
from streams.operations import RedisWindowAdd
from streams.projection import reduce
from streams.projector import Projector
from streams.record import Record
from tests.memory_store import MemoryStore
from tests.unit.test_projection_properties import (
    MemoryDeadLetters,
    _as_log,
    deliveries,
)
from tests.unit.test_reducers import make_record

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
USER = user_id_for("alice")


async def _project(batches: list[Any]) -> MemoryStore:
    stores = MemoryStore(NOW.timestamp())
    projector = Projector(stores, MemoryDeadLetters())
    for batch in batches:
        await projector.apply(batch)
    return stores


def _at(seconds: int) -> datetime:
    return NOW - timedelta(minutes=30) + timedelta(seconds=seconds)


@st.composite
def account_events(draw: st.DrawFn) -> Record:
    at = _at(draw(st.integers(0, 1200)))
    # Distinct ids even within one millisecond; their order is the event order.
    event_id = new_event_id(epoch_ms(at))
    choices: list[Payload] = [
        PasswordChanged(password_hash=f"hash-{event_id}", changed_by="user"),
        UserDisabled(reason="left", changed_by="operator:ops"),
        UserEnabled(changed_by="operator:ops"),
        LockoutLifted(unlocked_by="operator:ops"),
    ]
    payload = draw(st.sampled_from(choices))
    return make_record(payload, user_id=USER, at=at, event_id=event_id)


@settings(max_examples=150, deadline=None)
@given(st.lists(account_events(), min_size=1, max_size=12), st.data())
def test_the_latest_change_of_each_kind_wins_in_any_order(
    records: list[Record], data: st.DataObject
) -> None:
    log = _as_log(records, [])
    in_order = asyncio.run(_project([log]))
    shuffled = asyncio.run(_project(data.draw(deliveries(log))))
    assert shuffled.state() == in_order.state()

    account = shuffled.hashes.get(names.redis_account_key(USER), {})
    row = next(iter(shuffled.rows.get(names.TABLE_USER_ACCOUNTS, [])), {})
    passwords = _latest(records, PasswordChanged)
    if passwords is not None:
        assert account["password_hash"] == passwords.envelope.payload.password_hash
        assert row["password_hash"] == passwords.envelope.payload.password_hash
    statuses = _latest(records, UserDisabled, UserEnabled)
    if statuses is not None:
        disabled = isinstance(statuses.envelope.payload, UserDisabled)
        assert account["disabled"] == ("1" if disabled else "0")
        assert row["disabled"] is disabled
    unlocks = _latest(records, LockoutLifted)
    if unlocks is not None:
        assert account["unlocked_at_ms"] == str(epoch_ms(unlocks.envelope.occurred_at))


@settings(max_examples=100, deadline=None)
@given(st.lists(account_events(), min_size=1, max_size=12))
def test_password_changes_and_disables_revoke_what_was_issued_before_the_latest(
    records: list[Record],
) -> None:
    stores = asyncio.run(_project([_as_log(list(reversed(records)), [])]))
    causes = [r for r in records if isinstance(r.envelope.payload, PasswordChanged | UserDisabled)]
    not_before = stores.hashes.get(names.redis_user_not_before_key(USER))
    if not causes:
        assert not_before is None
        return
    assert not_before is not None
    assert int(not_before["not_before_ms"]) == max(epoch_ms(r.envelope.occurred_at) for r in causes)
    latest = max(r.envelope.occurred_at for r in causes)
    assert (
        stores.expiry[names.redis_user_not_before_key(USER)]
        >= (latest + timedelta(seconds=MAX_SESSION_TTL_S)).timestamp()
    )
    rows = stores.rows[names.TABLE_REVOCATIONS]
    assert {row["reason"] for row in rows} <= {"password_changed", "user_disabled"}
    assert len(rows) == len(causes)


def test_enabling_does_not_bring_back_revoked_sessions() -> None:
    disabled = make_record(UserDisabled(reason="", changed_by="op"), user_id=USER, at=_at(10))
    enabled = make_record(UserEnabled(changed_by="op"), user_id=USER, at=_at(20))
    stores = asyncio.run(_project([_as_log([disabled, enabled], [])]))
    assert stores.hashes[names.redis_account_key(USER)]["disabled"] == "0"
    not_before = stores.hashes[names.redis_user_not_before_key(USER)]["not_before_ms"]
    assert int(not_before) == epoch_ms(_at(10))


def _latest(records: list[Record], *kinds: type) -> Record | None:
    matching = [r for r in records if isinstance(r.envelope.payload, kinds)]
    return max(matching, key=lambda r: r.envelope.event_id, default=None)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3000), st.sampled_from(["1.2.3.4", "5.6.7.8", ""]))),
    st.data(),
)
def test_each_failure_counts_once_per_user_and_ip_whatever_the_delivery(
    failures: list[tuple[int, str]], data: st.DataObject
) -> None:
    records = [
        make_record(LoginFailed(client_ip=ip), user_id=USER, at=NOW - timedelta(seconds=ago))
        for ago, ip in failures
    ]
    log = _as_log(records, [])
    stores = asyncio.run(_project(data.draw(deliveries(log)) if log else []))
    user_window = stores.zsets.get(names.redis_login_failures_user_key(USER), {})
    assert len(user_window) == len(records)
    for ip in ("1.2.3.4", "5.6.7.8"):
        window = stores.zsets.get(names.redis_login_failures_ip_key(ip), {})
        assert len(window) == sum(1 for _, i in failures if i == ip)
    assert len(stores.rows.get(names.TABLE_LOGIN_FAILURES, [])) == len(records)


def test_a_failure_older_than_the_retention_is_kept_in_postgres_only() -> None:
    old = make_record(LoginFailed(client_ip="1.2.3.4"), user_id=USER, at=NOW - timedelta(days=2))
    ops = reduce(old)
    stores = asyncio.run(_project([_as_log([old], [])]))
    assert any(isinstance(op, RedisWindowAdd) for op in ops)
    assert names.redis_login_failures_user_key(USER) not in stores.zsets
    assert len(stores.rows[names.TABLE_LOGIN_FAILURES]) == 1


def test_retired_and_revoked_keys_are_recorded_in_any_order() -> None:
    retired = make_record(SigningKeyRetired(kid="k1", region="eu"), user_id=None, at=_at(5))
    revoked = make_record(
        SigningKeyRevoked(kid="k1", reason="leaked", revoked_by="operator:ops"),
        user_id=None,
        at=_at(9),
        topic=names.TOPIC_REVOCATIONS,
    )
    for order in ([retired, revoked], [revoked, retired, revoked]):
        stores = asyncio.run(_project([_as_log(order, [])]))
        (row,) = stores.rows[names.TABLE_SIGNING_KEY_STATUS]
        assert row["retired_at"] == _at(5)
        assert row["revoked_at"] == _at(9)
        assert row["revoke_reason"] == "leaked"
        assert stores.hashes[names.redis_retired_signing_keys_key()] == {"k1": "retired"}
        assert stores.hashes[names.redis_revoked_signing_keys_key()] == {"k1": "revoked"}
        audit = stores.hashes[names.redis_revoked_signing_key_key("k1")]
        assert audit["reason"] == "leaked"
        assert names.redis_revoked_signing_key_key("k1") not in stores.expiry
