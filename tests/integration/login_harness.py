"""A login endpoint on real infrastructure, for the login and authctl integration tests.

Seeds projections by writing the Redis/Postgres rows in the projector's layout: the projector is
not under test here (the e2e suite covers the full path through it).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from schemas import names, tables
from schemas.codec import decode
from schemas.envelope import Envelope, new_event_id
from schemas.identity import normalize_username, user_id_for
from schemas.settings import Settings
from schemas.topics import ensure_topics
from services.core.keys import SigningKey
from services.core.passwords import hash_password
from services.core.readmodel import make_engine
from services.devstack.infra import RegionInfra
from services.devstack.process import ManagedProcess
from services.login.app import create_app
from services.login.wiring import LoginWiring, build_wiring

INTROSPECTION_ID = "rs1"
INTROSPECTION_SECRET = "rs1-secret-value"


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
async def login_on_fresh_stores(
    tmp_path: Path, broker: str, infra: RegionInfra, name: str, **kw: Any
) -> AsyncIterator[Login]:
    """A login endpoint (region eu unless ``kw`` says otherwise) on a fresh Redis database and a
    fresh Postgres database called after ``name``, dropped afterwards."""
    dsn = infra.fresh_postgres_dsn(name)
    settings = login_settings(tmp_path, broker, infra.fresh_redis_url(), dsn, **kw)
    try:
        async with running_login(settings) as running:
            yield running
    finally:
        infra.drop_database(dsn)


def login_fixture(
    name: str, prepare: Callable[[Login], Awaitable[None]] | None = None, **kw: Any
) -> Any:
    """A module-scoped pytest fixture ``login``: ``login_on_fresh_stores`` on the shared broker
    and region eu's stores, after ``prepare(login)`` (seeding) if given. Assign it to a module
    global: ``login = login_fixture("mytests")``."""

    async def login(
        tmp_path_factory: pytest.TempPathFactory,
        shared_broker: ManagedProcess,
        region_stores: dict[str, RegionInfra],
    ) -> AsyncIterator[Login]:
        tmp_path = tmp_path_factory.mktemp("login")
        infra = region_stores["eu"]
        async with login_on_fresh_stores(tmp_path, shared_broker.address, infra, name, **kw) as lg:
            if prepare is not None:
                await prepare(lg)
            yield lg

    return pytest.fixture(scope="module", name="login")(login)


def user_row(settings: Settings, username: str, password: str) -> dict[str, Any]:
    name = normalize_username(username)
    return {
        "user_id": user_id_for(name),
        "username": name,
        "password_hash": hash_password(settings, password),
        "registration_event_id": new_event_id(),
        "registered_at": datetime.now(UTC),
        "origin_region": settings.region,
    }


async def seed_user_redis(settings: Settings, username: str, password: str) -> str:
    row = user_row(settings, username, password)
    cached: dict[str | bytes, str | bytes] = {k: str(v) for k, v in row.items()}
    redis = Redis.from_url(settings.redis_url)
    try:
        await redis.hset(names.redis_user_key(row["user_id"]), mapping=cached)  # type: ignore[arg-type]
    finally:
        await redis.aclose()
    return str(row["user_id"])


async def seed_user_postgres(settings: Settings, dsn: str, username: str, password: str) -> str:
    row = user_row(settings, username, password)
    engine = make_engine(dsn)
    try:
        async with engine.begin() as conn:
            await conn.execute(tables.users.insert().values(**row))
    finally:
        await engine.dispose()
    return str(row["user_id"])


async def events_on_topic(
    bootstrap: str, wanted: Callable[[Envelope], bool], timeout_s: float = 10.0
) -> list[Envelope]:
    """Every event the predicate accepts, once at least one arrived (or the timeout passed)."""
    consumer = AIOKafkaConsumer(
        names.TOPIC_EVENTS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    found: list[Envelope] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not found and time.monotonic() < deadline:
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


async def project_signing_key(
    redis_url: str, key: SigningKey, region: str, issuer: str | None = None
) -> None:
    """What a region's projector writes once ``region``'s signing_key.published arrives."""
    entry: dict[str, Any] = {
        "kid": key.kid,
        "region": region,
        "alg": key.alg,
        "public_jwk": key.public_jwk,
        "published_at": datetime.now(UTC).isoformat(),
    }
    if issuer is not None:
        entry["issuer"] = issuer
    redis = Redis.from_url(redis_url)
    try:
        await redis.hset(names.redis_signing_keys_key(), key.kid, orjson.dumps(entry))
    finally:
        await redis.aclose()
