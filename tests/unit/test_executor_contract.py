"""The executor contract suite (tests/executor_contract.py) against the in-memory store."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import get_args

from streams import postgres, redis_ops
from streams.operations import Operation, PgOperation, RedisOperation
from tests import memory_store
from tests.executor_contract import ExecutorContract, StoresUnderTest, memory_stores


class TestMemoryStore(ExecutorContract):
    def stores(self) -> AbstractAsyncContextManager[StoresUnderTest]:
        return memory_stores()


def test_every_operation_has_a_handler_in_every_store() -> None:
    """An operation no store can apply would make the projector retry its event until it gives
    up; each executor's table and the in-memory store's must name every operation type."""
    redis_handled = set(redis_ops._SINGLE) | set(redis_ops._RUN)
    assert set(get_args(PgOperation)) <= set(postgres._PLAN)
    assert set(get_args(RedisOperation)) <= redis_handled
    assert set(get_args(Operation)) <= set(memory_store._HANDLERS)
