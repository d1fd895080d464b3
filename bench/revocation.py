"""Revocation propagation across regions, and introspection throughput over HTTP."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime

import asyncpg
import httpx
import jwt
from redis.asyncio import Redis

from bench.login import CLIENT, PASSWORD, stack_login_url
from bench.report import figure, heading, percentiles
from schemas import names
from schemas.broker import KAFKA, TANSU
from services.devstack.stack import INTROSPECTION_CLIENT_ID, Stack

PROPAGATION_AIM_MS = {TANSU: 20, KAFKA: 10}
"""Issue 13's aim for the revocation propagation p99 (ms) on the dev stack, per broker kind."""


async def _login_many(stack: Stack, username: str, count: int) -> list[str]:
    form = {"grant_type": "password", "username": username, "password": PASSWORD, **CLIENT}
    url = f"{stack_login_url(stack, 'eu')}/oauth2/token"
    tokens: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client:

        async def one() -> None:
            while len(tokens) < count:
                response = await client.post(url, data=form)
                response.raise_for_status()
                tokens.append(response.json()["access_token"])

        await asyncio.gather(*(one() for _ in range(8)))
    return tokens[:count]


async def bench_revocation_propagation(stack: Stack, username: str, count: int) -> None:
    heading(
        "revocation propagation eu -> us",
        f"{count} sessions started in eu, then revoked one at a time with POST /oauth2/revoke "
        "in eu; for each, us's Redis is polled (EXISTS on the revocation key the verifier and "
        "introspection read) until it appears; latency = first time seen minus the revocation "
        "event's time (revoked_at read back from us's Postgres; same machine clock). The real "
        "path: eu's login produces to the log (acks=all), us's projector consumes it and writes "
        "us's Redis; nothing is shortcut. Stages: request -> acknowledged (the revoke answer, "
        "eu's checks and the produce) and acknowledged -> seen in us's Redis (us's consumer "
        "fetch, its revocation agent, the Redis write)",
    )
    tokens = await _login_many(stack, username, count)
    us = stack.settings["us"]
    redis = Redis.from_url(us.redis_url)
    pg = await asyncpg.connect(us.postgres_dsn)
    samples: list[float] = []
    stages: dict[str, list[float]] = {"request -> acknowledged": [], "acknowledged -> seen": []}
    url = f"{stack_login_url(stack, 'eu')}/oauth2/revoke"
    async with httpx.AsyncClient(timeout=30) as client:
        for token in tokens:
            session_id = jwt.decode(token, options={"verify_signature": False})["sid"]
            requested = time.time()
            (await client.post(url, data={"token": token, **CLIENT})).raise_for_status()
            acknowledged = time.time()
            key = names.redis_revoked_session_key(session_id)
            while not await redis.exists(key):
                pass
            seen = time.time()
            revoked_at = await _revoked_at(pg, session_id)
            samples.append((seen - revoked_at.timestamp()) * 1000)
            stages["request -> acknowledged"].append((acknowledged - requested) * 1000)
            stages["acknowledged -> seen"].append((seen - acknowledged) * 1000)
    await redis.aclose()
    await pg.close()
    for name, value in _spread(samples).items():
        figure(name, value, "ms")
    for stage, values in stages.items():
        spread = _spread(values)
        print(f"   {stage}: " + ", ".join(f"{n} {v:.1f} ms" for n, v in spread.items()))
    print(f"   aim: p99 <= {PROPAGATION_AIM_MS[stack.settings['us'].broker_kind]} ms (issue 13)")


def _spread(samples: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of ``samples`` (ms)."""
    spread = percentiles(samples)
    p95 = statistics.quantiles(sorted(samples), n=100, method="inclusive")[94]
    return {"p50": spread["p50"], "p95": p95, "p99": spread["p99"], "max": spread["max"]}


async def _revoked_at(pg: asyncpg.Connection, session_id: str) -> datetime:
    for _ in range(1000):
        value = await pg.fetchval(
            f"SELECT min(revoked_at) FROM {names.TABLE_REVOCATIONS} "  # noqa: S608
            "WHERE kind = 'session' AND subject = $1",
            session_id,
        )
        if value is not None:
            return value  # type: ignore[no-any-return]
        await asyncio.sleep(0.005)
    raise RuntimeError(f"revocation of {session_id} never reached us's Postgres")


async def bench_introspection(stack: Stack, username: str, seconds: float) -> None:
    concurrency = 16
    heading(
        "introspection over HTTP",
        f"{seconds:.0f} s of POST /oauth2/introspect to region us for a token issued in eu "
        f"(RS256; signature, expiry and a Redis revocation read per request), {concurrency} "
        "concurrent clients; the login endpoint is one process (one core)",
    )
    token = (await _login_many(stack, username, 1))[0]
    url = f"{stack_login_url(stack, 'us')}/oauth2/introspect"
    auth = (INTROSPECTION_CLIENT_ID, stack.introspection_secret)
    done = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=30, auth=auth) as client:

        async def loop() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                response = await client.post(url, data={"token": token})
                if response.json().get("active") is not True:
                    raise RuntimeError(f"token not active in us: {response.text}")
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    figure("introspections", done / elapsed, "requests/s")
