"""Refresh grants through HTTP (no password hashing on the path), per core of the login endpoint."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

import httpx

from bench.login import CLIENT, PASSWORD, stack_login_url
from bench.report import figure, heading
from services.devstack.stack import Stack

CLIENTS = 16
SESSIONS_PER_CLIENT = 8


@dataclass
class _Tally:
    ok: int = 0
    retry: int = 0  # 503: the region had not projected the previous rotation yet
    tokens: list[list[str]] = field(default_factory=list)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to turn throughput into per-core."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _box_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def _login_pid(stack: Stack, region: str) -> int:
    return next(
        p.pid
        for p in stack.apps
        if p.details.get("service") == "login" and p.details.get("region") == region
    )


async def _sessions(client: httpx.AsyncClient, url: str, username: str, count: int) -> list[str]:
    form = {"grant_type": "password", "username": username, "password": PASSWORD, **CLIENT}
    refresh_tokens = []
    for _ in range(count):
        response = await client.post(f"{url}/oauth2/token", data=form)
        response.raise_for_status()
        refresh_tokens.append(response.json()["refresh_token"])
    return refresh_tokens


async def _client_loop(
    client: httpx.AsyncClient, url: str, tokens: list[str], tally: _Tally, until: float
) -> None:
    # Round-robin over its own sessions, so the region has usually projected a session's last
    # rotation by the time the client comes back to it (a 503 is retried, and counted).
    i = 0
    while time.perf_counter() < until:
        slot = i % len(tokens)
        form = {"grant_type": "refresh_token", "refresh_token": tokens[slot], **CLIENT}
        response = await client.post(f"{url}/oauth2/token", data=form)
        if response.status_code == 503:
            tally.retry += 1
            await asyncio.sleep(0.002)
            continue
        if response.status_code != 200:
            raise RuntimeError(f"refresh failed: {response.status_code} {response.text}")
        tokens[slot] = response.json()["refresh_token"]
        tally.ok += 1
        i += 1


async def _run(stack: Stack, url: str, tally: _Tally, seconds: float) -> tuple[float, float, float]:
    """Wall seconds, the eu login process's CPU seconds, the whole machine's busy CPU seconds."""
    pid = _login_pid(stack, "eu")
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        cpu0, box0, wall0 = _cpu_seconds(pid), _box_busy_seconds(), time.perf_counter()
        until = wall0 + seconds
        await asyncio.gather(
            *(_client_loop(client, url, tokens, tally, until) for tokens in tally.tokens)
        )
        wall = time.perf_counter() - wall0
        return wall, _cpu_seconds(pid) - cpu0, _box_busy_seconds() - box0


async def bench_refresh(stack: Stack, username: str, seconds: float) -> None:
    heading(
        "refresh grants/s through HTTP, per core of the login endpoint",
        f"{seconds:.0f} s of POST /oauth2/token (grant_type=refresh_token) to region eu from "
        f"{CLIENTS} concurrent clients, each rotating {SESSIONS_PER_CLIENT} sessions of its own "
        "round-robin (each answer's new refresh token is the next one sent); every grant reads "
        "the session and revocation state from Redis, signs the access token "
        "and waits for the broker's acks=all on token.refreshed. Per core = grants / CPU seconds "
        "the eu login process used (from /proc), the whole two-region stack running on this box",
    )
    url = stack_login_url(stack, "eu")
    tally = _Tally()
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(CLIENTS):
            tally.tokens.append(await _sessions(client, url, username, SESSIONS_PER_CLIENT))
    await _run(stack, url, tally, 2.0)  # warm-up; sessions are projected by now
    tally.ok = tally.retry = 0
    wall, cpu, box = await _run(stack, url, tally, seconds)
    figure("refresh grants", tally.ok / wall, "grants/s")
    figure("login endpoint CPU", cpu / wall, "cores busy")
    # Client, both projectors, Redis, Postgres and the broker share the machine with it.
    figure(f"machine CPU (of {os.cpu_count()} cores)", box / wall, "cores busy")
    figure("refresh grants per core", tally.ok / cpu if cpu else 0.0, "grants/s/core")
    figure("503 retries (rotation not projected yet)", tally.retry / wall, "answers/s")
