"""An event as the projector sees it: decoded, with where it sat in the log and its exact bytes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


@dataclass(frozen=True, slots=True)
class Record:
    envelope: Envelope
    position: LogPosition
    body: bytes


def epoch_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def epoch_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
