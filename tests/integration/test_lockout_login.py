"""Brute-force protection, disabled users, the latest password and POST /v1/password on a real
login endpoint (broker, Redis, Postgres); other regions' events arrive through a real projector."""

from __future__ import annotations

from typing import Any

import httpx
from argon2 import PasswordHasher

from schemas.envelope import Envelope
from schemas.events import LockoutLifted, LoginFailed, PasswordChanged, UserDisabled
from schemas.identity import user_id_for
from tests.integration.login_harness import (
    APP,
    Login,
    events_on_topic,
    login_fixture,
)
from tests.integration.login_seeding import seed_user_redis
from tests.integration.test_projector_support import as_log, event, projector_on

MAX_FAILURES = 3


login = login_fixture(
    scope="function",
    broker="own",
    login_max_failures=MAX_FAILURES,
    login_ip_max_failures=5,
    login_lockout_s=30,
    trusted_proxy_hops=1,
    argon2_memory_kib=1024,
    argon2_time_cost=1,
)


async def attempt(
    login: Login, user: str, password: str, ip: str = "203.0.113.1"
) -> httpx.Response:
    form = {"grant_type": "password", **APP, "username": user, "password": password}
    return await login.client.post("/oauth2/token", data=form, headers={"X-Forwarded-For": ip})


async def project(login: Login, *envelopes: Envelope) -> None:
    """Apply events as this region's projector would (they may come from another region)."""
    async with projector_on(login.settings.redis_url, login.settings.postgres_dsn) as stores:
        await stores.projector.apply(as_log(list(envelopes)))


async def test_failures_lock_out_with_429_and_the_same_answer_for_unknown_users(
    login: Login,
) -> None:
    await seed_user_redis(login.settings, "alice", "right")
    for _ in range(MAX_FAILURES):
        assert (await attempt(login, "alice", "wrong")).status_code == 400
        assert (await attempt(login, "nobody", "wrong", ip="203.0.113.2")).status_code == 400
    locked = await attempt(login, "alice", "right")  # even the right password waits
    ghost = await attempt(login, "nobody", "anything", ip="203.0.113.2")
    assert locked.status_code == ghost.status_code == 429
    assert locked.json() == ghost.json()
    assert locked.json()["error"] == "slow_down"
    assert 25 <= int(locked.headers["Retry-After"]) <= 30
    logged = await events_on_topic(
        login.settings.kafka_bootstrap, lambda e: e.type == LoginFailed.TYPE
    )
    assert {e.payload.client_ip for e in logged} >= {"203.0.113.1", "203.0.113.2"}
    assert {e.user_id for e in logged} == {user_id_for("alice"), user_id_for("nobody")}


async def test_failures_seen_in_another_region_count_here_until_an_unlock(login: Login) -> None:
    await seed_user_redis(login.settings, "bob", "right")
    elsewhere = [
        event(LoginFailed(client_ip="198.51.100.9"), "bob", region="us", ms_ago=i * 10)
        for i in range(MAX_FAILURES)
    ]
    await project(login, *elsewhere)
    assert (await attempt(login, "bob", "right")).status_code == 429
    await project(login, event(LockoutLifted(unlocked_by="op"), "bob", region="us"))
    assert (await attempt(login, "bob", "right")).status_code == 200


async def test_one_ip_spraying_many_usernames_is_locked_but_not_other_ips(login: Login) -> None:
    for i in range(5):
        assert (await attempt(login, f"spray{i}", "x", ip="192.0.2.66")).status_code == 400
    assert (await attempt(login, "spray-next", "x", ip="192.0.2.66")).status_code == 429
    assert (await attempt(login, "spray-next", "x", ip="192.0.2.67")).status_code == 400


async def test_a_disabled_user_is_refused_like_a_wrong_password(login: Login) -> None:
    await seed_user_redis(login.settings, "carol", "right")
    await project(login, event(UserDisabled(reason="left", changed_by="op"), "carol"))
    disabled = await attempt(login, "carol", "right")
    wrong = await attempt(login, "nobody-else", "right", ip="203.0.113.9")
    assert disabled.status_code == wrong.status_code == 400
    assert disabled.json() == wrong.json()
    assert await login.wiring.accounts.user_disabled(user_id_for("carol")) is True
    assert await login.wiring.accounts.user_disabled(user_id_for("nobody-else")) is False


async def test_login_verifies_the_latest_password(login: Login) -> None:
    await seed_user_redis(login.settings, "dan", "first")
    new_hash = PasswordHasher(time_cost=1, memory_cost=1024).hash("second")
    await project(login, event(PasswordChanged(password_hash=new_hash, changed_by="op"), "dan"))
    assert (await attempt(login, "dan", "first")).status_code == 400
    assert (await attempt(login, "dan", "second")).status_code == 200


async def _change(login: Login, token: str | None, **form: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await login.client.post("/v1/password", data=form, headers=headers)


async def test_self_service_password_change(login: Login) -> None:
    await seed_user_redis(login.settings, "erin", "old pw")
    token = (await attempt(login, "erin", "old pw")).json()["access_token"]
    assert (await _change(login, None, old_password="old pw", new_password="n")).status_code == 401
    missing = await _change(login, token, old_password="old pw")
    assert missing.status_code == 400
    wrong = await _change(login, token, old_password="guess", new_password="new pw")
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"

    changed = await _change(login, token, old_password="old pw", new_password="new pw")
    assert changed.status_code == 204, changed.text
    (logged,) = await events_on_topic(
        login.settings.kafka_bootstrap, lambda e: e.type == PasswordChanged.TYPE
    )
    assert logged.user_id == user_id_for("erin")
    assert PasswordHasher().verify(logged.payload.password_hash, "new pw")
    failures = await events_on_topic(
        login.settings.kafka_bootstrap, lambda e: e.type == LoginFailed.TYPE
    )
    assert len(failures) == 1  # the wrong old password counted as a failed login
