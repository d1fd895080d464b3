"""One bad record stops no region: poison produced straight onto the events topic, in the very
partition of a user's later events, is dead-lettered by both regions with its reason, and the
user's login, logout and revocation still take effect in both."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from datetime import timedelta
from functools import partial
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import select

from schemas import names, tables
from schemas.codec import encode
from schemas.envelope import Envelope, utc_now, wrap
from schemas.events import LoginFailed, SessionStarted
from schemas.identity import user_id_for
from services.devstack.stack import Stack
from streams.wiring import create_engine
from tests.e2e.drive import authctl, eventually, introspect, login_url
from tests.e2e.test_revocation_two_regions import REGIONS, login, register, sid_of

USERNAME = "poison-pat"


def _poison(user_id: str) -> list[Envelope]:
    def envelope(payload: Any) -> Envelope:
        return wrap(payload, user_id=user_id, origin_region="eu", correlation_id="attacker")

    started = SessionStarted(
        session_id="s-poison",
        client_id="web\x00",  # valid JSON, valid schema otherwise
        access_jti="jti-poison",
        refresh_token_hash="h",
        signing_kid="kid",
        expires_at=utc_now() + timedelta(hours=1),
    )
    oversized = dataclasses.replace(started, session_id=secrets.token_hex(4000), client_id="web")
    next_year = utc_now() + timedelta(days=365)
    future = [
        dataclasses.replace(envelope(LoginFailed(client_ip="192.0.2.66")), occurred_at=next_year)
        for _ in range(6)
    ]
    return [envelope(started), envelope(oversized), *future]


async def _produce(bootstrap: str, envelopes: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for item in envelopes:
            await producer.send_and_wait(names.TOPIC_EVENTS, encode(item), key=item.partition_key)
    finally:
        await producer.stop()


def _deadletter_reasons(stack: Stack, region: str) -> list[str]:
    async def read() -> list[str]:
        engine = create_engine(stack.settings[region].postgres_dsn)
        try:
            async with engine.connect() as conn:
                query = select(tables.deadletters.c.reason).where(
                    tables.deadletters.c.body.contains(b"attacker")
                )
                return list((await conn.execute(query)).scalars().all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _deadletter_topic_regions(stack: Stack) -> dict[str, list[str]]:
    """Region -> reasons carried in the headers of the dead-letter topic's copies."""

    async def read() -> dict[str, list[str]]:
        consumer = AIOKafkaConsumer(
            names.TOPIC_DEADLETTER,
            bootstrap_servers=stack.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        found: dict[str, list[str]] = {}
        try:
            batches = await consumer.getmany(timeout_ms=2000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    if b"attacker" not in (record.value or b""):
                        continue
                    headers = {k: v.decode() for k, v in record.headers}
                    region = headers[names.HEADER_DEADLETTER_REGION]
                    found.setdefault(region, []).append(headers[names.HEADER_DEADLETTER_REASON])
        finally:
            await consumer.stop()
        return found

    return asyncio.run(read())


def _inactive(stack: Stack, region: str, token: str) -> bool:
    return introspect(stack, region, token)["active"] is False


def _all_deadlettered(stack: Stack) -> bool:
    return all(len(_deadletter_reasons(stack, region)) == 8 for region in REGIONS)


def test_poison_is_dead_lettered_in_both_regions_and_the_user_carries_on(stack: Stack) -> None:
    register(stack, USERNAME)
    before = login(stack, "eu", USERNAME)
    asyncio.run(_produce(stack.kafka_bootstrap, _poison(user_id_for(USERNAME))))

    eventually(lambda: _all_deadlettered(stack), within_s=30)
    for region in REGIONS:
        reasons = _deadletter_reasons(stack, region)
        assert sum("U+0000" in r for r in reasons) == 1, reasons
        assert sum(r.startswith("rejected: postgres") for r in reasons) == 1, reasons
        assert sum(r.startswith("implausible: occurred_at") for r in reasons) == 6, reasons
        ready = httpx.get(f"{login_url(stack, region)}/readyz")
        assert ready.status_code == 200, ready.text
    copies = eventually(
        lambda: (found := _deadletter_topic_regions(stack)).keys() >= {*REGIONS} and found
    )
    assert all(len(reasons) == 8 for reasons in copies.values())

    # The partition moved on: a later login, logout and revocation reach both regions.
    after = login(stack, "us", USERNAME)  # no lockout from failures "dated" next year
    logout = httpx.post(
        f"{login_url(stack, 'us')}/v1/logout",
        headers={"Authorization": f"Bearer {before['access_token']}"},
    )
    assert logout.status_code == 204, logout.text
    for region in REGIONS:
        eventually(partial(_inactive, stack, region, before["access_token"]))
    revoked = authctl(
        stack, "revoke", "session", sid_of(after), "--reason", "poison drill", "--wait"
    )
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    for region in REGIONS:
        assert introspect(stack, region, after["access_token"]) == {"active": False}
