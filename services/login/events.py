"""Producing events: acknowledged by all in-sync replicas before anyone is told "yes"."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas import names
from schemas.broker import BrokerProfile
from schemas.codec import encode
from schemas.envelope import Envelope
from schemas.events import REVOCATION_TYPES
from services.login.metrics import Metrics

log = logging.getLogger(__name__)


class PublishFailed(RuntimeError):
    """The broker did not acknowledge the event in time; nothing may be promised to the client."""


def make_producer(bootstrap: str, timeout_s: float, broker: BrokerProfile) -> AIOKafkaProducer:
    """acks=all always; idempotent where the broker supports it (``schemas.broker``)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        **broker.producer_options(),
        linger_ms=1,
        request_timeout_ms=int(timeout_s * 1000),
        retry_backoff_ms=50,
    )


def topic_of(envelope: Envelope) -> str:
    return names.TOPIC_REVOCATIONS if envelope.type in REVOCATION_TYPES else names.TOPIC_EVENTS


class EventPublisher:
    def __init__(self, producer: AIOKafkaProducer, timeout_s: float, metrics: Metrics) -> None:
        self._producer = producer
        self._timeout_s = timeout_s
        self._metrics = metrics

    async def publish(self, envelope: Envelope) -> None:
        body = encode(envelope)
        try:
            # The timeout covers waiting for metadata too: with the broker gone, send() itself
            # would otherwise block for the client's whole request timeout. asyncio.timeout
            # rather than wait_for: the same deadline without a task per event.
            async with asyncio.timeout(self._timeout_s):
                await self._producer.send_and_wait(
                    topic_of(envelope), value=body, key=envelope.partition_key
                )
        except (KafkaError, TimeoutError, OSError) as exc:
            self._metrics.produce_failures.labels(envelope.type).inc()
            log.warning(
                "event not acknowledged",
                extra={
                    "event_type": envelope.type,
                    "event_id": envelope.event_id,
                    "err": repr(exc),
                },
            )
            raise PublishFailed(envelope.type) from exc
        self._metrics.events_produced.labels(envelope.type).inc()
