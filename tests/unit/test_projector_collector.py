"""The projector holds the cyclic garbage collector off only while it decodes and reduces one
batch: the process's collector state is the same after every batch, whatever happened in it."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest

from schemas import names
from schemas.codec import encode
from schemas.envelope import wrap
from schemas.events import UserRegistered
from streams import projection
from streams.deadletter import DeadLetter
from streams.operations import Operation
from streams.projector import Backoff, Projector
from streams.record import LogPosition, RawEvent, Record
from tests.memory_store import MemoryStore

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Letters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)


def _batch() -> list[RawEvent]:
    payload = UserRegistered(username="alice", password_hash="$argon2id$x")
    envelope = wrap(payload, user_id="u-1", origin_region="eu", correlation_id="c", occurred_at=NOW)
    return [RawEvent(LogPosition(names.TOPIC_EVENTS, 0, 0), b"u-1", encode(envelope))]


@pytest.fixture
def collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def _projector(stores: MemoryStore, letters: Letters) -> Projector:
    fast = Backoff(first_s=0.001, max_s=0.002)
    return Projector(stores, letters, fast, clock=NOW.timestamp)


@pytest.mark.usefixtures("collector_restored")
@pytest.mark.parametrize("enabled", [True, False])
async def test_the_collector_is_left_as_it_was_found(enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    stores, letters = MemoryStore(NOW.timestamp()), Letters()
    result = await _projector(stores, letters).apply(_batch())
    assert result.applied == 1
    assert gc.isenabled() is enabled
    assert stores.rows[names.TABLE_USERS]


@pytest.mark.usefixtures("collector_restored")
async def test_the_collector_runs_again_after_a_reducer_crashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gc.enable()

    def crash(record: Record) -> list[Operation]:
        raise RuntimeError("reducer bug")

    monkeypatch.setattr(projection, "reduce", crash)
    monkeypatch.setattr("streams.projector.reduce", crash)
    stores, letters = MemoryStore(NOW.timestamp()), Letters()
    result = await _projector(stores, letters).apply(_batch())
    assert result.deadlettered == 1
    assert [letter.reason_class for letter in letters.letters] == ["reduce"]
    assert gc.isenabled()
