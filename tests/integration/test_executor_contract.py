"""The executor contract suite (tests/executor_contract.py) against the real Redis and Postgres
executors, and the check that the in-memory store holds what they hold for the same log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
from hypothesis import given
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.tables import metadata
from streams.executor import StoreExecutor
from streams.operations import Operation
from streams.postgres import PostgresExecutor
from streams.redis_ops import RedisExecutor
from streams.wiring import create_engine, create_redis
from tests.executor_contract import (
    CONTRACT,
    EventSpec,
    ExecutorContract,
    StoresUnderTest,
    build_log,
    log_operations,
    logs,
    memory_stores,
    states_of,
)
from tests.store_state import State, postgres_rows, redis_keys

_TRUNCATE = text(f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)}")


class RealStores:
    """A region's Redis and Postgres behind the projector's own executors."""

    def __init__(self, redis: Redis, engine: AsyncEngine) -> None:
        self.redis, self.engine = redis, engine
        self.executor = StoreExecutor(PostgresExecutor(engine), RedisExecutor(redis))

    async def apply(self, operations: Sequence[Operation]) -> None:
        await self.executor.apply(operations)

    async def state(self) -> State:
        return await postgres_rows(self.engine), await redis_keys(self.redis)

    async def reset(self) -> None:
        await self.redis.flushdb()
        async with self.engine.begin() as conn:
            await conn.execute(_TRUNCATE)


class TestRedisAndPostgresExecutors(ExecutorContract):
    redis_url = ""
    dsn = ""

    @pytest.fixture(autouse=True)
    def _stores_of_this_test(self, fresh_redis_url: str, fresh_postgres_dsn: str) -> None:
        self.redis_url, self.dsn = fresh_redis_url, fresh_postgres_dsn

    @asynccontextmanager
    async def stores(self) -> AsyncIterator[StoresUnderTest]:
        engine, redis = create_engine(self.dsn), create_redis(self.redis_url)
        try:
            real = RealStores(redis, engine)
            await real.reset()  # one database serves every example of the test
            yield real
        finally:
            await redis.aclose()
            await engine.dispose()

    @CONTRACT
    @given(logs)
    def test_the_memory_store_holds_what_redis_and_postgres_hold(
        self, specs: list[EventSpec]
    ) -> None:
        operations = log_operations(build_log(specs))
        memory, real = asyncio.run(states_of([memory_stores(), self.stores()], operations))
        assert memory == real
