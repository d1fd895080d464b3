"""Events the projector cannot apply: a deadletters_v1 row plus a copy on the dead-letter topic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas import names
from streams.errors import StoreUnavailable
from streams.operations import PgInsertIgnore
from streams.record import RawEvent

MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class DeadLetter:
    event: RawEvent
    reason_class: str
    """``decode``, ``reduce`` or ``rejected``: a small set, fit for a metric label."""
    reason: str

    @property
    def text(self) -> str:
        # Postgres text cannot hold NUL, and reasons may quote arbitrary input.
        return f"{self.reason_class}: {self.reason}".replace("\x00", "\\0")[:MAX_REASON_CHARS]

    def row_operation(self) -> PgInsertIgnore:
        # Keyed by log position: a redelivered poison event is recorded once.
        position = self.event.position
        row = {
            "source_topic": position.topic,
            "log_partition": position.partition,
            "log_offset": position.offset,
            "reason": self.text,
            "body": self.event.value,
        }
        return PgInsertIgnore(names.TABLE_DEADLETTERS, row)


class DeadLetterPublisher(Protocol):
    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        """Put the letters on the dead-letter topic; raise StoreUnavailable if the broker fails."""


class KafkaDeadLetterPublisher:
    def __init__(self, producer: AIOKafkaProducer, region: str) -> None:
        self._producer = producer
        self._region = region

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        try:
            futures = [await self._send(letter) for letter in letters]
            for future in futures:
                await future
        except (KafkaError, OSError, TimeoutError) as exc:
            raise StoreUnavailable("kafka", f"{type(exc).__name__}: {exc}") from exc

    async def _send(self, letter: DeadLetter):  # type: ignore[no-untyped-def]
        position = letter.event.position
        source = f"{position.topic}/{position.partition}/{position.offset}"
        headers = [
            (names.HEADER_DEADLETTER_REASON, letter.text.encode()),
            (names.HEADER_DEADLETTER_SOURCE, source.encode()),
            (names.HEADER_DEADLETTER_REGION, self._region.encode()),
        ]
        return await self._producer.send(
            names.TOPIC_DEADLETTER, value=letter.event.value, key=letter.event.key, headers=headers
        )
