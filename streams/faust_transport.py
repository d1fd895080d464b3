"""faust's aiokafka transport with two changes.

- The consumer's fetch_max_wait_ms is ours. faust-streaming hard-codes ``fetch_max_wait_ms=1500``
  for worker consumers. Tansu does not wake a waiting fetch when data arrives, so that constant
  alone put ~370 ms (p50) between produce and projection. aiokafka hands the attribute to its
  Fetcher in ``start()``, so setting it on the freshly created, not yet started consumer is
  enough.
- "Seek to committed" really rewinds every partition. faust drops records it has fetched but
  must not process yet (fetched while its flow is stopped during a rebalance, or after the
  group's generation changed) and relies on seeking back to the committed offsets to read them
  again. aiokafka 0.14's ``seek_to_committed`` moves only partitions whose committed offset is
  above 0, so a partition this group never committed kept its position past the dropped
  records: they were never projected. Seen in the broker-outage drill: the first record of a
  revocations partition, written elsewhere while the region was cut off, arrived just as the
  projector's group rebalanced at the heal, and that region never applied the revocation.
  ``rewind_to_committed`` sends such partitions to the beginning of the log, which is what the
  consumer's ``auto_offset_reset="earliest"`` would have read; every projection is idempotent by
  event id, so anything read twice is applied once.

And ``take_batches``, batching that sleeps while idle: faust's ``take_events`` wakes every
``within`` seconds whether or not anything arrived, so a short window (what a revocation needs)
cost CPU all the time (measured: a 1 ms window took a worker from ~8 % to ~14 % of a core idle).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers import aiokafka as driver


async def rewind_to_committed(consumer: AIOKafkaConsumer) -> Mapping[TopicPartition, int | None]:
    """Seek every assigned partition of ``consumer`` (a started group member) to its committed
    offset, and a partition without one (or with 0) to the beginning of the log. Returns
    ``{partition: committed offset or None}`` as aiokafka's ``seek_to_committed`` does. Raises
    what aiokafka raises (``KafkaError`` when the coordinator cannot be reached)."""
    committed: dict[TopicPartition, int | None] = dict(await consumer.seek_to_committed())
    never = [tp for tp, offset in committed.items() if not offset]
    if never:
        await consumer.seek_to_beginning(*never)
    return committed


def has_read_position(consumer: Any, tp: Any) -> bool:
    """Whether aiokafka ``consumer`` holds a read position for ``tp`` (anything with ``topic``
    and ``partition``). True when it does not hold the partition at all: faust's own check
    reports that case without reading a position."""
    subscription = consumer._fetcher._subscriptions.subscription
    assignment = subscription.assignment if subscription is not None else None
    state = assignment.state_value(TopicPartition(tp.topic, tp.partition)) if assignment else None
    return state is None or bool(state.has_valid_position)


class ConsumerThread(driver.AIOKafkaConsumerThread):
    """faust's aiokafka consumer thread with our fetch wait and a seek to committed offsets
    that rewinds never-committed partitions too (see the module docstring)."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 1500)
        return consumer

    def verify_event_path(self, now: float, tp: Any) -> None:
        """faust's periodic stuck-partition check, without its read of a partition's position
        while the partition has none. After a rebalance a partition waits for its seek to the
        committed offset; faust's check then read aiokafka's ``position``, which asserts it is
        set (aiokafka 0.14), and the AssertionError crashed the projector (seen after a
        region's links were cut and healed). Such a partition still gets faust's fetch-level
        check, which reports one whose seek never completes; a position cleared by a rebalance
        between the two reads is treated the same way."""
        consumer = self._ensure_consumer()
        if not has_read_position(consumer, tp):
            self._verify_aiokafka_event_path(now, tp)
            return
        try:
            super().verify_event_path(now, tp)
        except AssertionError:
            if has_read_position(consumer, tp):
                raise  # not the missing position: a fault of its own

    async def seek_to_committed(self) -> Mapping[Any, int]:
        # None values included, as aiokafka returns them: faust's perform_seek resets its read
        # offset of such a partition to None, so the records read again are not dropped.
        committed: Mapping[Any, int] = await self.call_thread(
            rewind_to_committed, self._ensure_consumer()
        )
        return committed


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    Consumer = _Consumer


class ProjectorApp(faust.App):
    """A faust App whose consumer transport is the one above."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.closers: list[Callable[[], Awaitable[None]]] = []
        super().__init__(*args, **kwargs)

    async def on_shutdown(self) -> None:
        # After agents and timers have stopped (mode stops children before on_shutdown), so
        # nothing still uses the clients being closed.
        await super().on_shutdown()
        for close in self.closers:
            await close()

    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)


async def take_batches(stream: Any, max_: int, within_s: float) -> AsyncIterator[list[Any]]:
    """Batches (lists of faust events, at most ``max_``) of a faust agent's ``stream``.

    A batch opens with the first event that arrives (an idle agent is not woken at all) and is
    handed over once full or ``within_s`` seconds (0: at once) after it opened. Events arriving
    while a batch is being applied gather in the next one; once that one is full the stream waits.
    Each event is acknowledged to faust after the consumer of its batch resumes the iteration (or
    leaves it), as with ``take_events``: an offset is committed only then.
    """
    pending: list[Any] = []
    opened, full, room = asyncio.Event(), asyncio.Event(), asyncio.Event()
    room.set()

    async def gather(value: Any) -> Any:
        if not room.is_set():
            # Returns when the stream stops, too (a bare room.wait() would stay parked until the
            # agent is cancelled); an event taken then is never acknowledged, so read again.
            await stream.wait(room)
        event = stream.current_event
        if event is None:
            raise RuntimeError("an event arrived without faust's current_event")
        pending.append(event)
        opened.set()
        if len(pending) >= max_:
            full.set()
            room.clear()
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False  # acknowledged below, once the batch was applied
    stream.add_processor(gather)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(opened)
            if not pending:
                continue
            if within_s > 0 and not full.is_set():
                await stream.wait_for_stopped(full, timeout=within_s)
            else:
                await asyncio.sleep(0)  # let events already handed over join the batch
            batch = pending[:]
            pending.clear()
            opened.clear()
            full.clear()
            room.set()
            try:
                yield batch
            finally:
                for event in batch:
                    await stream.ack(event)
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(gather)
