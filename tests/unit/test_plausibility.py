"""The plausibility check looks at every time an event carries, whatever the event type."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import decode, encode
from schemas.envelope import Envelope
from schemas.events import REGISTRY
from schemas.settings import MAX_SESSION_TTL_S
from streams.plausibility import MOMENT_FIELDS, implausibility
from streams.record import LogPosition, Record
from tests.unit.event_samples import envelopes

SKEW_S = 300.0
_ANY_EVENT = st.sampled_from(sorted(REGISTRY.values(), key=lambda cls: cls.TYPE)).flatmap(envelopes)


def _every_time_checked(envelope: Envelope, reference: datetime) -> bool:
    """The rule over every attribute of the payload that holds a datetime (no field list)."""
    latest = reference + timedelta(seconds=SKEW_S)
    if envelope.occurred_at > latest:
        return False
    for field in dataclasses.fields(envelope.payload):
        value: Any = getattr(envelope.payload, field.name)
        if not isinstance(value, datetime):
            continue
        if field.name in MOMENT_FIELDS:
            bound = latest
        else:
            try:
                bound = envelope.occurred_at + timedelta(seconds=MAX_SESSION_TTL_S + SKEW_S)
            except OverflowError:
                continue  # no representable time lies beyond the deadline
        if value > bound:
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(_ANY_EVENT, st.integers(min_value=0, max_value=2 * 10**12))
def test_every_payload_time_of_every_event_type_is_bounded(
    envelope: Envelope, log_time_ms: int
) -> None:
    decoded = decode(encode(envelope))
    record = Record(decoded, LogPosition("t", 0, 0), b"")
    now_s = 2 * 10**9  # after every log time drawn: the log time is the reference
    why = implausibility(record, log_time_ms, now_s, SKEW_S)
    reference = datetime.fromtimestamp(0, tz=decoded.occurred_at.tzinfo) + timedelta(
        milliseconds=log_time_ms
    )
    assert (why is None) == _every_time_checked(decoded, reference)
