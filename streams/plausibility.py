"""Times an event cannot honestly carry: refused before any reducer sees them.

A login.failed dated next year would count toward a lockout until next year; a user.revoked
whose not-before lies in the future would revoke every session the user starts until then; a
session "expiring" in year 9999 would never leave Redis. Such events are dead-lettered (not
clamped): a clamped time would be a time nobody wrote, and it would differ between a live region
and a replay months later. The reference is the record's log timestamp, which every region reads
the same, capped by this process's clock (a record can claim a future log time too); with no log
timestamp, the clock alone. Past times are let through: replays and reseeds legitimately carry
old events, and a time in the past only makes an event count for less.
"""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, datetime, timedelta

from schemas.epoch import from_epoch_ms
from schemas.settings import MAX_SESSION_TTL_S
from streams.record import Record

MOMENT_FIELDS = frozenset({"not_before"})
"""Payload times that claim something has already happened (bounded like ``occurred_at``); every
other payload time is a deadline (an expiry), bounded by ``occurred_at`` + the longest session."""


def implausibility(
    record: Record, log_time_ms: int | None, now_s: float, max_skew_s: float
) -> str | None:
    """Why ``record``'s times are implausible, or None if they are not.

    ``log_time_ms`` (epoch ms) is the record's log timestamp, ``now_s`` (epoch s) this process's
    clock, ``max_skew_s`` (s) the clock error tolerated between the writer and the log.
    """
    now_ms = int(now_s * 1000)
    reference_ms = now_ms if log_time_ms is None else min(log_time_ms, now_ms)
    latest = from_epoch_ms(reference_ms) + timedelta(seconds=max_skew_s)
    envelope = record.envelope
    if envelope.occurred_at > latest:
        return _too_late("occurred_at", envelope.occurred_at, latest)
    payload = envelope.payload
    deadline: datetime | None = None
    for name in _time_fields(type(payload)):
        value = getattr(payload, name)
        if not isinstance(value, datetime):
            continue  # an optional time left out
        if name in MOMENT_FIELDS:
            bound = latest
        else:
            if deadline is None:
                deadline = _add(envelope.occurred_at, MAX_SESSION_TTL_S + max_skew_s)
            bound = deadline
        if value > bound:
            return _too_late(name, value, bound)
    return None


_TIME_FIELDS: dict[type, tuple[str, ...]] = {}


def _time_fields(cls: type) -> tuple[str, ...]:
    """The fields of payload class ``cls`` whose declared type admits a ``datetime``, in field
    order; looked up once per class. The codec builds every payload to its declared types, so no
    other field can hold a time; for a class without resolvable hints every field is returned
    (each value is still type-checked per event)."""
    names = _TIME_FIELDS.get(cls)
    if names is None:
        names = _TIME_FIELDS[cls] = _fields_admitting_time(cls)
    return names


def _fields_admitting_time(cls: type) -> tuple[str, ...]:
    fields = dataclasses.fields(cls)
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):
        return tuple(f.name for f in fields)
    return tuple(f.name for f in fields if _admits_time(hints.get(f.name, datetime)))


def _admits_time(hint: object) -> bool:
    if hint is datetime or hint is typing.Any:
        return True
    return any(_admits_time(arg) for arg in typing.get_args(hint))


def _add(moment: datetime, seconds: float) -> datetime:
    try:
        return moment + timedelta(seconds=seconds)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def _too_late(name: str, value: datetime, bound: datetime) -> str:
    return (
        f"{name} {value.isoformat(timespec='seconds')} is later than the plausible "
        f"{bound.isoformat(timespec='seconds')}"
    )
