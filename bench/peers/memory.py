"""Bytes held per session: Keycloak's JVM heap (after a full GC) and its database, authplane's
Redis (``used_memory`` and ``MEMORY USAGE`` of session keys) and its Postgres."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from schemas import names

_HEAP_USED = re.compile(
    r"heap\s+total(?: reserved)?\s+\d+K,\s+(?:committed\s+\d+K,\s+)?used\s+(\d+)K"
)


def parse_heap_used(heap_info: str) -> int:
    """Bytes in use on the Java heap from ``jcmd PID GC.heap_info`` (G1 and Parallel print
    ``... heap total [reserved] NK, [committed NK,] used NK``); ValueError if absent."""
    match = _HEAP_USED.search(heap_info)
    if match is None:
        raise ValueError(f"no heap total in jcmd output:\n{heap_info[:500]}")
    return int(match.group(1)) * 1024


def jvm_heap_used(jcmd: Path, pid: int) -> int:
    """Heap bytes in use right after a full GC (``jcmd GC.run``), so garbage is not counted."""
    subprocess.run([str(jcmd), str(pid), "GC.run"], check=True, capture_output=True)
    info = subprocess.run(
        [str(jcmd), str(pid), "GC.heap_info"], check=True, capture_output=True, text=True
    )
    return parse_heap_used(info.stdout)


async def database_bytes(dsn: str, database: str) -> int:
    """``pg_database_size`` of ``database`` (its files: tables, indexes, TOAST)."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT pg_database_size($1)", database))
    finally:
        await conn.close()


async def session_rows(dsn: str) -> int:
    """Rows in authplane's sessions read model."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {names.TABLE_SESSIONS}"))  # noqa: S608
    finally:
        await conn.close()


async def recent_session_ids(dsn: str, limit: int) -> list[str]:
    """The ``limit`` most recently started session ids in authplane's sessions read model."""
    query = f"SELECT session_id FROM {names.TABLE_SESSIONS} ORDER BY started_at DESC LIMIT $1"  # noqa: S608
    conn = await asyncpg.connect(dsn)
    try:
        return [str(row[0]) for row in await conn.fetch(query, limit)]
    finally:
        await conn.close()


async def redis_used_memory(url: str) -> int:
    """Redis ``INFO memory`` ``used_memory`` in bytes."""
    redis = Redis.from_url(url)
    try:
        return int((await redis.info("memory"))["used_memory"])
    finally:
        await redis.aclose()


async def session_key_bytes(url: str, session_ids: list[str]) -> float:
    """Mean ``MEMORY USAGE`` (bytes, SAMPLES 0 = exact) of these sessions' Redis keys."""
    redis = Redis.from_url(url)
    try:
        sizes = [
            await redis.memory_usage(names.redis_session_key(sid), samples=0) for sid in session_ids
        ]
    finally:
        await redis.aclose()
    found = [size for size in sizes if size]
    return sum(found) / len(found) if found else 0.0
