"""Readiness: every dependency a login needs answers, and the projector is keeping up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names

CHECK_TIMEOUT_S = 2.0
HEARTBEAT_MAX_AGE_S = 30.0


class StaleHeartbeat(Exception):
    pass


class Readiness:
    """Checks the broker, Redis, Postgres and ``region``'s projector heartbeat, each within
    ``CHECK_TIMEOUT_S``."""

    def __init__(
        self, producer: AIOKafkaProducer, redis: Redis, engine: AsyncEngine, region: str
    ) -> None:
        self._producer = producer
        self._redis = redis
        self._engine = engine
        self._region = region

    async def __call__(self) -> tuple[bool, dict[str, Any]]:
        """(all ready, per check ``{"ok": bool, "error"?: str}``)."""
        checks: dict[str, Callable[[], Awaitable[None]]] = {
            "broker": self._broker,
            "redis": self._redis_ping,
            "postgres": self._postgres,
            "projector": self._projector,
        }
        results = await asyncio.gather(*(_run(check) for check in checks.values()))
        report = dict(zip(checks, results, strict=True))
        return all(r["ok"] for r in report.values()), report

    async def _broker(self) -> None:
        await self._producer.client.fetch_all_metadata()

    async def _redis_ping(self) -> None:
        await cast(Awaitable[Any], self._redis.ping())

    async def _postgres(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def _projector(self) -> None:
        key = names.redis_projector_heartbeat_key(self._region)
        raw = await cast(Awaitable[bytes | None], self._redis.get(key))
        if raw is None:
            raise StaleHeartbeat("no heartbeat")
        beat = heartbeat_epoch(raw.decode(errors="replace"))
        if beat is not None and time.time() - beat > HEARTBEAT_MAX_AGE_S:
            raise StaleHeartbeat("heartbeat too old")


async def _run(check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"ok": False, "error": "timed out"}
    except Exception as exc:  # a failed check is a report line, never a 500
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True}


def heartbeat_epoch(value: str) -> float | None:
    """Unix seconds (or milliseconds) or an ISO timestamp; None if the value carries no time,
    in which case the key's presence (it is written with a TTL) is the signal."""
    try:
        number = float(value)
    except ValueError:
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return number / 1000 if number > 1e11 else number
