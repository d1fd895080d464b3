"""An event as the projector sees it: decoded, with where it sat in the log and its exact bytes."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.envelope import Envelope


@dataclass(frozen=True, slots=True)
class LogPosition:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One message as read from the log, not yet decoded."""

    position: LogPosition
    key: bytes | None
    value: bytes
    log_time_ms: int | None = None
    """The record's log timestamp (epoch ms; CreateTime or LogAppendTime), None if it has none.
    The same in every region that reads the record, unlike any region's wall clock."""


def log_time(timestamp_ms: float | None) -> int | None:
    """A Kafka record timestamp (epoch ms; -1 or None when absent) as ``RawEvent.log_time_ms``."""
    if timestamp_ms is None or timestamp_ms < 0:
        return None
    return int(timestamp_ms)


@dataclass(frozen=True, slots=True)
class Record:
    envelope: Envelope
    position: LogPosition
    body: bytes
