"""The emergency channel's relay: forwards the region's outbox to the log, a background task of
the login process.

One relay per region forwards at a time: it holds a Postgres session-level advisory lock
(``names.OUTBOX_RELAY_LOCK``) on a connection of its own; every other login process of the region
only reads the outbox's depth and age. Each round takes the oldest rows; rows of one partition
key are sent one after the other in ``seq`` order (each acknowledged, acks=all, before the next
is sent, so a retry can never reorder them), different keys concurrently; a key whose row the
log did not take stops there until the next round. A row is deleted only after its ack: a relay
that dies in between sends the same event (same id) again, which every projection applies once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any, cast

from aiokafka.errors import KafkaError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schemas import names
from services.login.events import LogLink
from services.login.outbox import Channel, Outbox, OutboxRow

log = logging.getLogger(__name__)
BATCH_ROWS = 500
IDLE_S = 1.0
"""The relay's poll interval (s) while the channel is closed."""
LOG_ERRORS = (KafkaError, TimeoutError, OSError)


class Relay:
    """Forwards ``outbox`` rows through ``link``'s producer every ``interval_s`` (s), each send
    bounded by ``timeout_s`` (s); reports what it sees to ``channel``."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Outbox,
        link: LogLink,
        channel: Channel,
        interval_s: float,
        timeout_s: float,
    ) -> None:
        self._engine = engine
        self._outbox = outbox
        self._link = link
        self._channel = channel
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._lock: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._in_flight: dict[int, tuple[object, asyncio.Future[Any]]] = {}
        """Row ``seq`` -> (the producer, the delivery future) of a send not yet acknowledged."""

    def start(self) -> None:
        self._closing = False
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def close(self) -> None:
        """Stop the loop and release the lock (another process of the region takes over)."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=self._timeout_s + 5)
        await self._release()

    async def _run(self) -> None:
        while not self._closing:
            self._channel.wake.clear()  # a write during the tick wakes the next one at once
            try:
                await self.tick()
            except SQLAlchemyError as exc:
                log.warning("outbox relay: postgres unavailable", extra={"err": repr(exc)})
                await self._release()
            # Idle (nothing pending, the log answering) it only watches for other processes'
            # rows, so it polls less often; this process's own writes wake it.
            pause = self._interval_s if self._channel.open else max(self._interval_s, IDLE_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._channel.wake.wait(), pause)

    async def tick(self) -> int:
        """One round: forward what this process may, then refresh the channel's view. Returns
        the number of events forwarded. Raises ``SQLAlchemyError``."""
        forwarded = 0
        if self._link.producer is None and not await self._link.connect():
            self._channel.log_answered(reachable=False)
        elif await self._holds_lock():
            forwarded = await self.forward(await self._outbox.head(BATCH_ROWS))
        stats = await self._outbox.stats()
        if stats.depth == 0 and self._channel.log_unreachable:
            await self._probe_log()
        self._channel.observe(stats)
        return forwarded

    async def forward(self, rows: list[OutboxRow]) -> int:
        """Send ``rows`` (the outbox's head, in ``seq`` order) and delete the acknowledged ones;
        returns how many."""
        self._forget_below(rows[0].seq if rows else None)
        if not rows:
            return 0
        by_key: dict[str, list[OutboxRow]] = defaultdict(list)
        for row in rows:
            by_key[row.partition_key].append(row)
        sent = await asyncio.gather(*(self._send_in_order(chain) for chain in by_key.values()))
        acked = [seq for chain in sent for seq in chain]
        await self._outbox.delete(acked)
        self._channel.forwarded(len(acked))  # first: a "closed" line counts these too
        self._channel.log_answered(reachable=len(acked) == len(rows))
        return len(acked)

    def _forget_below(self, head: int | None) -> None:
        """Drop kept sends of rows below the outbox's ``head`` seq (None: the outbox is empty):
        they are gone from it (forwarded by this relay or, after a lock hand-over, another)."""
        for seq in [s for s in self._in_flight if head is None or s < head]:
            del self._in_flight[seq]

    async def _send_in_order(self, chain: list[OutboxRow]) -> list[int]:
        acked: list[int] = []
        producer = self._link.producer
        for row in chain:
            if producer is None:
                return acked
            try:
                async with asyncio.timeout(self._timeout_s):
                    delivery = await self._delivery(producer, row)
                    # shield: a timeout leaves the send with the producer, kept for next round
                    await asyncio.shield(delivery)
            except LOG_ERRORS as exc:
                log.debug("outbox relay: row not acknowledged", extra={"err": repr(exc)})
                return acked  # later rows of this key wait: they must not overtake this one
            self._in_flight.pop(row.seq, None)
            acked.append(row.seq)
        return acked

    async def _delivery(self, producer: Any, row: OutboxRow) -> asyncio.Future[Any]:
        """The delivery future of ``row``: the one an earlier round left with this producer while
        it may still deliver, else a new send."""
        kept = self._in_flight.get(row.seq)
        if kept is not None:
            owner, future = kept
            failed = future.done() and (future.cancelled() or future.exception() is not None)
            if owner is producer and not failed:
                return future
            self._in_flight.pop(row.seq, None)
        sent = await producer.send(row.topic, value=row.body, key=row.partition_key.encode())
        future = cast("asyncio.Future[Any]", sent)
        self._in_flight[row.seq] = (producer, future)
        return future

    async def _probe_log(self) -> None:
        producer = self._link.producer
        if producer is None:
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                await producer.client.fetch_all_metadata()
        except LOG_ERRORS:
            return
        self._channel.log_answered(reachable=True)

    async def _holds_lock(self) -> bool:
        if self._lock is not None:
            try:
                await self._lock.execute(text("SELECT 1"))  # the lock lives as long as this session
                await self._lock.commit()
                return True
            except SQLAlchemyError:
                await self._release()
        conn = await self._engine.connect()
        try:
            query = text("SELECT pg_try_advisory_lock(:key)")
            got = (await conn.execute(query, {"key": names.OUTBOX_RELAY_LOCK})).scalar_one()
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._lock = conn
        log.info("outbox relay: this process forwards the region's outbox")
        return True

    async def _release(self) -> None:
        conn, self._lock = self._lock, None
        if conn is not None:
            # Invalidated, not returned to the pool: a session-level advisory lock ends with its
            # session, and a pooled session would keep it.
            try:
                await conn.invalidate()
            finally:
                await conn.close()
