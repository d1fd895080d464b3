"""Order tolerance: any permutation, duplication and batching of a log gives the same state.

The projector runs for real (decode -> reduce -> batch) against the in-memory store
(tests/memory_store.py); the executor contract suite checks the Redis and Postgres executors
against the same semantics.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import names
from schemas.epoch import epoch_ms
from schemas.identity import user_id_for
from streams.deadletter import DeadLetter
from streams.projector import Projector
from streams.record import LogPosition, RawEvent
from tests.memory_store import MemoryStore
from tests.unit.test_reducers import key_published, make_record, registered, session
from tests.unit.test_revocation_reducers import session_revoked, token_revoked, user_revoked

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
T = TypeVar("T")


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.positions: set[LogPosition] = set()

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        self.positions.update(letter.event.position for letter in letters)


# -- the generated log ---------------------------------------------------------------------------
USERNAMES = ("alice", "bob", "carol")
REGIONS = ("eu", "us")
MOMENTS = st.integers(min_value=-3600, max_value=3600).map(lambda s: NOW + timedelta(seconds=s))

registrations = st.builds(
    lambda name, region, at, secret: make_record(
        registered(name, f"$argon2id$hash-of-{secret}"), user_id=user_id_for(name), region=region,
        at=at,
    ),
    st.sampled_from(USERNAMES), st.sampled_from(REGIONS), MOMENTS, st.integers(0, 3),
)  # fmt: skip
sessions = st.builds(
    lambda name, sid, at, ttl: make_record(
        session(f"s-{sid}", at + timedelta(seconds=ttl)), user_id=user_id_for(name), at=at
    ),
    st.sampled_from(USERNAMES), st.integers(0, 10**9), MOMENTS, st.integers(-7200, 7200),
)  # fmt: skip
keys = st.builds(lambda kid, at: make_record(key_published(f"kid-{kid}"), user_id=None, at=at),
                 st.integers(0, 2), MOMENTS)  # fmt: skip
# Revocations share a small pool of session ids and jtis, so they collide with each other and
# with session starts; some have already expired (affects_until before NOW).
SIDS = st.integers(0, 3).map(lambda i: f"s-{i}")
TTLS = st.integers(-7200, 7200).map(lambda s: timedelta(seconds=s, microseconds=s * 37 % 10**6))
session_revocations = st.builds(
    lambda name, sid, at, ttl: make_record(
        session_revoked(sid, at + ttl), user_id=user_id_for(name), at=at,
        topic=names.TOPIC_REVOCATIONS,
    ),
    st.sampled_from(USERNAMES), SIDS, MOMENTS, TTLS,
)  # fmt: skip
token_revocations = st.builds(
    lambda name, jti, at, ttl: make_record(
        token_revoked(f"jti-{jti}", at + ttl), user_id=user_id_for(name), at=at,
        topic=names.TOPIC_REVOCATIONS,
    ),
    st.sampled_from(USERNAMES), st.integers(0, 3), MOMENTS, TTLS,
)  # fmt: skip
user_revocations = st.builds(
    lambda name, at, nb_ms, ttl: make_record(
        user_revoked(at + timedelta(milliseconds=nb_ms), at + ttl), user_id=user_id_for(name),
        at=at, topic=names.TOPIC_REVOCATIONS,
    ),
    st.sampled_from(USERNAMES), MOMENTS, st.integers(-2000, 2000), TTLS,
)  # fmt: skip
revocations = st.one_of(session_revocations, token_revocations, user_revocations)
records = st.lists(st.one_of(registrations, sessions, keys, revocations), min_size=1, max_size=25)
garbage = st.lists(st.sampled_from([b"", b"{", b"[]", b'{"type": "x"}', b"\xff\xfe"]), max_size=3)


def _as_log(records: list[Any], garbage: list[bytes]) -> list[RawEvent]:
    bodies = [r.body for r in records] + garbage
    return [
        RawEvent(LogPosition(names.TOPIC_EVENTS, 0, offset), None, body)
        for offset, body in enumerate(bodies)
    ]


async def _project(batches: list[list[RawEvent]]) -> tuple[Any, set[LogPosition]]:
    stores, letters = MemoryStore(NOW.timestamp()), MemoryDeadLetters()
    projector = Projector(stores, letters)
    for batch in batches:
        await projector.apply(batch)
    return stores.state(), letters.positions


@st.composite
def deliveries(draw: st.DrawFn, log: list[T]) -> list[list[T]]:
    """The log (events, or operations) permuted, with some delivered again, cut into batches."""
    repeats = draw(st.lists(st.sampled_from(log), max_size=len(log)))
    delivered = draw(st.permutations(log + repeats))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(delivered) - 1)), max_size=5)))
    bounds = [0, *cuts, len(delivered)]
    return [delivered[a:b] for a, b in itertools.pairwise(bounds) if a < b]


@settings(max_examples=150, deadline=None)
@given(records, garbage, st.data())
def test_any_order_duplicates_and_batching_converge(
    records: list[Any], garbage: list[bytes], data: st.DataObject
) -> None:
    log = _as_log(records, garbage)
    expected = asyncio.run(_project([log]))
    assert asyncio.run(_project(data.draw(deliveries(log)))) == expected


@settings(max_examples=50, deadline=None)
@given(st.lists(registrations, min_size=2, max_size=6))
def test_the_earliest_registration_wins_everywhere(regs: list[Any]) -> None:
    log = _as_log(regs, [])
    (tables, hashes, _, _), _ = asyncio.run(_project([list(reversed(log))]))
    for row in tables[names.TABLE_USERS]:
        user_id = dict(row)["user_id"].strip("'")
        earliest = min(r.envelope.event_id for r in regs if r.envelope.user_id == user_id)
        assert dict(row)["registration_event_id"] == repr(earliest)
        assert hashes[names.redis_user_key(user_id)]["registration_event_id"] == earliest


# -- revocation always wins ----------------------------------------------------------------------
LIVE = st.integers(60, 7200).map(lambda s: timedelta(seconds=s))
live_session_revocations = st.builds(
    lambda sid, ms, ttl: make_record(
        session_revoked(sid, NOW + ttl), at=NOW + timedelta(milliseconds=ms)
    ),
    SIDS, st.integers(-5000, 5000), LIVE,
)  # fmt: skip
starts = st.builds(
    lambda sid, ms: make_record(session(sid), at=NOW + timedelta(milliseconds=ms)),
    SIDS, st.integers(-5000, 5000),
)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(st.lists(live_session_revocations, min_size=1, max_size=6), st.lists(starts, max_size=4),
       st.data())  # fmt: skip
def test_a_revoked_session_stays_revoked_whatever_arrives_first(
    revs: list[Any], started: list[Any], data: st.DataObject
) -> None:
    log = _as_log(revs + started, [])
    (_, hashes, _, expiry), _ = asyncio.run(_project(data.draw(deliveries(log))))
    for sid in {r.envelope.payload.session_id for r in revs}:
        mine = [r for r in revs if r.envelope.payload.session_id == sid]
        key = names.redis_revoked_session_key(sid)
        # The earliest revocation is the one shown; the entry outlives the longest-lived one.
        assert hashes[key]["event_id"] == min(r.envelope.event_id for r in mine)
        latest = max(r.envelope.payload.affects_until for r in mine)
        assert expiry[key] == int(latest.timestamp()) + (latest.microsecond > 0)


user_revocations_of_alice = st.builds(
    lambda ms, nb_ms, ttl: make_record(
        user_revoked(NOW + timedelta(milliseconds=nb_ms), NOW + ttl),
        at=NOW + timedelta(milliseconds=ms),
    ),
    st.integers(-5000, 5000), st.sampled_from([-1000, -999, 0, 1, 999, 1000]), LIVE,
)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(st.lists(user_revocations_of_alice, min_size=1, max_size=8), st.data())
def test_the_greatest_user_not_before_wins(revs: list[Any], data: st.DataObject) -> None:
    log = _as_log(revs, [])
    (tables, hashes, _, _), _ = asyncio.run(_project(data.draw(deliveries(log))))
    entry = hashes[names.redis_user_not_before_key(user_id_for("alice"))]
    greatest = max(r.envelope.payload.not_before for r in revs)
    assert int(entry["not_before_ms"]) == epoch_ms(greatest)
    tied = [r.envelope.event_id for r in revs if r.envelope.payload.not_before == greatest]
    assert entry["event_id"] == min(tied)
    # Postgres keeps every revocation, once each.
    assert len(tables[names.TABLE_REVOCATIONS]) == len({r.envelope.event_id for r in revs})
