"""User-wide revocations against coarse and wrong clocks, on the two-region stack.

(a) A password change in eu, then a login with the new password in the same wall-clock second:
    the new tokens are active and refreshable in both regions; the old ones are dead everywhere.
(b) A token minted by a us login process whose clock runs 8 s fast, before ``authctl revoke user
    --wait``: its iat is after the revocation's not-before, and it is still dead in every region
    (introspection, the in-process verifier, refresh).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from redis import Redis

from schemas import names, topology
from schemas.codec import encode
from schemas.identity import user_id_for
from schemas.names import DEV_PUBLIC_CLIENT_ID
from schemas.settings import Settings
from services.admin import revocation as revoke
from services.devstack.apps import child_env
from services.devstack.process import HOST, ManagedProcess, free_port, spawn
from services.devstack.stack import Stack
from tests.e2e.drive import PASSWORD, authctl, eventually, introspect, login_url
from tests.e2e.test_revocation_two_regions import (
    REGIONS,
    login,
    refresh,
    register,
    rejected_everywhere,
    sid_of,
)

NEW_PASSWORD = "another horse, another staple"
SKEW_S = 8.0
ATTEMPTS = 6


def _login_with_clock(stack: Stack, region: str, offset: str) -> Iterator[str]:
    """A second login endpoint of ``region`` (its key, stores and broker) whose clock is off by
    ``offset`` (see tests.e2e.skewed_login); yields its base URL."""
    settings = stack.settings[region].replace(http_port=free_port())
    name = f"{region}-login-clock-{settings.http_port}"
    proc = spawn(
        name,
        [sys.executable, "-m", "tests.e2e.skewed_login", offset],
        log_path=stack.base_dir / "logs" / f"{name}.log",
        address=f"http://{HOST}:{settings.http_port}",
        env=child_env(settings, dict(os.environ)),
        die_with_parent=True,
    )
    try:
        eventually(partial(_healthy, proc), within_s=60.0)
        yield proc.address
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def fast_us(stack: Stack) -> Iterator[str]:
    yield from _login_with_clock(stack, "us", str(SKEW_S))


@pytest.fixture(scope="module")
def slow_us(stack: Stack) -> Iterator[str]:
    yield from _login_with_clock(stack, "us", str(-SKEW_S))


@pytest.fixture(scope="module")
def set_eu_clock(stack: Stack) -> Iterator[tuple[str, Path]]:
    """An eu login endpoint whose clock offset (seconds) is what the yielded file says."""
    offset_file = stack.base_dir / "eu-clock-offset"
    offset_file.write_text("0")
    for url in _login_with_clock(stack, "eu", f"@{offset_file}"):
        yield url, offset_file


def _healthy(proc: ManagedProcess) -> bool:
    assert proc.alive(), proc.log_tail()
    try:
        return httpx.get(proc.address + "/healthz").status_code == 200
    except httpx.TransportError:
        return False


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def _token_grant(base_url: str, username: str, password: str) -> dict[str, Any]:
    form = {"grant_type": "password", "username": username, "password": password}
    form["client_id"] = DEV_PUBLIC_CLIENT_ID
    response = httpx.post(f"{base_url}/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _inactive(stack: Stack, region: str, token: str) -> bool:
    return introspect(stack, region, token) == {"active": False}


def _refreshed_and_active(stack: Stack, region: str, tokens: dict[str, Any]) -> bool:
    response = refresh(stack, region, tokens["refresh_token"])
    if response.status_code == 503:
        return False  # the region has not projected the session yet: asked to retry
    assert response.status_code == 200, response.text
    return introspect(stack, region, response.json()["access_token"])["active"] is True


def _not_before_ms(stack: Stack, region: str, username: str) -> int:
    """The user's not-before as the region's Redis holds it (epoch ms)."""
    redis = Redis.from_url(stack.settings[region].redis_url)
    try:
        raw = redis.hget(names.redis_user_not_before_key(user_id_for(username)), "not_before_ms")
    finally:
        redis.close()
    assert raw is not None
    return int(raw)


def _has_session(stack: Stack, region: str, session_id: str) -> bool:
    redis = Redis.from_url(stack.settings[region].redis_url)
    try:
        return bool(redis.exists(names.redis_session_key(session_id)))
    finally:
        redis.close()


def _change_password_then_log_in_that_second(
    stack: Stack, clocked: tuple[str, Path], bearer: str, passwords: tuple[str, str]
) -> tuple[dict[str, Any], int]:
    """POST /v1/password in eu, then, as soon as eu has applied it, a login with the new
    password by an eu endpoint whose clock reads the start of the change's second (how far
    into that second the change fell is more than a loaded machine needs to log in after it).
    Returns the new tokens and the change's not-before (epoch ms)."""
    old_password, new_password = passwords
    changed = httpx.post(
        f"{login_url(stack, 'eu')}/v1/password",
        data={"old_password": old_password, "new_password": new_password},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert changed.status_code == 204, changed.text
    # The bearer dies in eu in the same projector batch that makes the new password work.
    eventually(partial(_inactive, stack, "eu", bearer), 10, 0.002)
    not_before_ms = _not_before_ms(stack, "eu", "clk-pat")
    url, offset_file = clocked
    offset_file.write_text(str(not_before_ms // 1000 - time.time()))
    return _token_grant(url, "clk-pat", new_password), not_before_ms


def test_a_login_in_the_same_second_as_a_password_change_survives_it_everywhere(
    stack: Stack, set_eu_clock: tuple[str, Path]
) -> None:
    register(stack, "clk-pat")
    old = login(stack, "eu", "clk-pat")
    passwords = (PASSWORD, NEW_PASSWORD)
    samples = []
    for attempt in range(ATTEMPTS):
        change = (passwords[attempt % 2], passwords[(attempt + 1) % 2])
        new, not_before_ms = _change_password_then_log_in_that_second(
            stack, set_eu_clock, old["access_token"], change
        )
        samples.append((_claims(new["access_token"])["iat"], not_before_ms))
        for region in REGIONS:
            eventually(partial(_inactive, stack, region, old["access_token"]))
            assert introspect(stack, region, new["access_token"])["active"] is True
            assert refresh(stack, region, old["refresh_token"]).status_code == 400
        assert eventually(partial(_refreshed_and_active, stack, "us", new))
        if any(iat == not_before_ms // 1000 for iat, not_before_ms in samples):
            return
        old = new
    # A machine so loaded that a login took over a second never tried the case.
    pytest.fail(f"no login landed in the second of its password change: {samples}")


async def _revoke_user_now(stack: Stack, username: str) -> datetime:
    """What ``authctl revoke user --wait`` does (same functions), in this process: starting the
    CLI on a loaded machine can take longer than the fast clock's lead. Returns the not-before."""
    topo = topology.load(stack.stack_file)
    found = await revoke.find(topo, "user", username)
    envelope = revoke.revocation(
        Settings(), "user", found.user_id, found, "audit", "operator:e2e", "eu"
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=topo.kafka_bootstrap, acks="all", enable_idempotence=False
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            names.TOPIC_REVOCATIONS, value=encode(envelope), key=envelope.partition_key
        )
    finally:
        await producer.stop()
    confirmations = await revoke.confirm_all(topo, envelope, time.monotonic(), 30.0)
    assert all(c.confirmed for c in confirmations), confirmations
    not_before: datetime = envelope.payload.not_before
    return not_before


def test_a_token_from_a_fast_clock_region_dies_with_a_later_user_revocation(
    stack: Stack, fast_us: str
) -> None:
    register(stack, "clk-quinn")
    login(stack, "us", "clk-quinn")  # us knows the user
    samples = []
    for _ in range(ATTEMPTS):
        skewed = _token_grant(fast_us, "clk-quinn", PASSWORD)
        not_before = asyncio.run(_revoke_user_now(stack, "clk-quinn"))
        samples.append((_claims(skewed["access_token"])["iat"], not_before.timestamp()))
        for region in REGIONS:
            # Every region knows the session, so refresh answers for it (not "retry later").
            eventually(partial(_has_session, stack, region, sid_of(skewed)))
        rejected_everywhere(stack, skewed)  # introspection, in-process verifier, refresh
        # The fast clock put the token's issue time after the cut-off: only the log can tell.
        if samples[-1][0] > samples[-1][1]:
            return
    pytest.fail(f"the revocation never came within the clock's lead: {samples}")


def test_a_login_by_a_slow_clock_region_after_a_user_revocation_lives_everywhere(
    stack: Stack, slow_us: str
) -> None:
    register(stack, "clk-rosa")
    before = login(stack, "us", "clk-rosa")
    result = authctl(stack, "revoke", "user", "clk-rosa", "--wait", "--json")
    assert result.returncode == 0, result.stderr
    not_before = datetime.fromisoformat(orjson.loads(result.stdout)["not_before"])
    after = _token_grant(slow_us, "clk-rosa", PASSWORD)
    # The slow clock put the token's issue time before the cut-off: only the log can tell.
    assert _claims(after["access_token"])["iat"] < not_before.timestamp()
    for region in REGIONS:
        assert introspect(stack, region, after["access_token"])["active"] is True
        assert introspect(stack, region, before["access_token"]) == {"active": False}
    assert eventually(partial(_refreshed_and_active, stack, "eu", after))
