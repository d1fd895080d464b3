"""Apply a batch of operations to a region's stores: Postgres first, then Redis.

Postgres commits before Redis is written, and the caller acknowledges the batch only after both:
a crash anywhere leaves the batch unacknowledged, and since every operation is idempotent the
redelivered batch converges to the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from streams.operations import Operation, PgOperation, RedisOperation
from streams.postgres import PostgresExecutor
from streams.redis_ops import RedisExecutor


class Executor(Protocol):
    async def apply(self, operations: Sequence[Operation]) -> None: ...

    async def healthy(self) -> bool:
        """Whether every store answers other work right now: the evidence that tells a store
        refusing one event apart from a store that is down. Never raises."""
        ...


class StoreExecutor:
    """Postgres, then Redis; with ``redis_first`` Redis, then Postgres (the revocation topic's
    projector: Redis is what every check reads, and a revocation can only make an answer stricter,
    so it may be there before Postgres holds it; a redelivery after a failure in between converges
    the same way).

    The price of ``redis_first``: a revocation Postgres refuses (a body differing from the one
    already archived under its event id, a value no column can hold) is dead-lettered, as any
    refused event, but its Redis write has already happened. It errs on the strict side (the
    credential stays revoked in that region), and ``authplane verify`` shows the region's Redis
    ahead of its Postgres until the dead letter is dealt with (docs/poison.md)."""

    def __init__(
        self, postgres: PostgresExecutor, redis: RedisExecutor, *, redis_first: bool = False
    ) -> None:
        self._postgres = postgres
        self._redis = redis
        self._redis_first = redis_first

    async def healthy(self) -> bool:
        return await self._postgres.healthy() and await self._redis.healthy()

    async def apply(self, operations: Sequence[Operation]) -> None:
        pg: list[PgOperation] = []
        rd: list[RedisOperation] = []
        for op in operations:
            if isinstance(op, PgOperation):
                pg.append(op)
            else:
                rd.append(op)
        if self._redis_first:
            await self._redis.apply(rd)
            await self._postgres.apply(pg)
        else:
            await self._postgres.apply(pg)
            await self._redis.apply(rd)
