"""Issue 12: client events on a real broker, replayed into real Redis and Postgres; read back by
``ClientRegistry`` with its fallback, and covered by ``checksum`` / ``verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from schemas import names
from schemas.client_secrets import client_secret_matches
from schemas.envelope import Envelope, wrap
from services.core.clients import ClientRegistry
from services.core.readmodel import StoreUnavailable, make_engine, make_redis
from services.devstack.infra import RegionStores
from services.devstack.process import free_port
from tests.integration.replay_harness import engine_cli, publish, write_stack_file
from tests.unit import client_samples as cs


def client_event(payload: Any, region: str = "eu") -> Envelope:
    key = names.client_partition_key(payload.client_id)
    return wrap(payload, user_id=key, origin_region=region, correlation_id="test")


LOG = [
    client_event(cs.client_registered("app-0", 1)),
    client_event(cs.client_updated("app-0", 2), "us"),
    client_event(cs.client_rotated("app-0", 3)),
    client_event(cs.client_disabled("app-0")),
    client_event(cs.client_registered("app-1", 0)),
    client_event(cs.client_updated("ghost", 0)),  # never registered: stays unknown
]


@pytest.fixture
def stack_file(
    tmp_path: Path, fresh_broker: str, fresh_region_stores: dict[str, RegionStores]
) -> Path:
    return write_stack_file(tmp_path / "stack.json", fresh_broker, fresh_region_stores)


async def test_replayed_clients_read_back_from_redis_and_postgres_alike(
    stack_file: Path, fresh_broker: str, fresh_region_stores: dict[str, RegionStores]
) -> None:
    await publish(fresh_broker, LOG)
    replayed = await engine_cli(stack_file, "replay", "--region", "eu")
    assert replayed.returncode == 0, replayed.stderr
    eu = fresh_region_stores["eu"]
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    dead_pg = f"postgresql://postgres@127.0.0.1:{free_port()}/authplane"

    from_redis = await _get(eu.redis_url, eu.postgres_dsn, "app-0")
    from_postgres = await _get(dead_redis, eu.postgres_dsn, "app-0")

    assert from_redis == from_postgres
    assert from_redis is not None
    assert from_redis.name == "app-0 u2"  # the update's configuration
    assert from_redis.client_type == "public"
    assert from_redis.disabled
    assert client_secret_matches(from_redis.secret_hash, "rotated-app-0-3")
    assert not client_secret_matches(from_redis.secret_hash, "secret-app-0-1")
    assert await _get(eu.redis_url, eu.postgres_dsn, "ghost") is None
    assert await _get(dead_redis, eu.postgres_dsn, "ghost") is None
    assert await _get(eu.redis_url, eu.postgres_dsn, "nobody") is None
    with pytest.raises(StoreUnavailable):
        await _get(dead_redis, dead_pg, "app-0")


async def test_checksum_counts_clients_and_verify_finds_a_changed_one(
    stack_file: Path, fresh_broker: str, fresh_region_stores: dict[str, RegionStores]
) -> None:
    await publish(fresh_broker, LOG)
    assert (await engine_cli(stack_file, "replay", "--region", "eu")).returncode == 0
    checksum = await engine_cli(stack_file, "checksum", "--region", "eu", "--json")
    kinds = orjson.loads(checksum.stdout)["kinds"]
    clean = await engine_cli(stack_file, "verify", "--region", "eu")
    eu = fresh_region_stores["eu"]
    redis = Redis.from_url(eu.redis_url)
    try:
        await redis.hset(names.redis_client_key("app-1"), "scopes", '["admin"]')
    finally:
        await redis.aclose()
    conn = await asyncpg.connect(eu.postgres_dsn)
    try:
        await conn.execute(f"DELETE FROM {names.TABLE_OAUTH_CLIENTS} WHERE client_id = 'app-0'")  # noqa: S608
    finally:
        await conn.close()

    drifted = await engine_cli(stack_file, "verify", "--region", "eu")

    # app-0, app-1 and the unregistered ghost's kept update: three rows and three hashes.
    assert kinds["pg oauth_clients"]["count"] == 3
    assert kinds["redis client:v1:"]["count"] == 3
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    rows = {
        words[1]: words[2:]
        for words in map(str.split, drifted.stdout.splitlines())
        if len(words) == 5 and words[0] in ("pg", "redis")
    }
    assert rows["oauth_clients"] == ["1", "0", "0"]  # pg: one missing
    assert rows["client:v1:"] == ["0", "0", "1"]  # redis: one different


async def _get(redis_url: str, dsn: str, client_id: str) -> Any:
    redis, engine = make_redis(redis_url), make_engine(dsn)
    try:
        return await ClientRegistry(redis, engine).get(client_id)
    finally:
        await redis.aclose()
        await engine.dispose()
