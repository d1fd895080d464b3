"""The embedded infrastructure really runs, really answers, and really stops."""

from __future__ import annotations

import os
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import psutil
import pytest
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.devstack.broker import start_broker
from services.devstack.infra import RegionInfra, RegionStores, start_region_infra
from services.devstack.postgres import PG_USER
from services.devstack.process import InfraError, ManagedProcess, find_binary

pytestmark = pytest.mark.integration


def _gone(proc: ManagedProcess) -> bool:
    return not psutil.pid_exists(proc.pid) or (
        psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE
    )


async def test_broker_answers_metadata_and_creates_topics(kafka_bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("devstack-probe", 3, 1)])
        assert "devstack-probe" in await admin.list_topics()
    finally:
        await admin.close()


async def test_each_region_has_its_own_redis_and_postgres(
    region_stores: dict[str, RegionInfra],
) -> None:
    assert set(region_stores) == {"eu", "us"}
    ports = {s.redis_url for s in region_stores.values()}
    assert len(ports) == 2
    for stores in region_stores.values():
        client = aioredis.from_url(stores.redis_url)
        try:
            assert await client.ping()
        finally:
            await client.aclose()
        conn = await asyncpg.connect(stores.postgres_dsn)
        try:
            assert await conn.fetchval("SELECT current_database()") == "authplane"
        finally:
            await conn.close()


def test_postgres_never_runs_as_root(region_stores: dict[str, RegionInfra]) -> None:
    # CI and this machine run as root, where initdb/postgres refuse to start.
    server = psutil.Process(region_stores["eu"].postgres.pid)
    expected = PG_USER if os.geteuid() == 0 else psutil.Process().username()
    assert server.username() == expected
    assert server.ppid() == os.getpid()  # our direct child: we hold the PID we stop


async def test_fresh_postgres_databases_are_isolated(
    fresh_postgres_dsn: str, region_stores: dict[str, RegionInfra]
) -> None:
    other = region_stores["eu"].fresh_postgres_dsn()
    try:
        conn = await asyncpg.connect(fresh_postgres_dsn)
        try:
            await conn.execute("CREATE TABLE only_here (x int)")
        finally:
            await conn.close()
        conn = await asyncpg.connect(other)
        try:
            found = await conn.fetchval("SELECT to_regclass('only_here')")
            assert found is None
        finally:
            await conn.close()
    finally:
        region_stores["eu"].drop_database(other)


async def test_fresh_redis_url_starts_empty(
    fresh_redis_url: str, region_stores: dict[str, RegionInfra]
) -> None:
    client = aioredis.from_url(fresh_redis_url)
    try:
        assert await client.dbsize() == 0
        await client.set("k", "v")
        assert fresh_redis_url != region_stores["eu"].redis_url
    finally:
        await client.aclose()
    again = aioredis.from_url(region_stores["eu"].fresh_redis_url())
    try:
        assert await again.dbsize() == 0
    finally:
        await again.aclose()


async def test_fresh_region_stores_cover_every_region(
    fresh_region_stores: dict[str, RegionStores],
) -> None:
    assert set(fresh_region_stores) == {"eu", "us"}
    dsns = {s.postgres_dsn for s in fresh_region_stores.values()}
    assert len(dsns) == 2


async def test_fresh_broker_has_an_empty_log(fresh_broker: str, kafka_bootstrap: str) -> None:
    assert fresh_broker != kafka_bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=fresh_broker)
    await admin.start()
    try:
        assert "devstack-probe" not in await admin.list_topics()
    finally:
        await admin.close()


def test_stop_ends_every_pid_and_frees_the_ports(tmp_path: Path) -> None:
    started = time.monotonic()
    broker = start_broker(tmp_path)
    infra = start_region_infra("eu", tmp_path, durable=False)
    assert time.monotonic() - started < 15
    procs = [broker, infra.redis, infra.postgres]
    assert all(p.alive() for p in procs)
    infra.stop()
    broker.stop()
    assert all(_gone(p) for p in procs)
    assert all(p.popen.returncode == 0 for p in procs)  # clean shutdowns, not SIGKILL


def test_stop_escalates_to_sigkill_when_term_is_ignored(tmp_path: Path) -> None:
    import signal
    import sys

    from services.devstack.process import spawn

    stubborn = spawn(
        "stubborn",
        [sys.executable, "-c",
         "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
         "print('ready', flush=True); time.sleep(60)"],
        log_path=tmp_path / "stubborn.log",
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while "ready" not in stubborn.log_tail() and time.monotonic() < deadline:
        time.sleep(0.02)
    stubborn.stop(timeout=0.5)
    assert stubborn.popen.returncode == -signal.SIGKILL


def test_explicit_binary_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="not an executable"):
        find_binary("tansu", tmp_path / "nope", [])
    with pytest.raises(InfraError, match="not an executable"):
        start_broker(tmp_path, binary=tmp_path / "nope")
