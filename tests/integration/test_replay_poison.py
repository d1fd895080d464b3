"""The replay tool drives the same projector: poison records from a real log are dead-lettered
with their reasons (judged against each record's log timestamp), and the rest is replayed."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from schemas import names, tables
from schemas.codec import encode
from schemas.envelope import Envelope, utc_now
from schemas.events import LoginFailed
from services.devstack.infra import RegionStores
from streams.wiring import create_engine
from tests.integration.replay_harness import engine_cli, number, publish, write_stack_file
from tests.integration.test_projector_support import event, registration, session_start

DAY_MS = 86_400_000


@pytest.fixture
def stack_file(
    tmp_path: Path, fresh_broker: str, fresh_region_stores: dict[str, RegionStores]
) -> Path:
    return write_stack_file(tmp_path / "stack.json", fresh_broker, fresh_region_stores)


async def _publish_logged_at(bootstrap: str, envelope: Envelope, timestamp_ms: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            names.TOPIC_EVENTS,
            encode(envelope),
            key=envelope.partition_key,
            timestamp_ms=timestamp_ms,
        )
    finally:
        await producer.stop()


async def test_replay_dead_letters_poison_with_reasons_and_applies_the_rest(
    stack_file: Path, fresh_broker: str, fresh_region_stores: dict[str, RegionStores]
) -> None:
    nul = session_start("pia", "s-nul")
    nul = dataclasses.replace(nul, payload=dataclasses.replace(nul.payload, client_id="a\x00"))
    oversized = session_start("pia", secrets.token_hex(4000))
    future = dataclasses.replace(
        event(LoginFailed(client_ip="192.0.2.9"), "pia"), occurred_at=utc_now() + timedelta(days=1)
    )
    await publish(fresh_broker, [registration("pia"), nul, oversized, future])
    # Written "now" by its own account, but the log took it a day ago: its time is implausible
    # whatever the replaying machine's clock says.
    backdated = event(LoginFailed(client_ip="192.0.2.9"), "pia")
    now_ms = int(utc_now().timestamp() * 1000)
    await _publish_logged_at(fresh_broker, backdated, now_ms - DAY_MS)
    await publish(fresh_broker, [session_start("pia", "s-good")])

    result = await engine_cli(stack_file, "replay", "--region", "eu")

    assert result.returncode == 2, result.stderr
    assert number(result.stdout, "events read") == "6"
    assert number(result.stdout, "applied") == "2"
    assert number(result.stdout, "dead-lettered") == "4"
    assert "U+0000" in result.stdout
    assert "index row" in result.stdout
    assert result.stdout.count("implausible: occurred_at") == 2
    engine = create_engine(fresh_region_stores["eu"].postgres_dsn)
    try:
        async with engine.connect() as conn:
            reasons = (await conn.execute(select(tables.deadletters.c.reason))).scalars().all()
            sessions = (await conn.execute(select(tables.sessions.c.session_id))).scalars().all()
    finally:
        await engine.dispose()
    assert len(reasons) == 4
    assert all(reason.split(":")[0] in ("decode", "rejected", "implausible") for reason in reasons)
    assert sessions == ["s-good"]
