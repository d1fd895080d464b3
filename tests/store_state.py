"""A region's projected state in one comparable shape, read from the in-memory store or from
real Redis and Postgres (support for the executor contract suite; no tests here).

Rows: every column but those the database stamps at write time, NULLs left out (the in-memory
store never holds a column no operation wrote). Redis: each live key's type, content and expiry
(epoch s, None when it has none).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import tables
from tests.memory_store import MemoryStore

State = tuple[dict[str, list[str]], dict[str, tuple[str, Any, int | None]]]
"""(table -> sorted canonical rows, key -> (type, content, expiry epoch s or None))."""
WRITE_TIME_COLUMNS = frozenset({"archived_at", "recorded_at", "updated_at", "id"})


def _value(value: Any) -> str:
    if isinstance(value, datetime):
        return "time:" + value.astimezone(UTC).isoformat()
    if isinstance(value, dict | list):
        return "json:" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return repr(value)


def _row(row: dict[str, Any]) -> str:
    kept = {
        str(k): _value(v) for k, v in row.items() if v is not None and k not in WRITE_TIME_COLUMNS
    }
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS).decode()


def memory_state(store: MemoryStore) -> State:
    """The state of the in-memory store."""
    rows = {t: sorted(map(_row, rs)) for t, rs in store.rows.items() if rs}
    keys: dict[str, tuple[str, Any, int | None]] = {}
    for key, fields in store.hashes.items():
        if fields:
            keys[key] = ("hash", dict(fields), store.expiry.get(key))
    for key, members in store.zsets.items():
        if members:
            scores = {m: float(s) for m, s in members.items()}
            keys[key] = ("zset", scores, store.expiry.get(key))
    return rows, keys


async def postgres_rows(engine: AsyncEngine) -> dict[str, list[str]]:
    """Every table's rows (empty tables left out)."""
    state: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        for table in tables.metadata.sorted_tables:
            result = await conn.execute(select(table))
            rows = [_row(dict(row._mapping)) for row in result]
            if rows:
                state[table.name] = sorted(rows)
    return state


async def redis_keys(redis: Redis) -> dict[str, tuple[str, Any, int | None]]:
    """Every key's type, content and expiry (epoch s, from PTTL and the server's clock)."""
    seconds, micros = await redis.time()
    now_ms = seconds * 1000 + micros // 1000
    state: dict[str, tuple[str, Any, int | None]] = {}
    async for raw in redis.scan_iter(count=1000):
        key, kind = _text(raw), _text(await redis.type(raw))
        content: Any
        if kind == "hash":
            content = {_text(f): _text(v) for f, v in (await redis.hgetall(raw)).items()}
        elif kind == "zset":
            pairs: list[Any] = await redis.zrange(raw, 0, -1, withscores=True)
            content = {_text(m): float(s) for m, s in pairs}
        else:
            content = await redis.get(raw)
        pttl = await redis.pttl(raw)
        state[key] = (kind, content, None if pttl < 0 else round((now_ms + pttl) / 1000))
    return state


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
