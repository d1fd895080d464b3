"""One envelope for every event on every topic."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from schemas.names import SYSTEM_PARTITION_KEY


class Payload(Protocol):
    """What every event class provides: its dotted type string and its version."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]


@dataclass(frozen=True, slots=True)
class Envelope:
    """An event as it travels on the log: identity, routing and provenance around a payload.

    ``user_id`` is the partition key, so all of one user's events are totally ordered in the log
    and every region sees them in the same order.
    """

    event_id: str
    type: str
    version: int
    user_id: str
    origin_region: str
    occurred_at: datetime
    correlation_id: str
    payload: Any

    @property
    def partition_key(self) -> bytes:
        return self.user_id.encode()


def new_event_id(now_ms: int | None = None) -> str:
    """A time-ordered UUID (version 7, RFC 9562): 48-bit Unix milliseconds, then randomness.

    Sorting event ids sorts events by creation time (to the millisecond), which projections use
    as a deterministic, order-independent tie-breaker.
    """
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # RFC 9562 variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b, 62 bits
    return str(uuid.UUID(int=value))


def event_time_ms(event_id: str) -> int | None:
    """The creation time (epoch ms) a UUIDv7 (RFC 9562 §5.7) carries in its first 48 bits; None
    for any other string (another UUID version, or not a UUID)."""
    try:
        value = uuid.UUID(event_id)
    except ValueError:
        return None
    if value.version != 7 or str(value) != event_id:
        return None
    return value.int >> 80


def utc_now() -> datetime:
    return datetime.now(UTC)


def wrap(
    payload: Payload,
    *,
    user_id: str | None,
    origin_region: str,
    correlation_id: str,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
) -> Envelope:
    """Put a payload in an envelope; events that belong to no user get the system key."""
    return Envelope(
        event_id=event_id or new_event_id(),
        type=payload.TYPE,
        version=payload.VERSION,
        user_id=user_id if user_id is not None else SYSTEM_PARTITION_KEY,
        origin_region=origin_region,
        occurred_at=occurred_at or utc_now(),
        correlation_id=correlation_id,
        payload=payload,
    )
