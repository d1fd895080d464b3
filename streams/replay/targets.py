"""``--target``: which store a replay writes, as a filter in front of the live executor.

It also counts events that were already archived (the duplicates a replay skips): one indexed
lookup per batch, made before the batch is written and counted only once the write succeeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names
from streams.errors import StoreUnavailable
from streams.executor import Executor
from streams.operations import Operation, PgInsertIgnore, PgOperation

Target = Literal["all", "redis", "postgres"]
TARGETS: tuple[Target, ...] = ("all", "redis", "postgres")

_ARCHIVED = text(
    f"SELECT count(*) FROM {names.TABLE_EVENT_ARCHIVE} "  # noqa: S608
    "WHERE event_id = ANY(CAST(:ids AS uuid[]))"
)


def is_postgres(op: Operation) -> bool:
    return isinstance(op, PgOperation)


class TargetExecutor:
    def __init__(self, inner: Executor, engine: AsyncEngine, target: Target) -> None:
        self._inner = inner
        self._engine = engine
        self._target = target
        self.duplicates = 0

    @property
    def counts_duplicates(self) -> bool:
        return self._target != "redis"

    async def healthy(self) -> bool:
        return await self._inner.healthy()

    async def apply(self, operations: Sequence[Operation]) -> None:
        kept = [op for op in operations if self._wanted(op)]
        duplicates = await self._already_archived(kept) if self.counts_duplicates else 0
        await self._inner.apply(kept)
        self.duplicates += duplicates

    def _wanted(self, op: Operation) -> bool:
        if self._target == "all":
            return True
        return is_postgres(op) == (self._target == "postgres")

    async def _already_archived(self, operations: Sequence[Operation]) -> int:
        ids = [
            str(op.row["event_id"])
            for op in operations
            if isinstance(op, PgInsertIgnore) and op.table == names.TABLE_EVENT_ARCHIVE
        ]
        if not ids:
            return 0
        unique = set(ids)
        try:
            async with self._engine.connect() as conn:
                found = (await conn.execute(_ARCHIVED, {"ids": sorted(unique)})).scalar_one()
        except (SQLAlchemyError, OSError) as exc:  # the projector retries it like any outage
            raise StoreUnavailable("postgres", f"{type(exc).__name__}: {exc}") from exc
        # An event twice in one batch (a producer retry) is a duplicate too.
        return int(found) + len(ids) - len(unique)
