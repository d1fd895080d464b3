"""Projector throughput against a raw batched write of the same rows and keys.

Both write ``session.started``-shaped data into fresh, migrated databases on the same Redis and
Postgres servers: the projector through decode -> reduce -> executor, the floor as hand-written
asyncpg ``unnest`` inserts plus a plain Redis pipeline carrying the same commands.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from bench.report import figure, heading, ratio
from schemas import codec, names
from schemas.envelope import Envelope, wrap
from schemas.events import SessionStarted
from services.devstack.infra import RegionInfra
from streams.deadletter import DeadLetter
from streams.executor import StoreExecutor
from streams.postgres import PostgresExecutor
from streams.projector import Projector
from streams.record import LogPosition, RawEvent
from streams.redis_ops import RedisExecutor

BATCH = 1000


class _NoDeadLetters:
    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        raise AssertionError(f"benchmark events were dead-lettered: {letters[0].text}")


def make_events(count: int, users: int = 1000) -> list[RawEvent]:
    expires = datetime.now(UTC) + timedelta(days=1)
    out = []
    for i in range(count):
        payload = SessionStarted(
            session_id=f"s{i:09d}",
            client_id="bench",
            access_jti=f"j{i:09d}",
            refresh_token_hash="ab" * 32,
            signing_kid="bench-kid",
            expires_at=expires,
        )
        envelope = wrap(payload, user_id=f"u{i % users}", origin_region="eu", correlation_id="b")
        position = LogPosition(names.TOPIC_EVENTS, i % 8, i // 8)
        out.append(RawEvent(position, envelope.user_id.encode(), codec.encode(envelope)))
    return out


def _pg_dsn(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


async def run_projector(events: list[RawEvent], redis_url: str, dsn: str) -> float:
    engine = create_async_engine(_pg_dsn(dsn), pool_size=2)
    redis = Redis.from_url(redis_url)
    projector = Projector(
        StoreExecutor(PostgresExecutor(engine), RedisExecutor(redis)), _NoDeadLetters()
    )
    started = time.perf_counter()
    for i in range(0, len(events), BATCH):
        await projector.apply(events[i : i + BATCH])
    took = time.perf_counter() - started
    await redis.aclose()
    await engine.dispose()
    return len(events) / took


ARCHIVE_SQL = f"""
INSERT INTO {names.TABLE_EVENT_ARCHIVE}
  (event_id, type, version, user_id, origin_region, occurred_at, topic, log_partition,
   log_offset, body)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::text[], $8::int[], $9::bigint[], $10::bytea[])
ON CONFLICT DO NOTHING
"""  # noqa: S608 (table names are constants)
SESSIONS_SQL = f"""
INSERT INTO {names.TABLE_SESSIONS}
  (session_id, user_id, client_id, origin_region, started_at, expires_at, refresh_token_hash,
   access_jti, signing_kid, start_event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                     $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::uuid[])
ON CONFLICT DO NOTHING
"""  # noqa: S608


async def run_floor(events: list[RawEvent], redis_url: str, dsn: str) -> float:
    """The same rows and Redis commands with no decoding, reducing or ORM: the write floor."""
    rows = [(e, codec.decode(e.value)) for e in events]  # decoded before the clock starts
    conn = await asyncpg.connect(dsn)
    redis = Redis.from_url(redis_url)
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        chunk = rows[i : i + BATCH]
        async with conn.transaction():
            await conn.execute(ARCHIVE_SQL, *_archive_columns(chunk))
            await conn.execute(SESSIONS_SQL, *_session_columns(chunk))
        pipe = redis.pipeline(transaction=False)
        for _, env in chunk:
            p = env.payload
            expire = int(p.expires_at.timestamp())
            key = names.redis_session_key(p.session_id)
            pipe.hset(key, items=[part for item in _session_hash(env).items() for part in item])
            pipe.expireat(key, expire)
            index = names.redis_user_sessions_key(env.user_id)
            pipe.zadd(index, {p.session_id: int(env.occurred_at.timestamp() * 1000)})
            pipe.expireat(index, expire)
        await pipe.execute()
    took = time.perf_counter() - started
    await redis.aclose()
    await conn.close()
    return len(events) / took


def _archive_columns(chunk: list[tuple[RawEvent, Envelope]]) -> list[list[object]]:
    return [
        [env.event_id for _, env in chunk],
        [env.type for _, env in chunk],
        [env.version for _, env in chunk],
        [env.user_id for _, env in chunk],
        [env.origin_region for _, env in chunk],
        [env.occurred_at for _, env in chunk],
        [e.position.topic for e, _ in chunk],
        [e.position.partition for e, _ in chunk],
        [e.position.offset for e, _ in chunk],
        [e.value for e, _ in chunk],
    ]


def _session_columns(chunk: list[tuple[RawEvent, Envelope]]) -> list[list[object]]:
    return [
        [env.payload.session_id for _, env in chunk],
        [env.user_id for _, env in chunk],
        [env.payload.client_id for _, env in chunk],
        [env.origin_region for _, env in chunk],
        [env.occurred_at for _, env in chunk],
        [env.payload.expires_at for _, env in chunk],
        [env.payload.refresh_token_hash for _, env in chunk],
        [env.payload.access_jti for _, env in chunk],
        [env.payload.signing_kid for _, env in chunk],
        [env.event_id for _, env in chunk],
    ]


def _session_hash(env: Envelope) -> dict[str, str]:
    p = env.payload
    return {
        "session_id": p.session_id,
        "user_id": env.user_id,
        "client_id": p.client_id,
        "origin_region": env.origin_region,
        "started_at": str(int(env.occurred_at.timestamp())),
        "expires_at": str(int(p.expires_at.timestamp())),
        "refresh_token_hash": p.refresh_token_hash,
        "access_jti": p.access_jti,
        "signing_kid": p.signing_kid,
        "start_event_id": env.event_id,
    }


async def bench_projector(infra: RegionInfra, count: int) -> None:
    heading(
        "projector: events/s applied to Redis + Postgres",
        f"{count:,} session.started events, batches of {BATCH}, each into a fresh migrated "
        "database and Redis db on the same servers; floor = the same rows via asyncpg unnest "
        "plus the same Redis commands in one pipeline per batch, no decode/reduce",
    )
    events = make_events(count)
    floor = await run_floor(events, infra.fresh_redis_url(), infra.fresh_postgres_dsn("floor"))
    measured = await run_projector(
        events, infra.fresh_redis_url(), infra.fresh_postgres_dsn("proj")
    )
    figure("raw batched write floor", floor, "events/s")
    figure("projector (decode, reduce, execute)", measured, "events/s")
    ratio("projector / floor", measured, floor, ">= 0.5")
