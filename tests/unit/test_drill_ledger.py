"""The drills' count of events on the log (``services.devstack.drill.ledger.Deliveries``): an
event id written twice is one repeated event of its type; events from before the drill and
records that are not events are not counted."""

from __future__ import annotations

from datetime import timedelta

from schemas.codec import encode
from schemas.envelope import Envelope, utc_now, wrap
from schemas.events import SessionStarted, UserRegistered
from services.devstack.drill.ledger import Deliveries

START = utc_now()


def _session(at_offset_s: float) -> Envelope:
    started = SessionStarted(
        session_id="s-1",
        client_id="drill",
        access_jti="j-1",
        refresh_token_hash="ab" * 32,
        signing_kid="kid",
        expires_at=START + timedelta(hours=1),
    )
    return wrap(
        started,
        user_id="u-1",
        origin_region="ap",
        correlation_id="drill",
        occurred_at=START + timedelta(seconds=at_offset_s),
    )


def test_the_same_event_id_twice_is_one_repeated_event_of_its_type() -> None:
    seen = Deliveries()
    twice, once = _session(1), _session(2)
    registered = wrap(
        UserRegistered(username="u", password_hash="$argon2id$x"),
        user_id="u-1",
        origin_region="eu",
        correlation_id="drill",
    )
    for envelope in (twice, once, twice, registered):
        seen.add(encode(envelope), START)
    assert seen.times[twice.event_id] == 2
    assert seen.repeated() == {SessionStarted.TYPE: 1}


def test_events_before_the_drill_and_foreign_records_are_not_counted() -> None:
    seen = Deliveries()
    old = _session(-60)
    for value in (encode(old), encode(old), b"not an event", None):
        seen.add(value, START)
    assert not seen.times
    assert not seen.repeated()
