"""A connection the Redis server closed (``CLIENT KILL TYPE normal``: what a server timeout, an
idle-timeout proxy or a failover does) is replaced transparently: readiness stays green and
answers keep coming from Redis, not from the Postgres fallback, for every kind of client."""

from __future__ import annotations

import time
import uuid

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from schemas import names
from schemas.redis_client import make_redis, make_sync_redis
from services.devstack.process import ManagedProcess
from services.login.tokens import TokenContext, issue_access_token
from services.verifier import Verifier
from tests.integration.login_harness import (
    Login,
    login_fixture,
    set_heartbeat,
)
from tests.integration.login_seeding import project_signing_key
from tests.integration.test_login_introspect import BASIC
from tests.integration.test_projector_support import as_log, projector_on, registration

login = login_fixture(scope="function", own_redis=True)


async def kill_normal_clients(redis_url: str) -> int:
    """CLIENT KILL TYPE normal from a client of our own, which the server spares (SKIPME)."""
    admin = Redis.from_url(redis_url)
    try:
        return int(await admin.client_kill_filter(_type="normal", skipme=True))
    finally:
        await admin.aclose()


def _token(login: Login) -> str:
    s = login.settings
    ctx = TokenContext(s.token_issuer, s.region, "u1", str(uuid.uuid4()), "app", "")
    return issue_access_token(login.wiring.signer.key, ctx, ttl_s=600).token


def _checks(registry: object, outcome: str) -> float:
    value = registry.get_sample_value(  # type: ignore[attr-defined]
        "authplane_revocation_checks_total", {"outcome": outcome}
    )
    return float(value or 0.0)


async def _introspect_active(login: Login, token: str) -> bool:
    response = await login.client.post(
        "/oauth2/introspect", data={"token": token}, headers={"Authorization": BASIC}
    )
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


async def test_login_endpoint_readiness_and_introspection_survive_client_kill(
    login: Login,
) -> None:
    await set_heartbeat(login.settings.redis_url, login.settings.region)
    token = _token(login)
    assert (await login.client.get("/readyz")).status_code == 200
    assert await _introspect_active(login, token)
    registry = login.wiring.tokens.revocations.metrics.registry
    from_redis = _checks(registry, "redis")

    assert await kill_normal_clients(login.settings.redis_url) >= 1

    ready = await login.client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert await _introspect_active(login, token)
    assert _checks(registry, "redis") == from_redis + 1
    assert _checks(registry, "postgres_fallback") == 0


async def test_verifier_and_its_mirror_survive_client_kill(
    login: Login, own_redis: ManagedProcess
) -> None:
    """Verifier.connect's direct client and the mirror's keyspace-notification subscription."""
    await project_signing_key(own_redis.address, login.wiring.signer.key, "eu")
    direct = await Verifier.connect(
        region="eu",
        redis_url=own_redis.address,
        postgres_dsn=login.settings.postgres_dsn,
        mirror=False,
    )
    mirrored = await Verifier.from_settings(login.settings)
    try:
        token = _token(login)
        assert (await direct.check(token)).active
        mirror = mirrored.revocations._mirror
        assert mirror is not None
        assert await mirror.wait_fresh(5.0)

        assert await kill_normal_clients(own_redis.address) >= 2  # clients + the subscription

        assert (await direct.check(token)).active
        registry = direct.revocations.metrics.registry
        assert _checks(registry, "redis") == 2
        assert _checks(registry, "postgres_fallback") == 0
        # The subscription came back by itself and proves freshness again.
        deadline = time.monotonic() + 5.0
        while not mirror.fresh and time.monotonic() < deadline:
            await mirror.wait_fresh(0.1)
        assert mirror.fresh
        assert (await mirrored.check(token)).active
    finally:
        await direct.close()
        await mirrored.close()


def _store_errors() -> float:
    value = REGISTRY.get_sample_value("authplane_projector_store_errors_total", {"store": "redis"})
    return float(value or 0.0)


async def test_projector_writes_through_client_kill_without_a_store_error(
    own_redis: ManagedProcess, fresh_postgres_dsn: str
) -> None:
    async with projector_on(own_redis.address, fresh_postgres_dsn) as stores:
        await stores.projector.apply(as_log([registration("alice")]))
        errors = _store_errors()

        assert await kill_normal_clients(own_redis.address) >= 1

        await stores.projector.apply(as_log([registration("bob")]))
        assert _store_errors() == errors  # written at the first attempt, no retry round
        keys = await stores.redis.keys(names.redis_user_key("*"))
        assert len(keys) == 2


async def test_a_client_from_the_factory_retries_once_on_a_closed_connection(
    own_redis: ManagedProcess,
) -> None:
    """What authctl and the replay tool hold: the factory's client (they build no other)."""
    client = make_redis(own_redis.address)
    try:
        assert await client.set("k", "v")
        assert await kill_normal_clients(own_redis.address) == 1
        assert await client.get("k") == b"v"
    finally:
        await client.aclose()


async def test_the_blocking_client_retries_once_on_a_closed_connection_too(
    own_redis: ManagedProcess,
) -> None:
    """The dev launcher's readiness probe, which has no event loop."""
    client = make_sync_redis(own_redis.address)
    try:
        assert client.set("k", "v")
        assert await kill_normal_clients(own_redis.address) == 1
        assert client.get("k") == b"v"
    finally:
        client.close()
