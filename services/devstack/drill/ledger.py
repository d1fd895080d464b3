"""The emergency-channel drills' books, read from the stores and the log, never from the load
generator's belief alone: which acknowledged sessions each region's Postgres holds, how many
``session.started`` events each session has in each region's archive, how often each event id
was written to the log, and what a region's outbox still holds.

A login the client got a 200 for is **lost** in a region when that region's ``sessions_v1`` lacks
its session once the drill has waited; it is **duplicated in effect** when a region's archive
holds more than one ``session.started`` event for its session (two events, two ids: the archive
is keyed by event id, so the same event delivered twice is stored once). The same event id on
the log more than once is a **duplicate delivery**: harmless by design (every projection dedupes
by event id), counted to show the relay's retries.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer

from schemas import names
from schemas.codec import DecodeError, decode
from schemas.events import SessionStarted
from services.devstack.stack import Stack

T = TypeVar("T")
POLL_S = 0.25
LOG_READ_TIMEOUT_S = 60.0


def _on_postgres(
    stack: Stack, region: str, query: Callable[[asyncpg.Connection], Awaitable[T]]
) -> T:
    async def run() -> T:
        conn = await asyncpg.connect(stack.settings[region].postgres_dsn)
        try:
            return await query(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def stored_sessions(stack: Stack, region: str, sessions: Iterable[str]) -> set[str]:
    """Which of ``sessions`` (session ids) ``region``'s Postgres ``sessions_v1`` holds."""
    wanted = sorted(set(sessions))

    async def query(conn: asyncpg.Connection) -> set[str]:
        sql = f"SELECT session_id FROM {names.TABLE_SESSIONS} WHERE session_id = ANY($1::text[])"  # noqa: S608
        return {str(row[0]) for row in await conn.fetch(sql, wanted)}

    return _on_postgres(stack, region, query) if wanted else set()


def missing_everywhere(stack: Stack, sessions: set[str]) -> dict[str, set[str]]:
    """Per region, the ``sessions`` its Postgres does not hold (yet)."""
    return {r: sessions - stored_sessions(stack, r, sessions) for r in stack.settings}


def seconds_until_stored(
    stack: Stack, sessions: set[str], since: float, within_s: float
) -> tuple[float | None, dict[str, set[str]]]:
    """Poll every region's Postgres until it holds every one of ``sessions``.

    Returns ``(seconds from `since` (monotonic s) until the last region had them all, or None
    when ``within_s`` s passed first; per region what is still missing)``."""
    deadline = time.monotonic() + within_s
    while True:
        missing = missing_everywhere(stack, sessions)
        if not any(missing.values()):
            return time.monotonic() - since, missing
        if time.monotonic() > deadline:
            return None, missing
        time.sleep(POLL_S)


def session_starts(stack: Stack, region: str, since: datetime) -> dict[str, set[str]]:
    """``session id -> ids of its session.started events`` in ``region``'s archive, for the
    events that occurred at or after ``since`` (aware datetime)."""

    async def query(conn: asyncpg.Connection) -> list[bytes]:
        sql = (
            f"SELECT body FROM {names.TABLE_EVENT_ARCHIVE} "  # noqa: S608
            "WHERE type = $1 AND occurred_at >= $2"
        )
        return [bytes(row[0]) for row in await conn.fetch(sql, SessionStarted.TYPE, since)]

    starts: dict[str, set[str]] = {}
    for body in _on_postgres(stack, region, query):
        envelope = decode(body)
        starts.setdefault(envelope.payload.session_id, set()).add(envelope.event_id)
    return starts


def duplicated_sessions(stack: Stack, since: datetime) -> dict[str, int]:
    """Per region, how many sessions have more than one ``session.started`` event archived."""
    return {
        region: sum(len(ids) > 1 for ids in session_starts(stack, region, since).values())
        for region in stack.settings
    }


def archived(stack: Stack, region: str, event_ids: Iterable[str]) -> set[str]:
    """Which of ``event_ids`` ``region``'s event archive holds."""
    wanted = sorted(set(event_ids))

    async def query(conn: asyncpg.Connection) -> set[str]:
        table = names.TABLE_EVENT_ARCHIVE
        sql = f"SELECT CAST(event_id AS text) FROM {table} WHERE event_id = ANY($1::uuid[])"  # noqa: S608
        return {str(row[0]) for row in await conn.fetch(sql, wanted)}

    return _on_postgres(stack, region, query) if wanted else set()


@dataclass
class Deliveries:
    """What the log holds: ``times[event id]`` records of each event, ``types[event id]`` its
    event type."""

    times: Counter[str] = field(default_factory=Counter)
    types: dict[str, str] = field(default_factory=dict)

    def add(self, value: bytes | None, since: datetime) -> None:
        """Count one log record's value if it is an event that occurred at or after ``since``
        (aware datetime); an empty or undecodable value is not ours to count (the projectors
        dead-letter it)."""
        if value is None:
            return
        try:
            envelope = decode(value)
        except DecodeError:
            return
        if envelope.occurred_at >= since:
            self.times[envelope.event_id] += 1
            self.types[envelope.event_id] = envelope.type

    def repeated(self) -> Counter[str]:
        """Per event type, how many event ids are on the log more than once."""
        return Counter(self.types[e] for e, n in self.times.items() if n > 1)


def seconds_until_archived(
    stack: Stack, event_ids: Iterable[str], since: float, within_s: float
) -> tuple[float | None, dict[str, set[str]]]:
    """Poll every region's archive until it holds every one of ``event_ids``.

    Returns ``(seconds from `since` (monotonic s) until the last region had them all, or None
    when ``within_s`` s passed first; per region which of them it holds)``."""
    wanted = set(event_ids)
    deadline = time.monotonic() + within_s
    while True:
        held = {r: archived(stack, r, wanted) for r in stack.settings}
        if all(h == wanted for h in held.values()):
            return time.monotonic() - since, held
        if time.monotonic() > deadline:
            return None, held
        time.sleep(POLL_S)


def log_deliveries(stack: Stack, since: datetime) -> Deliveries:
    """How many times each event id that occurred at or after ``since`` is on the log (both
    event topics, read from the start to the end offsets; Kafka's end offsets are exact)."""
    return asyncio.run(
        asyncio.wait_for(_read_log(stack.kafka_bootstrap, since), LOG_READ_TIMEOUT_S)
    )


async def _read_log(bootstrap: str, since: datetime) -> Deliveries:
    # No group: a subscription without one is assigned every partition of the topics.
    consumer = AIOKafkaConsumer(
        *names.EVENT_TOPICS,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    seen = Deliveries()
    try:
        while len(consumer.assignment()) < 2:  # at least one partition per topic
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    seen.add(record.value, since)
        parts = sorted(consumer.assignment())
        ends = await consumer.end_offsets(parts)
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    seen.add(record.value, since)
    finally:
        await consumer.stop()
    return seen


def outbox_event_ids(stack: Stack, region: str) -> list[str]:
    """The event ids ``region``'s login outbox still holds, in relay order."""

    async def query(conn: asyncpg.Connection) -> list[str]:
        sql = f"SELECT CAST(event_id AS text) FROM {names.TABLE_LOGIN_OUTBOX} ORDER BY seq"  # noqa: S608
        return [str(row[0]) for row in await conn.fetch(sql)]

    return _on_postgres(stack, region, query)


def seconds_until_drained(stack: Stack, region: str, since: float, within_s: float) -> float | None:
    """Seconds from ``since`` (monotonic s) until ``region``'s outbox is empty; None when it
    still holds rows after ``within_s`` s."""
    deadline = time.monotonic() + within_s
    while outbox_event_ids(stack, region):
        if time.monotonic() > deadline:
            return None
        time.sleep(POLL_S)
    return time.monotonic() - since
