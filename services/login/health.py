"""Readiness: every dependency a login needs answers, and the projector is keeping up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import text

from schemas import names
from services.login.bootstrap import Runtime

CHECK_TIMEOUT_S = 2.0
HEARTBEAT_MAX_AGE_S = 30.0


async def readiness(rt: Runtime) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Callable[[Runtime], Awaitable[None]]] = {
        "broker": _broker,
        "redis": _redis,
        "postgres": _postgres,
        "projector": _projector,
    }
    results = await asyncio.gather(*(_run(check, rt) for check in checks.values()))
    report = dict(zip(checks, results, strict=True))
    return all(r["ok"] for r in report.values()), report


async def _run(check: Callable[[Runtime], Awaitable[None]], rt: Runtime) -> dict[str, Any]:
    try:
        await asyncio.wait_for(check(rt), CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"ok": False, "error": "timed out"}
    except Exception as exc:  # a failed check is a report line, never a 500
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True}


async def _broker(rt: Runtime) -> None:
    await rt.producer.client.fetch_all_metadata()


async def _redis(rt: Runtime) -> None:
    await cast(Awaitable[Any], rt.redis.ping())


async def _postgres(rt: Runtime) -> None:
    async with rt.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


class StaleHeartbeat(Exception):
    pass


async def _projector(rt: Runtime) -> None:
    key = names.redis_projector_heartbeat_key(rt.settings.region)
    raw = await cast(Awaitable[bytes | None], rt.redis.get(key))
    if raw is None:
        raise StaleHeartbeat("no heartbeat")
    beat = heartbeat_epoch(raw.decode(errors="replace"))
    if beat is not None and time.time() - beat > HEARTBEAT_MAX_AGE_S:
        raise StaleHeartbeat("heartbeat too old")


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
