"""A SIGKILLed Postgres keeps every commit it acknowledged to authplane.

- A test-mode server (``durable=False``): the region-crash drill kills a region's Postgres and
  counts what the region lost. With commits acknowledged from shared memory
  (``synchronous_commit=off``) it lost ~20 per second of writes and blamed the projector.
- A server whose operator set ``synchronous_commit=off``: every authplane engine
  (``schemas.postgres_client.make_engine``) commits synchronously all the same, so the projector
  never commits log offsets past read-model rows a crash then drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from schemas.postgres_client import make_engine
from services.devstack.postgres import start_postgres

pytestmark = pytest.mark.integration

ACKNOWLEDGED_BEFORE_KILL = 200
"""Commits acknowledged before the SIGKILL (~20 were lost per second before the fix)."""
WRITE_DEADLINE_S = 20.0


class Acknowledged(list[int]):
    """The ids whose commit returned; ``enough`` is set at ACKNOWLEDGED_BEFORE_KILL of them."""

    def __init__(self) -> None:
        super().__init__()
        self.enough = asyncio.Event()

    def add(self) -> None:
        self.append(len(self))
        if len(self) >= ACKNOWLEDGED_BEFORE_KILL:
            self.enough.set()


Writer = Callable[[str, asyncio.Event, Acknowledged], Coroutine[Any, Any, None]]


async def _write_until_killed(dsn: str, kill: asyncio.Event, acknowledged: Acknowledged) -> None:
    """Insert rows one commit each on a bare asyncpg connection until ``kill`` is set, adding
    to ``acknowledged`` the ids whose commit returned."""
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE acked (id integer PRIMARY KEY)")
    try:
        while not kill.is_set():
            await conn.execute("INSERT INTO acked VALUES ($1)", len(acknowledged))
            acknowledged.add()
    except (asyncpg.PostgresError, OSError):
        pass  # the server died under the last insert: that one was never acknowledged
    finally:
        conn.terminate()


async def _write_through_authplane_engine(
    dsn: str, kill: asyncio.Event, acknowledged: Acknowledged
) -> None:
    """The same through the engine every authplane process builds."""
    engine = make_engine(dsn, timeout_s=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE acked (id integer PRIMARY KEY)"))
        while not kill.is_set():
            async with engine.begin() as conn:
                await conn.execute(
                    text("INSERT INTO acked VALUES (:id)"), {"id": len(acknowledged)}
                )
            acknowledged.add()
    except (SQLAlchemyError, OSError):
        pass  # the server died under the last insert: that one was never acknowledged
    finally:
        await engine.dispose(close=False)


async def _set_asynchronous_commit(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        await conn.execute("SELECT pg_reload_conf()")
        fresh = await asyncpg.connect(dsn)
        assert await fresh.fetchval("SHOW synchronous_commit") == "off"
        await fresh.close()
    finally:
        await conn.close()


async def _present(dsn: str) -> set[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {row["id"] for row in await conn.fetch("SELECT id FROM acked")}
    finally:
        await conn.close()


def _acknowledged_then_missing(
    tmp_path: Path, writer: Writer, asynchronous_server: bool = False
) -> tuple[list[int], set[int]]:
    """Start a test-mode server, write through ``writer`` until ACKNOWLEDGED_BEFORE_KILL commits
    returned, SIGKILL the postmaster,
    start it again on the same data: ``(acknowledged ids, acknowledged ids not there)``."""
    server = start_postgres(tmp_path / "pg", durable=False)
    port = int(server.details["port"])
    kill = asyncio.Event()

    async def write_then_kill() -> list[int]:
        if asynchronous_server:
            await _set_asynchronous_commit(server.address)
        acknowledged = Acknowledged()
        task = asyncio.create_task(writer(server.address, kill, acknowledged))
        with contextlib.suppress(TimeoutError):  # too few: the assertion below says so
            await asyncio.wait_for(acknowledged.enough.wait(), WRITE_DEADLINE_S)
        server.popen.send_signal(signal.SIGKILL)  # the postmaster, mid-stream
        server.popen.wait(10)
        kill.set()
        await task
        return acknowledged

    try:
        acknowledged = asyncio.run(write_then_kill())
    finally:
        server.stop()
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL, "the writer must have committed"
    time.sleep(0.5)  # orphaned backends notice the postmaster's death and leave
    again = start_postgres(tmp_path / "pg", durable=False, fixed_port=port)
    try:
        return acknowledged, set(acknowledged) - asyncio.run(_present(again.address))
    finally:
        again.stop()


def test_a_sigkilled_test_postgres_keeps_every_acknowledged_commit(tmp_path: Path) -> None:
    _, missing = _acknowledged_then_missing(tmp_path, _write_until_killed)
    assert not missing, f"{len(missing)} acknowledged commits lost, e.g. {sorted(missing)[-3:]}"


def test_authplane_commits_survive_a_crash_of_a_server_set_to_asynchronous_commit(
    tmp_path: Path,
) -> None:
    _, missing = _acknowledged_then_missing(
        tmp_path, _write_through_authplane_engine, asynchronous_server=True
    )
    assert not missing, f"{len(missing)} acknowledged commits lost, e.g. {sorted(missing)[-3:]}"


def test_an_authplane_session_commits_synchronously_on_a_server_set_to_off(tmp_path: Path) -> None:
    server = start_postgres(tmp_path / "pg", durable=False)

    async def session_setting() -> str:
        await _set_asynchronous_commit(server.address)
        engine = make_engine(server.address)
        try:
            async with engine.connect() as conn:
                return str(await conn.scalar(text("SHOW synchronous_commit")))
        finally:
            await engine.dispose()

    try:
        assert asyncio.run(session_setting()) == "on"
    finally:
        server.stop()
