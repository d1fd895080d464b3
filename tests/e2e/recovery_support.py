"""How the recovery drills drive a stack: the `authplane` recovery commands as an operator runs
them, bulk events straight onto the log, and reads of a region's replay checkpoint."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from schemas import names
from schemas.codec import encode
from schemas.envelope import utc_now, wrap
from schemas.events import SessionStarted, UserRegistered
from services.devstack.stack import Stack
from tests.e2e.drive import eventually


def authplane(stack: Stack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUTHPLANE_STACK_FILE": str(stack.stack_file)}
    return subprocess.run(
        [sys.executable, "-m", "services.admin.authplane", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def replay_process(stack: Stack, *args: str) -> subprocess.Popen[str]:
    """The engine itself (what `authplane replay` runs), so a test can SIGKILL exactly it."""
    argv = [sys.executable, "-m", "streams.replay", "--stack-file", str(stack.stack_file)]
    return subprocess.Popen(
        [*argv, "replay", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def checksum(stack: Stack, region: str) -> dict[str, object]:
    result = authplane(stack, "checksum", "--region", region, "--json")
    assert result.returncode == 0, result.stderr
    doc: dict[str, object] = orjson.loads(result.stdout)
    return doc


def kinds(doc: dict[str, object]) -> object:
    return doc["kinds"]


def converged(stack: Stack, within_s: float = 40.0) -> dict[str, object]:
    """Wait until every region's state has the same checksum; returns eu's."""

    def same() -> dict[str, object] | None:
        docs = [checksum(stack, region) for region in stack.settings]
        overall = {str(doc["overall"]) for doc in docs}
        return docs[0] if len(overall) == 1 else None

    result: dict[str, object] = eventually(same, within_s=within_s, every_s=0.5)
    return result


def summary_number(output: str, label: str) -> int:
    for line in output.splitlines():
        if line.strip().startswith(label):
            return int(line.split()[-1].replace(",", ""))
    raise AssertionError(f"no {label!r} line in:\n{output}")


async def _produce_bulk(bootstrap: str, users: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    expires = utc_now() + timedelta(hours=2)
    try:
        for i in range(users):
            user = f"bulk-{i:06d}"
            registered = wrap(
                UserRegistered(username=user, password_hash="$argon2id$bulk"),
                user_id=user,
                origin_region="eu",
                correlation_id="drill",
            )
            started = SessionStarted(
                session_id=f"{user}-s",
                client_id="drill",
                access_jti=f"{user}-j",
                refresh_token_hash="ab" * 32,
                signing_kid="drill-kid",
                expires_at=expires,
            )
            session = wrap(started, user_id=user, origin_region="us", correlation_id="drill")
            for envelope in (registered, session):
                await producer.send(
                    names.TOPIC_EVENTS, encode(envelope), key=envelope.partition_key
                )
        await producer.flush()
    finally:
        await producer.stop()


def produce_bulk(stack: Stack, users: int) -> None:
    asyncio.run(_produce_bulk(stack.kafka_bootstrap, users))


def checkpoint_progress(stack: Stack, region: str) -> int:
    async def read() -> int:
        conn = await asyncpg.connect(stack.settings[region].postgres_dsn)
        try:
            table = names.TABLE_REPLAY_CHECKPOINTS
            value = await conn.fetchval(f"SELECT coalesce(sum(next_offset), 0) FROM {table}")  # noqa: S608
            return int(value)
        except asyncpg.UndefinedTableError:
            return 0
        finally:
            await conn.close()

    return asyncio.run(read())
