"""The executor contract: one suite every store that applies operations must pass.

``ExecutorContract`` holds the tests; tests/unit/test_executor_contract.py runs it against the
in-memory store, tests/integration/test_executor_contract.py against the real Redis and Postgres
executors (real processes from the fixtures), where it also checks that both hold the same state.

The operations come from the real reducers fed a generated log (every event type, colliding
users, sessions, tokens, keys and addresses, times taken when the example runs):
- order-free operations: applied in any order, with duplicates, in any batches, they give the
  state of the log applied once in order;
- all operations (rotation and unlock included, which are applied in log order): a redelivered
  suffix of the log leaves the state as it was.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import events
from schemas.envelope import Payload, utc_now
from schemas.identity import user_id_for
from streams.operations import IN_LOG_ORDER, Operation
from streams.projection import reduce
from streams.record import Record
from tests.memory_store import MemoryStore
from tests.store_state import State, memory_state
from tests.unit import client_samples as clients
from tests.unit.test_projection_properties import deliveries
from tests.unit.test_reducers import key_published, make_record, registered, session
from tests.unit.test_revocation_reducers import session_revoked, token_revoked, user_revoked


class StoresUnderTest(Protocol):
    """What the suite drives: apply operations, read the normalized state, start empty."""

    async def apply(self, operations: Sequence[Operation]) -> None: ...

    async def state(self) -> State: ...

    async def reset(self) -> None: ...


class MemoryStores:
    """The in-memory store as a ``StoresUnderTest``; its clock is the wall clock."""

    def __init__(self) -> None:
        self.store = MemoryStore(time.time())

    async def apply(self, operations: Sequence[Operation]) -> None:
        await self.store.apply(operations)

    async def state(self) -> State:
        return memory_state(self.store)

    async def reset(self) -> None:
        self.store = MemoryStore(time.time())


@asynccontextmanager
async def memory_stores() -> AsyncIterator[StoresUnderTest]:
    """A fresh in-memory store."""
    yield MemoryStores()


# -- the generated log ---------------------------------------------------------------------------
USERS = ("alice", "bob")
SIDS = ("s-0", "s-1")
HASHES = ("rth-0", "rth-1", "rth-2")
IPS = ("10.0.0.1", "10.0.0.2")
KIDS = ("kid-0", "kid-1")
# Expiries stay two minutes or more away from now, so none lapses while an example runs.
LIFETIMES = st.one_of(st.integers(120, 7200), st.integers(-7200, -120)).map(
    lambda s: timedelta(seconds=s, microseconds=s * 37 % 10**6)
)

PayloadAt = Callable[[datetime, str], Payload]
"""A payload built from its event's time (expiries are relative to it) and username."""


def _fixed(payload: Payload) -> PayloadAt:
    return lambda _at, _name: payload


def _started(sid: str, first_hash: str, lifetime: timedelta) -> PayloadAt:
    return lambda at, _name: replace(
        session(sid, at + lifetime), refresh_token_hash=f"{sid}:{first_hash}"
    )


def _refreshed(sid: str, spent: str, new: str, grace_ms: int) -> PayloadAt:
    payload = events.TokenRefreshed(
        session_id=sid,
        spent_refresh_hash=f"{sid}:{spent}",
        new_refresh_hash=f"{sid}:{new}",
        access_jti=f"jti-{new}",
        signing_kid="kid-eu",
        reuse_grace_ms=grace_ms,
    )
    return _fixed(payload)


def _reused(sid: str, presented: str, lifetime: timedelta) -> PayloadAt:
    return lambda at, _name: events.RefreshTokenReused(
        session_id=sid, presented_refresh_hash=f"{sid}:{presented}", affects_until=at + lifetime
    )


def _client_payloads() -> tuple[st.SearchStrategy[PayloadAt], ...]:
    """Issue 12: client events on a pool of two client ids and three variants each."""
    cid, n = st.sampled_from(clients.CLIENT_IDS), st.integers(0, 2)
    return (
        st.builds(lambda c, i: _fixed(clients.client_registered(c, i)), cid, n),
        st.builds(lambda c, i: _fixed(clients.client_updated(c, i)), cid, n),
        st.builds(lambda c: _fixed(clients.client_disabled(c)), cid),
        st.builds(lambda c: _fixed(clients.client_enabled(c)), cid),
        st.builds(lambda c, i: _fixed(clients.client_rotated(c, i)), cid, n),
    )


SID, HASH, IP, KID = (st.sampled_from(pool) for pool in (SIDS, HASHES, IPS, KIDS))
payloads: st.SearchStrategy[PayloadAt] = st.one_of(
    st.just(lambda _at, name: registered(name, f"$argon2id${name}")),
    st.builds(_refreshed, SID, HASH, HASH, st.sampled_from([0, 0, 5_000])),
    st.builds(_reused, SID, HASH, LIFETIMES),
    st.builds(lambda kid: _fixed(key_published(kid)), KID),
    st.builds(lambda kid: _fixed(events.SigningKeyRetired(kid=kid, region="eu")), KID),
    st.builds(
        lambda kid: _fixed(events.SigningKeyRevoked(kid=kid, reason="leak", revoked_by="ops")), KID
    ),
    st.builds(lambda sid, life: lambda at, _name: session_revoked(sid, at + life), SID, LIFETIMES),
    st.builds(
        lambda sid, life: lambda at, _name: token_revoked(f"j-{sid}", at + life), SID, LIFETIMES
    ),
    st.builds(
        lambda ms, life: lambda at, _name: user_revoked(at + timedelta(milliseconds=ms), at + life),
        st.integers(-2000, 2000),
        LIFETIMES,
    ),
    st.builds(lambda ip: _fixed(events.LoginFailed(client_ip=ip)), IP),
    st.just(_fixed(events.LockoutLifted(unlocked_by="ops"))),
    st.builds(lambda ip: _fixed(events.IpLockoutLifted(client_ip=ip, unlocked_by="ops")), IP),
    st.builds(
        lambda n: _fixed(events.PasswordChanged(password_hash=f"h-{n}", changed_by="u")), HASH
    ),
    st.builds(
        lambda n: _fixed(events.PasswordRehashed(password_hash=f"r-{n}", replaces_event_id=n)), HASH
    ),
    st.just(_fixed(events.UserDisabled(reason="left", changed_by="ops"))),
    st.just(_fixed(events.UserEnabled(changed_by="ops"))),
    *_client_payloads(),
)
EventSpec = tuple[PayloadAt, str, int]
"""(payload, username, ms before now): one event of the log."""


def _events_from(pool: list[PayloadAt]) -> st.SearchStrategy[list[EventSpec]]:
    event = st.tuples(st.sampled_from(pool), st.sampled_from(USERS), st.integers(0, 600_000))
    return st.lists(event, min_size=1, max_size=20)


# A few kinds of event, each many times: collisions on one key (the case where order could
# matter) in nearly every example, not only in the rare log that happens to repeat a kind.
logs = st.lists(payloads, min_size=1, max_size=5).flatmap(_events_from)


# Each session starts once, before anything else happens to it, as in any real log (session ids
# are random): one session still live, one already expired.
STARTS: list[EventSpec] = [
    (_started(SIDS[0], HASHES[0], timedelta(hours=1)), USERS[0], 700_000),
    (_started(SIDS[1], HASHES[0], timedelta(hours=-1)), USERS[0], 700_000),
]


def build_log(specs: list[EventSpec]) -> list[Record]:
    """The session starts, then the records of ``specs``, at consecutive offsets, dated back
    from the wall clock now."""
    now = utc_now()
    records = []
    for offset, (payload_at, name, ms_ago) in enumerate(STARTS + specs):
        at = now - timedelta(milliseconds=ms_ago)
        records.append(
            make_record(payload_at(at, name), user_id=user_id_for(name), at=at, offset=offset)
        )
    return records


def log_operations(records: Sequence[Record]) -> list[Operation]:
    """Every operation the reducers ask for, in log order."""
    return [op for record in records for op in reduce(record)]


CONTRACT = settings(
    max_examples=25,
    deadline=None,
    # One suite, one subclass per store (hence "differing executors"); each example empties the
    # stores itself, so the function-scoped database fixtures serve every example.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.differing_executors,
        HealthCheck.too_slow,
    ],
)


class ExecutorContract(abc.ABC):
    """The suite; a subclass named ``Test...`` provides ``stores()``."""

    @abc.abstractmethod
    def stores(self) -> AbstractAsyncContextManager[StoresUnderTest]:
        """The stores under test, emptied, for one example."""

    @CONTRACT
    @given(logs, st.data())
    def test_order_free_operations_in_any_order_with_duplicates_give_one_state(
        self, specs: list[EventSpec], data: st.DataObject
    ) -> None:
        operations = [op for op in log_operations(build_log(specs)) if not _in_log_order(op)]
        batches = data.draw(deliveries(operations)) if operations else []
        asyncio.run(self._same_state(operations, batches))

    @CONTRACT
    @given(logs, st.data())
    def test_a_redelivered_suffix_of_the_log_changes_nothing(
        self, specs: list[EventSpec], data: st.DataObject
    ) -> None:
        records = build_log(specs)
        start = data.draw(st.integers(0, len(records) - 1))
        operations = log_operations(records)
        again = log_operations(records[start:])
        asyncio.run(self._same_state(operations, [operations, again]))

    async def _same_state(self, once: list[Operation], batches: list[list[Operation]]) -> None:
        async with self.stores() as stores:
            await stores.apply(once)
            expected = await stores.state()
            await stores.reset()
            for batch in batches:
                await stores.apply(batch)
            assert await stores.state() == expected


def _in_log_order(op: Operation) -> bool:
    return isinstance(op, IN_LOG_ORDER)


async def states_of(
    stores: Sequence[AbstractAsyncContextManager[StoresUnderTest]], operations: list[Operation]
) -> list[State]:
    """The state each of ``stores`` holds after applying ``operations`` in one batch."""
    states = []
    for each in stores:
        async with each as opened:
            await opened.apply(operations)
            states.append(await opened.state())
    return states
