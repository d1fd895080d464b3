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
    def __init__(self, postgres: PostgresExecutor, redis: RedisExecutor) -> None:
        self._postgres = postgres
        self._redis = redis

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
        await self._postgres.apply(pg)
        await self._redis.apply(rd)
