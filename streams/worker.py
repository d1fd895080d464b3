"""``python -m streams.worker``: a region's projector as a faust-streaming worker.

Two agents, one per topic, consume the event and revocation topics in batches and hand each
batch to the faust-independent ``Projector``. Offsets are committed only for events the stores
hold. The revocations have their own agent so that a revocation never waits behind a batch of
other events (a login burst) being written, and their own, shorter batch window
(``projector_revocation_batch_within_ms``): a revocation is what a check in another region waits
for. The two agents apply concurrently; that is safe because every projection is idempotent and
tolerates any order (the topics were never ordered relative to each other anyway).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, Callable, Coroutine, Sequence
from typing import Any

import faust
from redis.exceptions import RedisError

from schemas import names
from schemas.broker import CONSUMER_METADATA_MAX_AGE_MS
from schemas.jsonlog import logging_config
from schemas.settings import Settings
from streams.faust_transport import ProjectorApp, take_batches
from streams.metrics import LAG_OFFSETS
from streams.metrics_server import start_metrics_server
from streams.record import LogPosition, RawEvent, log_time
from streams.startup import wait_for_topics
from streams.wiring import ProjectorRuntime, start_projector

log = logging.getLogger("authplane.worker")
HEARTBEAT_EVERY_S = 1.0
HEARTBEAT_TTL_S = 10
PAUSE_POLL_S = 0.2
PAUSED_TTL_S = 5


class ProjectorHost:
    """Owns the projector's clients inside the worker's event loop (created on first use)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runtime: ProjectorRuntime | None = None
        self._starting: asyncio.Lock | None = None
        self._applying = 0
        """How many batches are being applied right now (one per agent at most)."""

    async def runtime(self) -> ProjectorRuntime:
        if self._runtime is None:
            self._starting = self._starting or asyncio.Lock()
            async with self._starting:
                if self._runtime is None:
                    self._runtime = await start_projector(self.settings)
        return self._runtime

    async def apply(self, events: Sequence[Any]) -> None:
        # take_batches acknowledges the whole batch in a `finally` after its yield, even when
        # the consumer of the batch was cancelled half-way (worker shutdown). An extra reference
        # per message makes that ack a plain decrement: only our own ack below, after the stores
        # hold the batch, lets an offset be committed.
        for event in events:
            event.message.incref()
        runtime = await self.runtime()
        await self._hold_while_paused(runtime)
        # Counted with no await since the pause check: a replay's acknowledgement (``beat``) can
        # never be written while a batch is being applied.
        self._applying += 1
        try:
            projector = runtime.projector
            if events and events[0].message.topic == names.TOPIC_REVOCATIONS:
                projector = runtime.revocation_projector  # each agent takes one topic
            await projector.apply([_raw_event(event.message) for event in events])
        finally:
            self._applying -= 1
        for event in events:
            event.ack()
        if self.settings.broker.exact_end_offsets:
            record_offset_lag(events)

    async def _hold_while_paused(self, runtime: ProjectorRuntime) -> None:
        """A replay holds the region's pause lease: take no batch until it ends (or lapses).
        The pause is acknowledged only while no batch is being applied: with one agent per
        topic, the other agent's batch may still be writing the stores the replay rewrites."""
        while (token := await self._pause_token(runtime)) is not None:
            if not self._applying:  # checked after the await, as in ``beat``
                await self._acknowledge_pause(runtime, token)
            await asyncio.sleep(PAUSE_POLL_S)

    async def _pause_token(self, runtime: ProjectorRuntime) -> bytes | None:
        try:
            token = await runtime.redis.get(names.redis_projector_pause_key(self.settings.region))
        except (RedisError, OSError):
            return None  # Redis is down: the projector cannot write anything there anyway
        return token if isinstance(token, bytes) else None

    async def _acknowledge_pause(self, runtime: ProjectorRuntime, token: bytes) -> None:
        key = names.redis_projector_paused_key(self.settings.region)
        try:
            await runtime.redis.set(key, token, ex=PAUSED_TTL_S)
        except (RedisError, OSError) as exc:
            log.warning("pause acknowledgement failed", extra={"error": str(exc)})

    async def beat(self) -> None:
        runtime = await self.runtime()
        projectors = (runtime.projector, runtime.revocation_projector)
        if any(projector.failing_since is not None for projector in projectors):
            return  # stores are failing: let readiness lapse rather than claim we keep up
        key = names.redis_projector_heartbeat_key(self.settings.region)
        try:
            await runtime.redis.set(key, int(time.time()), ex=HEARTBEAT_TTL_S)
        except (RedisError, OSError) as exc:
            log.warning("heartbeat failed", extra={"error": str(exc)})
        token = await self._pause_token(runtime)
        # Checked after the await: a batch that started meanwhile must finish before the ack.
        if token is not None and not self._applying:
            await self._acknowledge_pause(runtime, token)

    async def close(self) -> None:
        if self._runtime is not None:
            await self._runtime.close()
            self._runtime = None


def record_offset_lag(events: Sequence[Any]) -> None:
    """Lag in records per partition after a batch (Kafka only: Tansu's end offsets are wrong)."""
    last: dict[Any, int] = {}
    for event in events:
        message = event.message
        last[message.tp] = max(last.get(message.tp, -1), message.offset)
    consumer = events[0].app.consumer if events else None
    for tp, offset in last.items():
        highwater = consumer.highwater(tp) if consumer is not None else None
        if highwater is not None:
            LAG_OFFSETS.labels(tp.topic, str(tp.partition)).set(max(0, highwater - offset - 1))


def _raw_event(message: Any) -> RawEvent:
    position = LogPosition(message.topic, message.partition, message.offset)
    # faust gives the record timestamp in seconds.
    stamp = message.timestamp
    return RawEvent(position, message.key, message.value, log_time(stamp * 1000 if stamp else None))


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{server.strip()}" for server in bootstrap.split(",") if server.strip()]


def create_app(settings: Settings, host: ProjectorHost) -> faust.App:
    app = ProjectorApp(
        names.consumer_group(settings.region),
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        broker=broker_urls(settings.kafka_bootstrap),
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=settings.broker_heartbeat_interval_s,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        consumer_metadata_max_age_ms=CONSUMER_METADATA_MAX_AGE_MS,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        web_enabled=False,
        autodiscover=False,
    )
    app.closers.append(host.close)
    batch_max = settings.projector_batch_max
    windows_ms = {
        names.TOPIC_EVENTS: settings.projector_batch_within_ms,
        names.TOPIC_REVOCATIONS: settings.projector_revocation_batch_within_ms,
    }
    for topic_name, within_ms in windows_ms.items():
        topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
        app.agent(topic, name=AGENT_NAMES[topic_name])(_projecting(host, batch_max, within_ms))

    async def heartbeat() -> None:
        await host.beat()

    app.timer(HEARTBEAT_EVERY_S)(heartbeat)

    return app


AGENT_NAMES = {names.TOPIC_EVENTS: "project", names.TOPIC_REVOCATIONS: "project-revocations"}
"""The worker's agent per topic of ``names.EVENT_TOPICS``."""


def _projecting(
    host: ProjectorHost, batch_max: int, within_ms: float
) -> Callable[[AsyncIterable[Any]], Coroutine[Any, Any, None]]:
    """An agent body: batches of up to ``batch_max`` events, each taken when full or ``within_ms``
    (ms) after its first event arrived, applied by ``host``."""
    within_s = within_ms / 1000

    async def project(stream: AsyncIterable[Any]) -> None:
        async for events in take_batches(stream, batch_max, within_s):
            await host.apply(events)

    return project


def main() -> None:
    settings = Settings.from_env()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # Before faust starts: an unknown topic would be auto-created with the broker's default count.
    loop.run_until_complete(wait_for_topics(settings))
    if settings.projector_metrics_port > 0:
        start_metrics_server(
            settings.projector_metrics_port,
            settings.http_host,
            max_header_bytes=settings.max_header_bytes,
            max_request_head_bytes=settings.max_request_head_bytes,
        )
    host = ProjectorHost(settings)
    app = create_app(settings, host)
    worker = faust.Worker(
        app,
        loop=loop,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        logging_config=logging_config(settings.log_level),
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
