"""The executor contract suite (tests/executor_contract.py) against the in-memory store."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from tests.executor_contract import ExecutorContract, StoresUnderTest, memory_stores


class TestMemoryStore(ExecutorContract):
    def stores(self) -> AbstractAsyncContextManager[StoresUnderTest]:
        return memory_stores()
