"""The projection engine against real Redis and Postgres: idempotent, order-tolerant, and it
dead-letters what it cannot apply without holding up the rest of the batch."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import REGISTRY
from sqlalchemy import select

from schemas import names, tables
from schemas.envelope import Envelope
from schemas.identity import user_id_for
from services.devstack.infra import RegionStores
from services.devstack.process import free_port
from services.devstack.redis import start_redis
from streams.record import LogPosition, RawEvent
from streams.wiring import create_engine
from tests.integration.test_projector_support import (
    as_log,
    key_publication,
    postgres_state,
    projector_on,
    redis_state,
    registration,
    session_start,
)


def mixed_log() -> list[RawEvent]:
    envelopes = [
        registration("alice", "us", ms_ago=5),
        registration("alice", "eu", ms_ago=9),  # earlier: wins although it is logged later
        registration("bob"),
        session_start("alice", "s-1"),
        session_start("bob", "s-2", ms_ago=3),
        key_publication("kid-eu", ms_ago=1),
        key_publication("kid-eu", ms_ago=4),  # a restarted endpoint re-publishing its key
    ]
    return as_log(envelopes)


async def test_a_batch_applied_twice_leaves_redis_and_postgres_unchanged(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    log = mixed_log()
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        await stores.projector.apply(log)
        redis_once = await redis_state(stores.redis)
        pg_once = await postgres_state(fresh_postgres_dsn)
        await stores.projector.apply(log)
        assert await redis_state(stores.redis) == redis_once
        assert await postgres_state(fresh_postgres_dsn) == pg_once
    assert len(pg_once[names.TABLE_EVENT_ARCHIVE]) == len(log)


async def test_shuffled_duplicated_batches_give_the_same_state_as_the_log_in_order(
    fresh_region_stores: dict[str, RegionStores],
) -> None:
    log = mixed_log()
    shuffled = log + log[2:5]
    random.Random(7).shuffle(shuffled)
    in_order, scrambled = fresh_region_stores["eu"], fresh_region_stores["us"]
    async with projector_on(in_order.redis_url, in_order.postgres_dsn) as a:
        await a.projector.apply(log)
        expected = await redis_state(a.redis), await postgres_state(in_order.postgres_dsn)
    async with projector_on(scrambled.redis_url, scrambled.postgres_dsn) as b:
        for start in range(0, len(shuffled), 3):
            await b.projector.apply(list(reversed(shuffled[start : start + 3])))
        actual = await redis_state(b.redis), await postgres_state(scrambled.postgres_dsn)
    assert actual == expected
    user = expected[0][names.redis_user_key(user_id_for("alice")).encode()][0]
    assert user[b"password_hash"] == b"$argon2id$from-eu"


async def test_a_malformed_event_is_dead_lettered_and_the_rest_is_applied(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    good = as_log([registration("carol"), session_start("carol", "s-9")])
    bad = RawEvent(LogPosition(names.TOPIC_EVENTS, 0, 99), b"carol", b'{"type": "user.registered"')
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        result = await stores.projector.apply([good[0], bad, good[1]])
        assert (result.applied, result.deadlettered) == (2, 1)
        assert await stores.redis.exists(names.redis_session_key("s-9")) == 1
        [letter] = stores.deadletters.letters
    assert letter.event == bad
    assert letter.reason_class == "decode"
    state = await postgres_state(fresh_postgres_dsn)
    assert len(state[names.TABLE_EVENT_ARCHIVE]) == 2
    [row] = state[names.TABLE_DEADLETTERS]
    assert repr(names.TOPIC_EVENTS) in row
    assert "99" in row
    assert repr(bad.value) in row


async def test_an_event_postgres_rejects_is_dead_lettered_alone(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    # A registration whose user id does not belong to its username collides with the real
    # user's unique username: Postgres refuses it, and only it.
    impostor = registration("dave")
    impostor = Envelope(**{**_fields(impostor), "user_id": user_id_for("not-dave")})
    log = as_log([registration("dave", ms_ago=10), impostor, registration("erin")])
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        result = await stores.projector.apply(log)
        [letter] = stores.deadletters.letters
    assert (result.applied, result.deadlettered) == (2, 1)
    assert letter.event == log[1]
    assert letter.reason_class == "rejected"
    state = await postgres_state(fresh_postgres_dsn)
    assert len(state[names.TABLE_USERS]) == 2
    assert len(state[names.TABLE_DEADLETTERS]) == 1


async def test_a_redis_outage_is_waited_out_not_skipped(
    fresh_postgres_dsn: str, tmp_path: Path
) -> None:
    port = free_port()
    errors_before = _store_errors("redis")
    async with projector_on(f"redis://127.0.0.1:{port}/0", fresh_postgres_dsn) as stores:
        applying = asyncio.create_task(stores.projector.apply(as_log([registration("fred")])))
        await asyncio.sleep(0.5)
        assert not applying.done()
        assert _store_errors("redis") > errors_before
        redis = start_redis(tmp_path / "redis", fixed_port=port, die_with_parent=True)
        try:
            result = await asyncio.wait_for(applying, timeout=10)
            assert result.applied == 1
            assert await stores.redis.hget(names.redis_user_key(user_id_for("fred")), "username")
        finally:
            redis.stop()
    assert stores.projector.failing_since is None


async def test_a_published_key_reads_back_as_its_first_publication(
    fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    first, again = key_publication("kid-x", ms_ago=50), key_publication("kid-x")
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        await stores.projector.apply(as_log([again, first]))
        raw = await stores.redis.hget(names.redis_signing_keys_key(), "kid-x")
    assert raw is not None
    entry = orjson.loads(raw)
    assert entry["event_id"] == first.event_id
    assert entry["public_jwk"]["crv"] == "Ed25519"
    engine = create_engine(fresh_postgres_dsn)
    async with engine.connect() as conn:
        row = (await conn.execute(select(tables.signing_keys))).one()
    await engine.dispose()
    assert row.event_id == first.event_id
    assert row.public_jwk == dict(first.payload.public_jwk)


def _fields(envelope: Envelope) -> dict[str, Any]:
    return {name: getattr(envelope, name) for name in Envelope.__dataclass_fields__}


def _store_errors(store: str) -> float:
    value = REGISTRY.get_sample_value("authplane_projector_store_errors_total", {"store": store})
    return value or 0.0
