"""Readiness: every dependency a login needs answers, and the projector is keeping up; or, while
the emergency login channel is open (``services.login.outbox``), "degraded": logins are still
answered (200, so a front door keeps sending clients here) though the log is not taking them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names
from services.login.events import LogLink
from services.login.outbox import Channel, Outbox

CHECK_TIMEOUT_S = 2.0
HEARTBEAT_MAX_AGE_S = 30.0


class StaleHeartbeat(Exception):
    pass


class LogUnreachable(Exception):
    """The producer has not connected yet (the process started while the log was away)."""


READY, DEGRADED, NOT_READY = "ready", "degraded", "not_ready"


class Readiness:
    """Checks the broker, Redis, Postgres and ``region``'s projector heartbeat, each within
    ``CHECK_TIMEOUT_S``, and the emergency channel (``outbox``, ``channel``)."""

    def __init__(
        self,
        link: LogLink,
        redis: Redis,
        engine: AsyncEngine,
        region: str,
        outbox: Outbox,
        channel: Channel,
    ) -> None:
        self._link = link
        self._redis = redis
        self._engine = engine
        self._region = region
        self._outbox = outbox
        self._channel = channel

    async def __call__(self) -> tuple[str, dict[str, Any]]:
        """(``READY``, ``DEGRADED`` or ``NOT_READY``, the /readyz body: ``checks`` per check
        ``{"ok": bool, "error"?: str}`` and ``emergency_channel`` ``{"open", "depth",
        "oldest_age_s"}``). Degraded: Redis and Postgres answer, the channel is on and within its
        bounds, and it is open (rows pending, or the log unreachable: then the projector, which
        cannot consume either, is not asked)."""
        report = await self.checks()
        if not report["broker"]["ok"]:
            self._channel.log_answered(reachable=False)  # the relay's probe says when it is back
        ok = {name: result["ok"] for name, result in report.items()}
        usable = ok["redis"] and ok["postgres"] and await self._channel_usable()
        stats, is_open = self._channel.stats, self._channel.open  # the broker check is in it
        channel = {"open": is_open, "depth": stats.depth, "oldest_age_s": stats.oldest_age_s}
        body = {"checks": report, "emergency_channel": channel}
        if all(ok.values()) and not is_open:
            return READY, body
        if usable and (self._channel.log_unreachable or (stats.depth > 0 and ok["projector"])):
            return DEGRADED, body
        return NOT_READY, body

    async def _channel_usable(self) -> bool:
        if not self._channel.enabled:
            return False
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                stats = await self._outbox.stats()
                self._channel.observe(stats)
                return self._outbox.within_bounds(stats)
        except Exception:  # Postgres is checked on its own line; here it only means "not usable"
            return False

    async def checks(self) -> dict[str, Any]:
        """Per check ``{"ok": bool, "error"?: str}``."""
        checks: dict[str, Callable[[], Awaitable[None]]] = {
            "broker": self._broker,
            "redis": self._redis_ping,
            "postgres": self._postgres,
            "projector": self._projector,
        }
        results = await asyncio.gather(*(_run(check) for check in checks.values()))
        return dict(zip(checks, results, strict=True))

    async def _broker(self) -> None:
        if self._channel.log_unreachable:
            # Known already (a send or a probe failed, and none succeeded since): answered at
            # once, so a prober with a short timeout (a front door) still gets "degraded".
            raise LogUnreachable("the last attempt to reach the log failed")
        producer = self._link.producer
        if producer is None:
            raise LogUnreachable(self._link.last_error)
        await producer.client.fetch_all_metadata()

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
