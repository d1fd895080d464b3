"""Support for the projector tests (no tests here): building logs of events, and reading back a
region's whole projected state from Redis and Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select

from schemas import names, tables
from schemas.codec import encode
from schemas.envelope import Envelope, Payload, new_event_id, utc_now, wrap
from schemas.events import SessionStarted, SigningKeyPublished, UserRegistered
from schemas.identity import user_id_for
from streams.deadletter import DeadLetter
from streams.executor import StoreExecutor
from streams.postgres import PostgresExecutor
from streams.projector import Backoff, Projector
from streams.record import LogPosition, RawEvent
from streams.redis_ops import RedisExecutor
from streams.wiring import create_engine, create_redis

JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
# Columns stamped by the database at write time, not derived from events.
WRITE_TIME_COLUMNS = {"archived_at", "recorded_at", "id"}


def event(payload: Payload, username: str | None, region: str = "eu", ms_ago: int = 0) -> Envelope:
    now = utc_now()
    at_ms = int(now.timestamp() * 1000) - ms_ago
    return wrap(
        payload,
        user_id=user_id_for(username) if username else None,
        origin_region=region,
        correlation_id="test",
        occurred_at=now - timedelta(milliseconds=ms_ago),
        event_id=new_event_id(at_ms),
    )


def registration(username: str, region: str = "eu", ms_ago: int = 0) -> Envelope:
    payload = UserRegistered(username=username, password_hash=f"$argon2id$from-{region}")
    return event(payload, username, region, ms_ago)


def session_start(username: str, sid: str, ms_ago: int = 0) -> Envelope:
    payload = SessionStarted(
        session_id=sid,
        client_id="web",
        access_jti=f"jti-{sid}",
        refresh_token_hash=f"rth-{sid}",
        signing_kid="kid-eu",
        expires_at=utc_now() + timedelta(hours=1),
    )
    return event(payload, username, ms_ago=ms_ago)


def key_publication(kid: str, ms_ago: int = 0) -> Envelope:
    payload = SigningKeyPublished(kid=kid, region="eu", alg="EdDSA", public_jwk=JWK)
    return event(payload, None, ms_ago=ms_ago)


def as_log(envelopes: list[Envelope], first_offset: int = 0) -> list[RawEvent]:
    return [
        RawEvent(LogPosition(names.TOPIC_EVENTS, 0, first_offset + i), e.partition_key, encode(e))
        for i, e in enumerate(envelopes)
    ]


class RecordingDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)


@dataclass
class Stores:
    redis: Redis
    projector: Projector
    deadletters: RecordingDeadLetters
    dsn: str


@asynccontextmanager
async def projector_on(redis_url: str, dsn: str) -> AsyncIterator[Stores]:
    engine, redis = create_engine(dsn), create_redis(redis_url)
    letters = RecordingDeadLetters()
    executor = StoreExecutor(PostgresExecutor(engine), RedisExecutor(redis))
    projector = Projector(executor, letters, Backoff(first_s=0.02, max_s=0.2))
    try:
        yield Stores(redis, projector, letters, dsn)
    finally:
        await redis.aclose()
        await engine.dispose()


async def postgres_state(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(dsn)
    state: dict[str, list[tuple[Any, ...]]] = {}
    try:
        async with engine.connect() as conn:
            for table in tables.metadata.sorted_tables:
                columns = [c for c in table.columns if c.name not in WRITE_TIME_COLUMNS]
                rows = (await conn.execute(select(*columns))).all()
                state[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    finally:
        await engine.dispose()
    return state


async def redis_state(redis: Redis) -> dict[bytes, Any]:
    state: dict[bytes, Any] = {}
    async for key in redis.scan_iter(count=1000):
        kind = await redis.type(key)
        if kind == b"hash":
            value: Any = await redis.hgetall(key)
        elif kind == b"zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        else:
            value = await redis.get(key)
        state[key] = (value, await redis.ttl(key) > 0)
    return state
