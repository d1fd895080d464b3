"""A throwaway copy of a region's stores on the same servers: a new database on its Postgres
server and an empty logical database of its Redis, both removed afterwards."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from redis.exceptions import RedisError

from schemas.redis_client import make_redis
from streams.replay.endpoints import RegionStores, ReplayError

CLAIM_KEY = "replay:v1:scratch"
"""Marks a Redis logical database as taken by a verify run (outside every projected prefix)."""
DEFAULT_DATABASES = 16


def _with_database(dsn: str, name: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"


def _redis_db(url: str, index: int) -> str:
    base, _, last = url.rpartition("/")
    return f"{base}/{index}" if last.isdigit() else f"{url.rstrip('/')}/{index}"


@contextlib.asynccontextmanager
async def scratch_stores(stores: RegionStores) -> AsyncIterator[RegionStores]:
    name = f"authplane_verify_{secrets.token_hex(4)}"
    admin = _with_database(stores.postgres_dsn, "postgres")
    await _execute(admin, f'CREATE DATABASE "{name}"')
    try:
        redis_url = await _claim_empty_redis_db(stores.redis_url)
        try:
            yield RegionStores(stores.name, redis_url, _with_database(stores.postgres_dsn, name))
        finally:
            await _flush(redis_url)
    finally:
        await _execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _execute(dsn: str, sql: str) -> None:
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ReplayError(f"cannot create a scratch database: {exc}") from None
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _claim_empty_redis_db(url: str) -> str:
    main = make_redis(url)
    try:
        configured: dict[Any, Any] = await main.config_get("databases")
        count = int(configured.get(b"databases") or DEFAULT_DATABASES)
    except (RedisError, ValueError):
        count = DEFAULT_DATABASES
    finally:
        await main.aclose()
    for index in range(count - 1, 0, -1):  # from the top: the region itself uses db 0
        candidate = _redis_db(url, index)
        client = make_redis(candidate)
        try:
            if await client.dbsize() == 0 and await client.set(CLAIM_KEY, "1", nx=True):
                return candidate
        finally:
            await client.aclose()
    raise ReplayError(f"no empty Redis logical database on {url.rpartition('/')[0]} to verify in")


async def _flush(url: str) -> None:
    client = make_redis(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
