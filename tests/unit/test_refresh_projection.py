"""The refresh projection: reducer output, and the log-order rule under redelivery and batching.

The projector runs for real (decode -> reduce -> batch) against in-memory stores implementing
the operations' documented semantics (tests/unit/refresh_model.py); the integration tests check
the SQL statement and the Lua script against the same rule.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import names
from streams.operations import (
    PgInsertIgnore,
    PgRefreshSpend,
    PgUpsertMin,
    RedisHashKeepEarliest,
    RedisRefreshSpend,
)
from streams.projection import reduce
from streams.projection.refresh import REUSE_REASON
from streams.projector import Projector
from streams.record import LogPosition, RawEvent, Record
from tests.memory_store import MemoryStore
from tests.unit.refresh_model import Reference, refreshed, reused, started
from tests.unit.test_projection_properties import MemoryDeadLetters
from tests.unit.test_reducers import ALICE

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SID = "s-1"


def test_a_start_records_the_first_token_as_issued_and_unspent() -> None:
    record = started(SID, NOW, "h0")
    row = next(
        op for op in reduce(record) if getattr(op, "table", "") == names.TABLE_REFRESH_TOKENS
    )
    assert row == PgUpsertMin(
        names.TABLE_REFRESH_TOKENS,
        {
            "refresh_hash": "h0",
            "session_id": SID,
            "user_id": ALICE,
            "issued_by_event_id": record.envelope.event_id,
            "issued_at": NOW,
        },
        key="refresh_hash",
        compare="issued_by_event_id",
    )


def test_a_refresh_spends_in_both_stores_and_carries_the_rotation() -> None:
    record = refreshed(SID, "h0", "h1", NOW, region="us")
    archive, pg, rd = reduce(record)
    assert isinstance(archive, PgInsertIgnore)
    assert isinstance(pg, PgRefreshSpend)
    assert (pg.spent_hash, pg.new_hash, pg.session_id, pg.user_id) == ("h0", "h1", SID, ALICE)
    assert pg.revocation["reason"] == REUSE_REASON
    assert pg.revocation["origin_region"] == "us"
    assert isinstance(rd, RedisRefreshSpend)
    assert rd.session_key == names.redis_session_key(SID)
    assert rd.revoked_key == names.redis_revoked_session_key(SID)
    assert rd.rotation == {
        names.SESSION_REFRESH_HASH_FIELD: "h1",
        names.SESSION_PREVIOUS_HASH_FIELD: "h0",
        names.SESSION_LAST_ACTIVE_FIELD: str(int(NOW.timestamp() * 1000)),
        names.redis_session_spent_field("h0"): record.envelope.event_id,
        names.redis_session_issued_field("h1"): record.envelope.event_id,
    }


def test_a_reported_reuse_revokes_the_session_like_a_session_revocation() -> None:
    record = reused(SID, "h0", NOW)
    _, row, entry = reduce(record)
    assert isinstance(row, PgInsertIgnore)
    assert row.table == names.TABLE_REVOCATIONS
    assert (row.row["kind"], row.row["subject"], row.row["reason"]) == (
        "session",
        SID,
        REUSE_REASON,
    )
    assert isinstance(entry, RedisHashKeepEarliest)
    assert entry.key == names.redis_revoked_session_key(SID)
    assert entry.expire_at == int((NOW + timedelta(days=30)).timestamp())


def _log(records: list[Record]) -> list[RawEvent]:
    return [
        RawEvent(LogPosition(r.position.topic, 0, offset), None, r.body)
        for offset, r in enumerate(records)
    ]


async def _project(batches: list[list[RawEvent]]) -> Any:
    stores = MemoryStore(NOW.timestamp())
    projector = Projector(stores, MemoryDeadLetters())
    for batch in batches:
        await projector.apply(batch)
    return stores


def _revoked(stores: Any) -> bool:
    in_redis = names.redis_revoked_session_key(SID) in stores.hashes
    rows = stores.rows.get(names.TABLE_REVOCATIONS, [])
    assert in_redis == bool(rows), "Redis and Postgres disagree"
    return in_redis


def _session(stores: Any) -> dict[str, str]:
    session: dict[str, str] = stores.hashes[names.redis_session_key(SID)]
    return session


def test_rotations_chain_and_the_latest_token_is_current() -> None:
    log = [started(SID, NOW, "h0")] + [
        refreshed(SID, f"h{i}", f"h{i + 1}", NOW + timedelta(seconds=i + 1)) for i in range(3)
    ]
    stores = asyncio.run(_project([_log(log)]))
    assert not _revoked(stores)
    assert _session(stores)[names.SESSION_REFRESH_HASH_FIELD] == "h3"
    assert _session(stores)[names.SESSION_PREVIOUS_HASH_FIELD] == "h2"
    spent = {
        r["refresh_hash"]: r.get("spent_by_event_id") for r in stores.rows["refresh_tokens_v1"]
    }
    assert spent == {
        "h0": log[1].envelope.event_id,
        "h1": log[2].envelope.event_id,
        "h2": log[3].envelope.event_id,
        "h3": None,
    }


def test_two_exchanges_of_one_token_revoke_the_session_in_either_order() -> None:
    eu = refreshed(SID, "h0", "h-eu", NOW + timedelta(seconds=1), region="eu")
    us = refreshed(SID, "h0", "h-us", NOW + timedelta(seconds=1), region="us")
    for first, second in ((eu, us), (us, eu)):
        for batches in ([[first, second]], [[first], [second]]):
            log = [started(SID, NOW, "h0")]
            stores = asyncio.run(_project([_log(log + b) for b in batches]))
            assert _revoked(stores)
            # The first in log order rotated; the second was the reuse that revoked.
            new_hash = first.envelope.payload.new_refresh_hash
            assert _session(stores)[names.SESSION_REFRESH_HASH_FIELD] == new_hash
            entry = stores.hashes[names.redis_revoked_session_key(SID)]
            assert entry["event_id"] == second.envelope.event_id
            assert entry["reason"] == REUSE_REASON


def _live(stores: Any) -> set[str]:
    rows = stores.rows["refresh_tokens_v1"]
    in_pg = {r["refresh_hash"] for r in rows if r.get("spent_by_event_id") is None}
    session = _session(stores)
    issued = {f.removeprefix("issued:") for f in session if f.startswith("issued:")}
    spent = {f.removeprefix("spent:") for f in session if f.startswith("spent:")}
    in_redis = (issued | {session[names.SESSION_REFRESH_HASH_FIELD]}) - spent
    assert in_redis == in_pg, "Redis and Postgres disagree"
    return in_pg


def test_two_exchanges_within_the_grace_window_leave_both_new_tokens_valid() -> None:
    eu = refreshed(SID, "h0", "h-eu", NOW + timedelta(seconds=1), region="eu", grace_ms=60_000)
    us = refreshed(SID, "h0", "h-us", NOW + timedelta(seconds=2), region="us", grace_ms=60_000)
    for first, second in ((eu, us), (us, eu)):
        for batches in ([[first, second]], [[first], [second]], [[first, second, first]]):
            log = [started(SID, NOW, "h0")]
            stores = asyncio.run(_project([_log(log + b) for b in batches]))
            assert not _revoked(stores)
            assert _live(stores) == {"h-eu", "h-us"}


def test_an_exchange_after_the_grace_window_of_the_first_is_reuse() -> None:
    first = refreshed(SID, "h0", "h1", NOW + timedelta(seconds=1), grace_ms=60_000)
    late = refreshed(SID, "h0", "h-late", NOW + timedelta(seconds=62), grace_ms=60_000)
    stores = asyncio.run(_project([_log([started(SID, NOW, "h0"), first, late])]))
    assert _revoked(stores)


# -- properties ----------------------------------------------------------------------------------


@st.composite
def refresh_logs(draw: st.DrawFn) -> tuple[list[Record], list[Record]]:
    """A session's events-topic log (start, then refreshes each spending some issued token, mostly
    the current one) and a revocations-topic log of reported reuses."""
    log = [started(SID, NOW, "h0")]
    issued = ["h0"]
    grace_ms = draw(st.sampled_from([0, 1500, 60_000]))
    for i in range(draw(st.integers(0, 6))):
        current = draw(st.booleans()) or draw(st.booleans())
        spent = issued[-1] if current else draw(st.sampled_from(issued))
        at = NOW + timedelta(seconds=i + 1)
        region = draw(st.sampled_from(["eu", "us"]))
        log.append(refreshed(SID, spent, f"h{i + 1}", at, region, grace_ms))
        issued.append(f"h{i + 1}")
    reports = [reused(SID, "h0", NOW + timedelta(seconds=9))] if draw(st.booleans()) else []
    return log, reports


@st.composite
def at_least_once(draw: st.DrawFn, log: list[RawEvent]) -> list[RawEvent]:
    """In order, but every restart resumes from some earlier committed offset (redelivery)."""
    delivered: list[RawEvent] = []
    done = 0
    while done < len(log):
        resume = draw(st.integers(0, done))
        done = draw(st.integers(done + 1, len(log)))
        delivered += log[resume:done]
    return delivered


@st.composite
def deliveries(draw: st.DrawFn, events: list[RawEvent], revocations: list[RawEvent]) -> Any:
    """Each topic at least once in its own order, interleaved anyhow, cut into batches."""
    a, b = draw(at_least_once(events)), draw(at_least_once(revocations))
    slots = draw(st.permutations([0] * len(a) + [1] * len(b)))
    sources = [iter(a), iter(b)]
    merged = [next(sources[slot]) for slot in slots]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(merged) - 1)), max_size=4)))
    bounds = [0, *cuts, len(merged)]
    return [merged[x:y] for x, y in itertools.pairwise(bounds) if x < y]


def _topic_log(records: list[Record], topic: str) -> list[RawEvent]:
    return [RawEvent(LogPosition(topic, 0, i), None, r.body) for i, r in enumerate(records)]


@settings(max_examples=200, deadline=None)
@given(refresh_logs(), st.data())
def test_redelivery_batching_and_interleaving_give_the_log_order_outcome(
    logs: tuple[list[Record], list[Record]], data: st.DataObject
) -> None:
    events, reports = logs
    reference = Reference(current="h0")
    for record in events[1:]:
        reference.apply(record)
    event_log = _topic_log(events, names.TOPIC_EVENTS)
    report_log = _topic_log(reports, names.TOPIC_REVOCATIONS)
    once = asyncio.run(_project([event_log + report_log]))
    again = asyncio.run(_project(data.draw(deliveries(event_log, report_log))))
    assert again.state() == once.state()
    assert _revoked(once) == (reference.reused or bool(reports))
    assert _session(once)[names.SESSION_REFRESH_HASH_FIELD] == reference.current
    assert reference.siblings - reference.spent_by.keys() <= _live(once)
    spent = {
        r["refresh_hash"]: r.get("spent_by_event_id")
        for r in once.rows["refresh_tokens_v1"]
        if r.get("spent_by_event_id") is not None
    }
    assert spent == reference.spent_by
