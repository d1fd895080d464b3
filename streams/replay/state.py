"""A region's projected state as ``{kind: {record key: digest}}``, for checksums and diffs.

Only what the log determines is included. Left out, because it legitimately differs between
regions or between logs: log positions (a reseeded log has new offsets), local write times
(``archived_at``, ``recorded_at``), dead letters, replay checkpoints, heartbeat / pause / probe
keys, and Redis TTLs.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from redis.asyncio import Redis
from sqlalchemy import Table, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, session_hash, tables

State = dict[str, dict[str, bytes]]

LOCAL_COLUMNS = frozenset({"topic", "log_partition", "log_offset", "archived_at"})
LOCAL_TABLES = frozenset(
    {names.TABLE_DEADLETTERS, names.TABLE_REPLAY_CHECKPOINTS, names.TABLE_LOGIN_OUTBOX}
)
"""Tables of one region's own bookkeeping, not projected from the log, so not compared."""
ARCHIVE_KIND = "archive"
LOCAL_REDIS_PREFIXES = ("projector:v1:", "verifier:v1:", "lres:v1:")
REDIS_PREFIXES = tuple(p for p in names.REDIS_KEY_PREFIXES if p not in LOCAL_REDIS_PREFIXES)
SCAN_COUNT = 2000
FETCH_CHUNK = 1000


def digest(value: Any) -> bytes:
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z, default=_plain)
    return hashlib.blake2b(data, digest_size=16).digest()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


async def snapshot(engine: AsyncEngine, redis: Redis) -> State:
    state = await postgres_state(engine)
    state.update(await redis_state(redis))
    return state


async def postgres_state(engine: AsyncEngine) -> State:
    async with engine.connect() as conn:
        present = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        state: State = {}
        for kind, table in pg_kinds().items():
            if table.name in present:  # a table its migration has not created has no state
                state[f"pg {kind}"] = await _table_state(conn, table)
    return state


def pg_kinds() -> dict[str, Table]:
    """Every projected table, by kind name: a new projection's table is included as it lands."""
    kinds: dict[str, Table] = {}
    for table in tables.metadata.sorted_tables:
        if table.name in LOCAL_TABLES:
            continue
        kind = table.name.removesuffix("_v1")
        kinds[ARCHIVE_KIND if table.name == names.TABLE_EVENT_ARCHIVE else kind] = table
    return kinds


async def _table_state(conn: Any, table: Table) -> dict[str, bytes]:
    keys = list(table.primary_key.columns)
    columns = [
        func.sha256(c).label(c.name) if c.name == "body" else c
        for c in table.columns
        if c.name not in LOCAL_COLUMNS and not _local_time(c)
    ]
    result = await conn.stream(select(*columns).order_by(*keys))
    out: dict[str, bytes] = {}
    async for row in result:
        values = row._mapping
        record = "/".join(str(values[k.name]) for k in keys)
        out[record] = digest({str(k): v for k, v in values.items()})
    return out


def _local_time(column: Any) -> bool:
    """A timestamp the database stamps at write time (``now()``) differs between regions."""
    default = column.server_default
    return default is not None and "now()" in str(getattr(default, "arg", ""))


async def redis_state(redis: Redis) -> State:
    state: State = {}
    for prefix in REDIS_PREFIXES:
        keys = sorted({k async for k in redis.scan_iter(match=prefix + "*", count=SCAN_COUNT)})
        values: dict[str, bytes] = {}
        for start in range(0, len(keys), FETCH_CHUNK):
            values.update(await _values(redis, keys[start : start + FETCH_CHUNK]))
        state[f"redis {prefix}"] = values
    return state


async def _values(redis: Redis, keys: list[bytes]) -> dict[str, bytes]:
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    kinds = await pipe.execute()
    pipe = redis.pipeline(transaction=False)
    for key, kind in zip(keys, kinds, strict=True):
        _queue_read(pipe, key, kind)
    raw = await pipe.execute()
    out: dict[str, bytes] = {}
    for key, kind, value in zip(keys, kinds, raw, strict=True):
        if value:  # expired between SCAN and read: gone in every region alike
            name = key.decode(errors="replace")
            out[name] = digest([kind, _canonical(_without_retired(name, value))])
    return out


_SESSION_PREFIX = names.redis_session_key("")
_RETIRED = frozenset(field.encode() for field in session_hash.RETIRED_FIELDS)


def _without_retired(key: str, value: Any) -> Any:
    """A session hash without the fields no reader reads any more (``RETIRED_FIELDS``): sessions
    started before they were dropped still carry them until they expire."""
    if key.startswith(_SESSION_PREFIX) and isinstance(value, dict):
        return {field: v for field, v in value.items() if field not in _RETIRED}
    return value


def _queue_read(pipe: Any, key: bytes, kind: bytes) -> None:
    if kind == b"hash":
        pipe.hgetall(key)
    elif kind == b"zset":
        pipe.zrange(key, 0, -1, withscores=True)
    elif kind == b"set":
        pipe.smembers(key)
    elif kind == b"list":
        pipe.lrange(key, 0, -1)
    else:
        pipe.get(key)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return sorted((k.hex(), v.hex()) for k, v in value.items())
    if isinstance(value, set):
        return sorted(v.hex() for v in value)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value
