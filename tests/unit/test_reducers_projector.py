"""The projector around the reducers: a failing reducer or a store refusing one event costs only
that event (dead-lettered); a failing store costs time, never events."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from schemas import names
from schemas.events import SessionStarted
from schemas.identity import user_id_for
from streams import projection
from streams.errors import StoreRejected, StoreUnavailable
from streams.operations import Operation
from streams.projector import Backoff, Projector
from streams.record import LogPosition, RawEvent, Record
from tests.memory_store import MemoryStore
from tests.unit.test_projection_properties import NOW, MemoryDeadLetters
from tests.unit.test_reducers import make_record, registered, session


def raw(record: Record, offset: int) -> RawEvent:
    return RawEvent(LogPosition(names.TOPIC_EVENTS, 1, offset), b"k", record.body)


class FlakyStores(MemoryStore):
    """Unavailable for the first ``outages`` attempts; refuses batches holding ``poison``."""

    def __init__(self, outages: int = 0, poison: str | None = None) -> None:
        super().__init__(NOW.timestamp())
        self.outages, self.poison, self.attempts = outages, poison, 0

    async def apply(self, operations: Sequence[Operation]) -> None:
        self.attempts += 1
        if self.attempts <= self.outages:
            raise StoreUnavailable("postgres", "connection refused")
        if self.poison and any(_mentions(op, self.poison) for op in operations):
            raise StoreRejected("postgres", "unique violation")
        await super().apply(operations)


def _mentions(op: Operation, value: str) -> bool:
    # Only projection rows: the dead-letter row quoting the poison event must still be accepted.
    return getattr(op, "table", "") == names.TABLE_USERS and value in repr(op)


@pytest.fixture
def broken_session_reducer() -> Iterator[None]:
    def explode(record: Record) -> list[Operation]:
        raise KeyError("bug")

    saved = projection.REDUCERS[SessionStarted.TYPE]
    projection.REDUCERS[SessionStarted.TYPE] = (explode,)
    yield
    projection.REDUCERS[SessionStarted.TYPE] = saved


@pytest.mark.usefixtures("broken_session_reducer")
async def test_a_reducer_bug_dead_letters_that_event_only() -> None:
    stores, letters = MemoryStore(NOW.timestamp()), MemoryDeadLetters()
    batch = [raw(make_record(registered()), 0), raw(make_record(session()), 1)]
    result = await Projector(stores, letters).apply(batch)
    assert (result.applied, result.deadlettered) == (1, 1)
    assert letters.positions == {batch[1].position}
    [row] = stores.rows[names.TABLE_DEADLETTERS]
    assert row["reason"].startswith("reduce: KeyError")
    assert len(stores.rows[names.TABLE_EVENT_ARCHIVE]) == 1


async def test_an_event_the_store_refuses_is_dead_lettered_and_its_neighbours_applied() -> None:
    records = [
        make_record(registered(name), user_id=user_id_for(name)) for name in ("ann", "ben", "cat")
    ]
    stores = FlakyStores(poison=records[1].envelope.event_id)
    letters = MemoryDeadLetters()
    result = await Projector(stores, letters).apply([raw(r, i) for i, r in enumerate(records)])
    assert (result.applied, result.deadlettered) == (2, 1)
    assert letters.positions == {LogPosition(names.TOPIC_EVENTS, 1, 1)}
    assert {r["username"] for r in stores.rows[names.TABLE_USERS]} == {"ann", "cat"}


async def test_a_store_outage_is_retried_until_the_batch_lands() -> None:
    stores = FlakyStores(outages=3)
    projector = Projector(stores, MemoryDeadLetters(), Backoff(first_s=0.001, max_s=0.004))
    result = await projector.apply([raw(make_record(registered()), 0)])
    assert result.applied == 1
    assert stores.attempts == 4
    assert len(stores.rows[names.TABLE_USERS]) == 1
    assert projector.failing_since is None
