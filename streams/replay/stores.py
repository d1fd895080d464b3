"""Open a region's stores for a recovery command, failing with one clear line if unreachable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from migrations.runner import upgrade
from schemas.dsn import redact
from streams.replay.endpoints import RegionStores, ReplayError
from streams.wiring import create_engine, create_redis


@dataclass
class OpenStores:
    region: str
    engine: AsyncEngine
    redis: Redis


@contextlib.asynccontextmanager
async def open_stores(stores: RegionStores, migrate: bool = False) -> AsyncIterator[OpenStores]:
    engine = create_engine(stores.postgres_dsn)
    redis = create_redis(stores.redis_url)
    try:
        await _ping_redis(stores, redis)
        await _ping_postgres(stores, engine)
        if migrate:
            await _migrate(stores)
        yield OpenStores(stores.name, engine, redis)
    finally:
        await redis.aclose()
        await engine.dispose()


async def _ping_redis(stores: RegionStores, redis: Redis) -> None:
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        raise ReplayError(
            f"cannot reach region {stores.name}'s Redis at {redact(stores.redis_url)}: {exc}"
        ) from None


async def _ping_postgres(stores: RegionStores, engine: AsyncEngine) -> None:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ReplayError(
            f"cannot reach region {stores.name}'s Postgres at "
            f"{redact(stores.postgres_dsn)}: {detail}"
        ) from None


async def _migrate(stores: RegionStores) -> None:
    # A recreated, empty database is migrated here, so rebuilding a region is one command.
    try:
        await asyncio.to_thread(upgrade, stores.postgres_dsn)
    except (SQLAlchemyError, OSError, ValueError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ReplayError(
            f"cannot migrate region {stores.name}'s Postgres at "
            f"{redact(stores.postgres_dsn)}: {detail}"
        ) from None
