"""Producing events: acknowledged by all in-sync replicas before anyone is told "yes", or, when
the log does not answer in time, stored in the region's outbox (the emergency login channel,
``services.login.outbox``) and forwarded by the relay later, in order per partition key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from schemas import names
from schemas.broker import BrokerProfile
from schemas.codec import encode
from schemas.envelope import Envelope
from schemas.events import REVOCATION_TYPES, PasswordChanged
from services.login.metrics import Metrics
from services.login.outbox import Channel, Outbox, OutboxRefused

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


class LogLink:
    """The login process's producer, started once the log first answers: a process (re)started
    while the log is unreachable still answers through the emergency channel, and its relay
    connects as soon as the log is back. ``producer`` is None until then."""

    def __init__(self, bootstrap: str, timeout_s: float, broker: BrokerProfile) -> None:
        self._bootstrap = bootstrap
        self._timeout_s = timeout_s
        self._broker = broker
        self._lock = asyncio.Lock()
        self.producer: AIOKafkaProducer | None = None
        self.last_error = ""

    async def connect(self) -> bool:
        """Start the producer unless it runs; False (``last_error`` says why) when the log did
        not answer within twice the produce timeout."""
        async with self._lock:
            if self.producer is not None:
                return True
            producer = make_producer(self._bootstrap, self._timeout_s, self._broker)
            try:
                await asyncio.wait_for(producer.start(), self._timeout_s * 2)
            except (KafkaError, TimeoutError, OSError) as exc:
                self.last_error = exc.__class__.__name__
                await producer.stop()
                return False
            self.producer = producer
            return True

    async def close(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()


def topic_of(envelope: Envelope) -> str:
    return names.TOPIC_REVOCATIONS if envelope.type in REVOCATION_TYPES else names.TOPIC_EVENTS


NEEDS_THE_LOG = frozenset({PasswordChanged.TYPE})
"""Event types never answered through the emergency channel: a password change must revoke the
user's sessions and replace the password everywhere, which only the log can promise (503)."""

ApplyLocally = Callable[[Envelope], Awaitable[None]]


class Fallback:
    """The emergency channel as the publisher uses it: ``outbox`` takes what the log did not,
    ``channel`` tracks the state, ``apply_locally`` writes a queued event's effect to this
    region's stores at once (the projector only sees it once it is forwarded)."""

    def __init__(self, outbox: Outbox, channel: Channel, apply_locally: ApplyLocally) -> None:
        self.outbox = outbox
        self.channel = channel
        self._apply_locally = apply_locally

    async def must_queue(self, envelope: Envelope) -> bool:
        """Whether ``envelope`` goes to the outbox without trying the log: its partition key has
        rows pending (it must not overtake them), or the log did not answer the last attempt.
        Raises ``PublishFailed`` for a ``NEEDS_THE_LOG`` event of a key with rows pending."""
        if not self.channel.enabled or not self.channel.open:
            return False
        if envelope.type in NEEDS_THE_LOG:
            if await self._pending(envelope.partition_key.decode()):
                raise PublishFailed(envelope.type)  # 503: retried once the key is forwarded
            return False
        return self.channel.log_unreachable or await self._pending(envelope.partition_key.decode())

    async def _pending(self, partition_key: str) -> bool:
        if self.channel.stats.depth == 0:
            return False
        try:
            return await self.outbox.has_pending(partition_key)
        except Exception:  # Postgres down: nothing can be queued either; the log may answer
            return False

    async def queue(self, envelope: Envelope, topic: str, body: bytes) -> None:
        """Write ``envelope`` to the outbox and apply it here; raises ``PublishFailed`` when the
        channel is off, the event needs the log, or the outbox refuses it."""
        if not self.channel.enabled or envelope.type in NEEDS_THE_LOG:
            raise PublishFailed(envelope.type)
        try:
            before = await self.outbox.write(envelope, topic, body)
        except OutboxRefused as exc:
            log.warning(
                "emergency channel refused an event",
                extra={"event_type": envelope.type, "event_id": envelope.event_id, "err": str(exc)},
            )
            raise PublishFailed(envelope.type) from exc
        self.channel.written(envelope.type, before)
        await self._apply_locally(envelope)


class EventPublisher:
    """Publishes each event to the log (acks=all) within ``timeout_s`` (s); with a ``fallback``,
    an event the log did not take goes to the region's outbox instead (``Fallback.queue``)."""

    def __init__(
        self,
        link: LogLink,
        timeout_s: float,
        metrics: Metrics,
        fallback: Fallback | None = None,
    ) -> None:
        self._link = link
        self._timeout_s = timeout_s
        self._metrics = metrics
        self._fallback = fallback

    async def publish(self, envelope: Envelope) -> None:
        """Returns once the log or the outbox holds ``envelope``; raises ``PublishFailed`` when
        neither took it (the caller answers 503 and promises nothing)."""
        body = encode(envelope)
        fallback = self._fallback
        if fallback is not None and await fallback.must_queue(envelope):
            await fallback.queue(envelope, topic_of(envelope), body)
            return
        try:
            # The timeout covers waiting for metadata too: with the broker gone, send() itself
            # would otherwise block for the client's whole request timeout. asyncio.timeout
            # rather than wait_for: the same deadline without a task per event.
            producer = self._link.producer
            if producer is None:
                raise KafkaConnectionError(f"not connected: {self._link.last_error}")
            async with asyncio.timeout(self._timeout_s):
                await producer.send_and_wait(
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
            if fallback is None:
                raise PublishFailed(envelope.type) from exc
            fallback.channel.log_answered(reachable=False)
            try:
                await fallback.queue(envelope, topic_of(envelope), body)
            except PublishFailed:
                raise PublishFailed(envelope.type) from exc
            return
        self._metrics.events_produced.labels(envelope.type).inc()
