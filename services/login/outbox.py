"""The emergency login channel's store: the region's Postgres outbox (``login_outbox_v1``).

When the log does not acknowledge an event in time, the login endpoint writes the encoded event
here, in one transaction, and answers; the relay (``services.login.relay``) forwards the rows to
the log in ``seq`` order per partition key and deletes each one only after the log acknowledged
it. The event id is the idempotency key: a row re-sent after a crash between the ack and the
delete is the same event, which every projection applies once (the archive is keyed by it).

``Channel`` is what this process knows about the channel: whether it is open (rows pending, or
the log unreachable), how deep and old the outbox is; it keeps the metrics and writes the
"emergency channel opened/closed" log lines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy import delete, extract, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import tables
from schemas.envelope import Envelope
from services.login.metrics import Metrics

log = logging.getLogger(__name__)
OUTBOX = tables.login_outbox


class OutboxRefused(Exception):
    """The outbox cannot take the event: full, too old, or Postgres did not answer."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One pending event: its relay order, id, partition key, topic and encoded envelope."""

    seq: int
    event_id: str
    partition_key: str
    topic: str
    event_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Pending rows and the age (s) of the oldest one (0.0 when empty)."""

    depth: int = 0
    oldest_age_s: float = 0.0


class Outbox:
    """``login_outbox_v1`` of one region, bounded by ``max_rows`` and ``max_age_s`` (s)."""

    def __init__(self, engine: AsyncEngine, max_rows: int, max_age_s: float) -> None:
        self._engine = engine
        self._max_rows = max_rows
        self._max_age_s = max_age_s

    async def write(self, envelope: Envelope, topic: str, body: bytes) -> OutboxStats:
        """Store one event (a second write of the same event id is a no-op) and return the
        outbox as it was before. Raises ``OutboxRefused`` past either bound or when Postgres
        does not answer; nothing was written then."""
        row = {
            "event_id": envelope.event_id,
            "partition_key": envelope.partition_key.decode(),
            "topic": topic,
            "event_type": envelope.type,
            "body": body,
        }
        try:
            async with self._engine.begin() as conn:
                before = _stats((await conn.execute(_STATS)).one())
                if not self.within_bounds(before):
                    raise OutboxRefused(f"outbox over its bounds: {before}")
                await conn.execute(insert(OUTBOX).values(row).on_conflict_do_nothing())
        except SQLAlchemyError as exc:
            raise OutboxRefused(exc.__class__.__name__) from exc
        return before

    def within_bounds(self, stats: OutboxStats) -> bool:
        """Whether a write would be taken with the outbox as ``stats`` describes it."""
        return stats.depth < self._max_rows and stats.oldest_age_s <= self._max_age_s

    async def has_pending(self, partition_key: str) -> bool:
        """Whether ``partition_key`` has rows not yet forwarded. Raises ``SQLAlchemyError``."""
        query = select(OUTBOX.c.seq).where(OUTBOX.c.partition_key == partition_key).limit(1)
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def stats(self) -> OutboxStats:
        """Depth and oldest age, by Postgres's clock. Raises ``SQLAlchemyError``."""
        async with self._engine.connect() as conn:
            return _stats((await conn.execute(_STATS)).one())

    async def head(self, limit: int) -> list[OutboxRow]:
        """The ``limit`` oldest rows in ``seq`` order. Raises ``SQLAlchemyError``."""
        columns = (OUTBOX.c.seq, OUTBOX.c.event_id, OUTBOX.c.partition_key, OUTBOX.c.topic)
        query = select(*columns, OUTBOX.c.event_type, OUTBOX.c.body)
        async with self._engine.connect() as conn:
            result = await conn.execute(query.order_by(OUTBOX.c.seq).limit(limit))
            return [OutboxRow(*row) for row in result]

    async def delete(self, seqs: list[int]) -> None:
        """Drop forwarded rows (only once the log acknowledged them). Raises
        ``SQLAlchemyError``."""
        if seqs:
            async with self._engine.begin() as conn:
                await conn.execute(delete(OUTBOX).where(OUTBOX.c.seq.in_(seqs)))


_STATS = select(
    func.count(),
    func.coalesce(extract("epoch", func.now() - func.min(OUTBOX.c.created_at)), 0),
).select_from(OUTBOX)


def _stats(row: tuple[int, float]) -> OutboxStats:
    depth, age = row
    return OutboxStats(int(depth), max(0.0, float(age)))


class Channel:
    """This process's view of the emergency channel: open while rows are pending or the log did
    not answer the last attempt. Every change of ``open`` is one log line; the gauges follow
    each observation."""

    def __init__(self, metrics: Metrics, enabled: bool) -> None:
        self.enabled = enabled
        self.stats = OutboxStats()
        self.log_unreachable = False
        self.wake = asyncio.Event()
        """Set on every write: the relay's cue to look at the outbox now."""
        self._metrics = metrics
        self._open = False
        self._forwarded_while_open = 0
        self._opened_at = 0.0

    @property
    def open(self) -> bool:
        return self.stats.depth > 0 or self.log_unreachable

    def observe(self, stats: OutboxStats) -> None:
        """The outbox as last read."""
        self.stats = stats
        self._metrics.outbox_depth.set(stats.depth)
        self._metrics.outbox_oldest_age.set(stats.oldest_age_s)
        self._changed()

    def written(self, event_type: str, before: OutboxStats) -> None:
        """One row was written; ``before`` is the outbox as the write found it."""
        self._metrics.outbox_writes.labels(event_type).inc()
        self.wake.set()
        self.observe(OutboxStats(before.depth + 1, before.oldest_age_s))

    def forwarded(self, count: int) -> None:
        self._forwarded_while_open += count
        self._metrics.outbox_forwarded.inc(count)

    def log_answered(self, reachable: bool) -> None:
        """The outcome of the latest attempt to reach the log."""
        self.log_unreachable = not reachable
        self._changed()

    def _changed(self) -> None:
        is_open = self.open
        self._metrics.emergency_channel_open.set(1 if is_open else 0)
        if is_open == self._open:
            return
        self._open = is_open
        detail = {
            "depth": self.stats.depth,
            "oldest_age_s": round(self.stats.oldest_age_s, 3),
            "forwarded": self._forwarded_while_open,
        }
        if is_open:
            self._opened_at = time.monotonic()
            log.warning("emergency channel opened", extra=detail)
            return
        detail["open_s"] = round(time.monotonic() - self._opened_at, 3)
        log.warning("emergency channel closed", extra=detail)
        self._forwarded_while_open = 0
