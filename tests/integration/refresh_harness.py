"""A region for the refresh tests: the login endpoint in-process, and its projector fed from the
real broker on demand (``pump``), so a test decides when the region learns about an event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from schemas import names
from schemas.codec import decode
from schemas.envelope import Envelope
from streams.record import LogPosition, RawEvent
from tests.integration.login_harness import APP, INTROSPECTION_ID, INTROSPECTION_SECRET, Login
from tests.integration.test_projector_support import Stores, projector_on

PASSWORD = "correct horse battery staple"


@dataclass
class Region:
    login: Login
    stores: Stores
    consumer: AIOKafkaConsumer
    seen: list[Envelope]

    async def pump(self, quiet_s: float = 0.3) -> int:
        """Project everything the broker holds that this region has not seen yet."""
        applied = 0
        idle_since = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - idle_since < quiet_s:
            batches = await self.consumer.getmany(timeout_ms=50)
            raw = [
                RawEvent(LogPosition(r.topic, r.partition, r.offset), r.key, r.value)
                for records in batches.values()
                for r in records
            ]
            if raw:
                await self.stores.projector.apply(raw)
                self.seen += [decode(r.value) for r in raw]
                applied += len(raw)
                idle_since = asyncio.get_running_loop().time()
        return applied

    async def password_login(self, username: str) -> dict[str, Any]:
        form = {"grant_type": "password", **APP, "username": username, "password": PASSWORD}
        response = await self.login.client.post("/oauth2/token", data=form)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def refresh(self, refresh_token: str, **extra: str) -> httpx.Response:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **APP, **extra}
        return await self.login.client.post("/oauth2/token", data=form)

    async def active(self, access_token: str) -> bool:
        response = await self.login.client.post(
            "/oauth2/introspect",
            data={"token": access_token},
            auth=(INTROSPECTION_ID, INTROSPECTION_SECRET),
        )
        assert response.status_code == 200, response.text
        return bool(response.json()["active"])


@asynccontextmanager
async def projected_region(login: Login, redis_url: str, dsn: str) -> AsyncIterator[Region]:
    consumer = AIOKafkaConsumer(
        *names.EVENT_TOPICS,
        bootstrap_servers=login.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    try:
        async with projector_on(redis_url, dsn) as stores:
            yield Region(login, stores, consumer, [])
    finally:
        with suppress(KafkaError):  # a test may have stopped the broker
            await consumer.stop()
