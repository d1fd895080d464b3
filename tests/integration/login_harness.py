"""A login endpoint on real infrastructure, for the login and authctl integration tests.

``login_fixture`` is the one factory of the ``login`` fixture every login test module uses;
projections are seeded through the real reducers and executors (``login_seeding``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from schemas import names
from schemas.codec import decode
from schemas.envelope import Envelope
from schemas.settings import Settings
from schemas.topics import ensure_topics
from services.devstack.infra import RegionInfra
from services.devstack.process import ManagedProcess
from services.login.app import create_app
from services.login.wiring import LoginWiring, build_wiring
from tests.integration.login_seeding import seed_user_redis

INTROSPECTION_ID = "rs1"
INTROSPECTION_SECRET = "rs1-secret-value"
Prepare = Callable[["Login"], Awaitable[None]]


@dataclass
class Login:
    settings: Settings
    wiring: LoginWiring
    client: httpx.AsyncClient


def login_settings(tmp_path: Path, broker: str, redis_url: str, dsn: str, **kw: Any) -> Settings:
    values: dict[str, Any] = {
        "region": "eu",
        "kafka_bootstrap": broker,
        "redis_url": redis_url,
        "postgres_dsn": dsn,
        "key_dir": tmp_path / "keys",
        "topic_partitions": 2,
        "produce_timeout_s": 1.0,
        "introspection_clients": {INTROSPECTION_ID: INTROSPECTION_SECRET},
        "argon2_threads": 2,
    }
    return Settings(**(values | kw))


@asynccontextmanager
async def running_login(settings: Settings) -> AsyncIterator[Login]:
    await ensure_topics(settings.kafka_bootstrap, settings.topic_partitions, 1)
    wiring = await build_wiring(settings)
    app = create_app(settings, wiring)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://login") as client:
            yield Login(settings, wiring, client)
    finally:
        await wiring.close()


@asynccontextmanager
async def running_login_channel_off(
    tmp_path: Path, broker: str, redis_url: str, dsn: str
) -> AsyncIterator[Login]:
    """``running_login`` with the emergency login channel off: an event the log does not take
    answers 503, as before the channel existed (on, it is answered from the outbox:
    tests/integration/test_emergency_channel.py)."""
    settings = login_settings(tmp_path, broker, redis_url, dsn, emergency_channel=False)
    async with running_login(settings) as login:
        yield login


def login_fixture(
    name: str = "t",
    prepare: Prepare | None = None,
    *,
    scope: Literal["function", "module"] = "module",
    broker: Literal["shared", "own"] = "shared",
    own_redis: bool = False,
    **kw: Any,
) -> Any:
    """A pytest fixture ``login``: an endpoint of region eu (unless ``kw`` says otherwise, ``kw``
    being Settings fields) on a fresh Postgres database called after ``name`` (dropped after)
    and a fresh Redis database of region eu's stores, after ``prepare(login)`` (seeding) if
    given. ``broker="own"`` (function scope only) uses the test's own ``broker``, which the test
    may stop; ``own_redis`` the test's own Redis (``own_redis`` fixture), which it may kill.
    Assign it to a module global: ``login = login_fixture("mytests")``."""
    if scope == "module" and (broker == "own" or own_redis):
        raise ValueError("a test's own broker or Redis needs a function-scoped login")

    async def login(
        request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory,
        region_stores: dict[str, RegionInfra],
    ) -> AsyncIterator[Login]:
        infra = region_stores["eu"]
        process: ManagedProcess = request.getfixturevalue(
            "broker" if broker == "own" else "shared_broker"
        )
        if own_redis:
            redis_url = request.getfixturevalue("own_redis").address
        else:
            redis_url = infra.fresh_redis_url()
        dsn = infra.fresh_postgres_dsn(name)
        tmp_path = tmp_path_factory.mktemp("login")
        settings = login_settings(tmp_path, process.address, redis_url, dsn, **kw)
        try:
            async with running_login(settings) as running:
                if prepare is not None:
                    await prepare(running)
                yield running
        finally:
            infra.drop_database(dsn)

    return pytest.fixture(scope=scope, name="login")(login)


def seeded(*users: tuple[str, str]) -> Prepare:
    """A ``prepare`` that registers each (username, password) in the endpoint's Redis."""

    async def prepare(login: Login) -> None:
        for username, password in users:
            await seed_user_redis(login.settings, username, password)

    return prepare


async def events_on_topic(
    bootstrap: str, wanted: Callable[[Envelope], bool], timeout_s: float = 10.0
) -> list[Envelope]:
    """Every event the predicate accepts, once at least one arrived (or the timeout passed)."""
    return await read_topic(bootstrap, names.TOPIC_EVENTS, wanted, bool, timeout_s)


async def read_topic(
    bootstrap: str,
    topic: str,
    wanted: Callable[[Envelope], bool],
    done: Callable[[list[Envelope]], bool],
    timeout_s: float = 10.0,
) -> list[Envelope]:
    """The events of ``topic`` (from its start) the predicate accepts, read until ``done(found)``
    or ``timeout_s`` seconds passed."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    found: list[Envelope] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not done(found) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                found += [e for e in (decode(r.value) for r in records) if wanted(e)]
    finally:
        await consumer.stop()
    return found


async def set_heartbeat(redis_url: str, region: str, at: float | None = None) -> None:
    redis = Redis.from_url(redis_url)
    try:
        value = str(time.time() if at is None else at)
        await redis.set(names.redis_projector_heartbeat_key(region), value, ex=60)
    finally:
        await redis.aclose()
