"""The projection engine: decode -> reduce -> apply one batch, never losing or skipping events.

Independent of faust: the worker feeds it batches from its stream, the replay tool feeds it
batches read straight from the log. ``apply`` returns only when every event of the batch is
either projected or dead-lettered; store outages are retried (capped exponential backoff) until
they pass, so the caller may acknowledge the whole batch afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from schemas.codec import DecodeError, decode
from streams import metrics
from streams.deadletter import DeadLetter, DeadLetterPublisher
from streams.errors import StoreRejected, StoreUnavailable
from streams.executor import Executor
from streams.operations import Operation
from streams.projection import reduce
from streams.record import RawEvent, Record

log = logging.getLogger("authplane.projector")


@dataclass(frozen=True, slots=True)
class Backoff:
    first_s: float = 0.05
    max_s: float = 5.0


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: int
    deadlettered: int


@dataclass(slots=True)
class _Reduced:
    event: RawEvent
    record: Record
    operations: list[Operation]


class Projector:
    def __init__(
        self,
        executor: Executor,
        deadletters: DeadLetterPublisher,
        backoff: Backoff | None = None,
    ) -> None:
        self._executor = executor
        self._deadletters = deadletters
        self._backoff = backoff or Backoff()
        self.failing_since: float | None = None
        """Monotonic time of the first failed attempt of the current outage, else None."""

    async def apply(self, batch: Sequence[RawEvent]) -> BatchResult:
        started = time.perf_counter()
        reduced, letters = self._reduce_all(batch)
        operations = [op for item in reduced for op in item.operations]
        try:
            await self._retrying(lambda: self._executor.apply(operations))
        except StoreRejected as exc:
            log.warning("batch rejected, applying event by event", extra={"detail": exc.detail})
            reduced = await self._apply_one_by_one(reduced, letters)
        if letters:
            await self._record_deadletters(letters)
        self._observe(reduced, letters, time.perf_counter() - started)
        return BatchResult(applied=len(reduced), deadlettered=len(letters))

    def _reduce_all(self, batch: Sequence[RawEvent]) -> tuple[list[_Reduced], list[DeadLetter]]:
        reduced: list[_Reduced] = []
        letters: list[DeadLetter] = []
        for event in batch:
            try:
                record = Record(decode(event.value), event.position, event.value)
            except DecodeError as exc:
                letters.append(DeadLetter(event, "decode", exc.reason))
                continue
            try:
                reduced.append(_Reduced(event, record, reduce(record)))
            except Exception as exc:  # a reducer bug must not wedge the partition
                letters.append(DeadLetter(event, "reduce", f"{type(exc).__name__}: {exc}"))
        return reduced, letters

    async def _apply_one_by_one(
        self, reduced: list[_Reduced], letters: list[DeadLetter]
    ) -> list[_Reduced]:
        applied: list[_Reduced] = []
        for item in reduced:
            try:
                await self._retrying(lambda item=item: self._executor.apply(item.operations))  # type: ignore[misc]
                applied.append(item)
            except StoreRejected as exc:
                letters.append(DeadLetter(item.event, "rejected", exc.detail))
        return applied

    async def _record_deadletters(self, letters: list[DeadLetter]) -> None:
        rows = [letter.row_operation() for letter in letters]
        # A dead-letter row holds only text (NUL-free), integers and bytes and conflicts are
        # ignored, so Postgres has nothing to refuse in it: a refusal is treated as an outage.
        await self._retrying(lambda: self._executor.apply(rows), rejected_is_outage=True)
        await self._retrying(lambda: self._deadletters.publish(letters))
        for letter in letters:
            metrics.DEADLETTERED.labels(letter.reason_class).inc()
            position = letter.event.position
            log.warning(
                "event dead-lettered",
                extra={
                    "topic": position.topic,
                    "partition": position.partition,
                    "offset": position.offset,
                    "reason": letter.text,
                },
            )

    async def _retrying(
        self, attempt: Callable[[], Awaitable[None]], rejected_is_outage: bool = False
    ) -> None:
        delay = self._backoff.first_s
        while True:
            try:
                await attempt()
            except StoreRejected as exc:
                if not rejected_is_outage:
                    raise
                self._note_failure("postgres", exc)
            except StoreUnavailable as exc:
                self._note_failure(exc.store, exc)
            except Exception as exc:  # unknown failure: retry rather than ack unapplied events
                log.exception("unexpected error applying a batch")
                self._note_failure("unknown", exc)
            else:
                self.failing_since = None
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff.max_s)

    def _note_failure(self, store: str, exc: Exception) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        metrics.STORE_ERRORS.labels(store).inc()
        log.warning("store write failed, retrying", extra={"store": store, "error": str(exc)})

    def _observe(self, reduced: list[_Reduced], letters: list[DeadLetter], took: float) -> None:
        metrics.BATCHES.inc()
        metrics.BATCH_SECONDS.observe(took)
        for event_type, count in Counter(item.record.envelope.type for item in reduced).items():
            metrics.EVENTS_APPLIED.labels(event_type).inc(count)
        if reduced:
            last = max(item.record.envelope.occurred_at.timestamp() for item in reduced)
            metrics.LAST_APPLIED_AT.set(last)
            metrics.LAG_SECONDS.set(max(0.0, time.time() - last))
