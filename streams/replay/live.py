"""Never race the live projector: refuse while it consumes, or pause it for the replay.

The pause is a lease: a Redis key with a short TTL that the replay renews while it runs. A
replay killed with SIGKILL cannot clear it, so the lease lapses and the live projector resumes
by itself within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from schemas import names
from streams.replay.endpoints import ReplayError

FRESH_S = 3.0
"""A heartbeat younger than this means the live projector is consuming (it beats every 1 s)."""
LEASE_S = 15
RENEW_EVERY_S = 5.0
ACK_TIMEOUT_S = 30.0


async def heartbeat_age(redis: Redis, region: str) -> float | None:
    raw = await redis.get(names.redis_projector_heartbeat_key(region))
    if raw is None:
        return None
    try:
        return max(0.0, time.time() - float(raw))
    except ValueError:
        return 0.0  # a heartbeat we cannot read is still a heartbeat: assume it is live


async def refuse_if_live(redis: Redis, region: str) -> None:
    age = await heartbeat_age(redis, region)
    if age is not None and age < FRESH_S:
        raise ReplayError(
            f"region {region}'s live projector is consuming (heartbeat {age:.1f} s ago): "
            "stop it, or pass --pause-live"
        )


@contextlib.asynccontextmanager
async def paused_live(redis: Redis, region: str) -> AsyncIterator[None]:
    """Hold the pause lease for the body; wait until a live projector has acknowledged it."""
    key = names.redis_projector_pause_key(region)
    token = secrets.token_hex(8)
    if not await redis.set(key, token, nx=True, ex=LEASE_S):
        raise ReplayError(f"another replay already holds region {region}'s pause ({key})")
    stop = asyncio.Event()
    renew = asyncio.create_task(_renew(redis, key, token, stop))
    try:
        age = await heartbeat_age(redis, region)
        if age is not None and age < FRESH_S:
            await _wait_acknowledged(redis, region, token)
        yield
    finally:
        # Stop cooperatively as well as by cancelling: a cancellation swallowed inside a Redis
        # call must not leave the renewer running and the replay unable to finish.
        stop.set()
        renew.cancel()
        await asyncio.wait({renew}, timeout=RENEW_EVERY_S + 5)
        if await redis.get(key) == token.encode():
            await redis.delete(key)


async def _renew(redis: Redis, key: str, token: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(RENEW_EVERY_S)
        await redis.set(key, token, xx=True, ex=LEASE_S)


async def _wait_acknowledged(redis: Redis, region: str, token: str) -> None:
    key = names.redis_projector_paused_key(region)
    deadline = time.monotonic() + ACK_TIMEOUT_S
    while await redis.get(key) != token.encode():
        if time.monotonic() > deadline:
            raise ReplayError(
                f"region {region}'s live projector did not acknowledge the pause within "
                f"{ACK_TIMEOUT_S:.0f} s (is it running this version?)"
            )
        await asyncio.sleep(0.1)
