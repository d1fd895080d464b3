"""The drills' count of events on the log (``services.devstack.drill.ledger.Deliveries``): an
event id written twice is one repeated event of its type; events from before the drill and
records that are not events are not counted."""

from __future__ import annotations

from datetime import timedelta

from schemas.codec import encode
from schemas.envelope import Envelope, utc_now, wrap
from schemas.events import UserRegistered
from services.devstack.drill.ledger import Deliveries

START = utc_now()


def _registered(name: str, at_offset_s: float) -> Envelope:
    return wrap(
        UserRegistered(username=name, password_hash="$argon2id$x"),
        user_id=name,
        origin_region="ap",
        correlation_id="drill",
        occurred_at=START + timedelta(seconds=at_offset_s),
    )


def test_the_same_event_id_twice_is_one_repeated_event_of_its_type() -> None:
    seen = Deliveries()
    twice, once = _registered("ann", 1), _registered("bob", 2)
    for envelope in (twice, once, twice):
        seen.add(encode(envelope), START)
    assert (seen.times[twice.event_id], seen.times[once.event_id]) == (2, 1)
    assert seen.repeated() == {UserRegistered.TYPE: 1}


def test_events_before_the_drill_and_foreign_records_are_not_counted() -> None:
    seen = Deliveries()
    old = encode(_registered("cy", -60))
    for value in (old, old, b"not an event", None):
        seen.add(value, START)
    assert not seen.times
    assert not seen.repeated()
