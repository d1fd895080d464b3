"""A test-mode Postgres (``durable=False``) that is SIGKILLed keeps every commit it
acknowledged. The region-crash drill kills a region's Postgres and then counts what the region
lost; with commits acknowledged from shared memory (``synchronous_commit=off``) it lost ~20 per
second of writes and blamed the projector for it."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import asyncpg
import pytest

from services.devstack.postgres import start_postgres

pytestmark = pytest.mark.integration

WRITE_S = 1.0


async def _write_until_killed(dsn: str, kill: asyncio.Event) -> list[int]:
    """Insert rows one commit each until ``kill`` is set; the ids whose commit returned."""
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE acked (id integer PRIMARY KEY)")
    acknowledged: list[int] = []
    try:
        while not kill.is_set():
            await conn.execute("INSERT INTO acked VALUES ($1)", len(acknowledged))
            acknowledged.append(len(acknowledged))
    except (asyncpg.PostgresError, OSError):
        pass  # the server died under the last insert: that one was never acknowledged
    finally:
        conn.terminate()
    return acknowledged


async def _present(dsn: str) -> set[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {row["id"] for row in await conn.fetch("SELECT id FROM acked")}
    finally:
        await conn.close()


def test_a_sigkilled_test_postgres_keeps_every_acknowledged_commit(tmp_path: Path) -> None:
    server = start_postgres(tmp_path / "pg", durable=False)
    port = int(server.details["port"])
    kill = asyncio.Event()

    async def write_then_kill() -> list[int]:
        writer = asyncio.create_task(_write_until_killed(server.address, kill))
        await asyncio.sleep(WRITE_S)
        server.popen.send_signal(signal.SIGKILL)  # the postmaster, mid-stream
        server.popen.wait(10)
        kill.set()
        return await writer

    try:
        acknowledged = asyncio.run(write_then_kill())
    finally:
        server.stop()
    assert len(acknowledged) > 100, "the writer must have committed under way"
    time.sleep(0.5)  # orphaned backends notice the postmaster's death and leave
    again = start_postgres(tmp_path / "pg", durable=False, fixed_port=port)
    try:
        missing = set(acknowledged) - asyncio.run(_present(again.address))
    finally:
        again.stop()
    assert not missing, f"{len(missing)} acknowledged commits lost, e.g. {sorted(missing)[-3:]}"
