"""The lockout under concurrency, on a real login endpoint (broker, Redis, Postgres): parallel
guesses cannot get more password checks than the limit, per user and per IP; a correct password
gives its reservation back; ``authctl ip unlock`` lifts an IP lockout."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from schemas import names
from schemas.events import IpLockoutLifted, LoginFailed
from schemas.identity import ip_subject_id, user_id_for
from tests.integration.login_harness import Login, events_on_topic
from tests.integration.login_seeding import seed_user_redis
from tests.integration.test_authctl import _authctl, _stack
from tests.integration.test_lockout_login import MAX_FAILURES, attempt, login, project

__all__ = ["login"]  # the fixture, shared with the sequential lockout tests

IP_MAX_FAILURES = 5  # the shared ``login`` fixture's per-IP limit (its per-user one: 3)


async def _burst(login: Login, tries: list[tuple[str, str, str]]) -> list[int]:
    answers = await asyncio.gather(*(attempt(login, u, p, ip) for u, p, ip in tries))
    return [a.status_code for a in answers]


async def test_thirty_parallel_wrong_passwords_get_at_most_the_limit_of_checks(
    login: Login,
) -> None:
    await seed_user_redis(login.settings, "pat", "right")
    codes = Counter(await _burst(login, [("pat", "wrong", "203.0.113.1")] * 30))
    assert set(codes) <= {400, 429}, codes
    assert 1 <= codes[400] <= MAX_FAILURES, codes  # 400 = the password was checked
    logged = await events_on_topic(
        login.settings.kafka_bootstrap,
        lambda e: e.type == LoginFailed.TYPE and e.user_id == user_id_for("pat"),
    )
    assert len(logged) == codes[400]


async def test_a_burst_with_the_right_password_checks_no_more_than_the_limit(
    login: Login,
) -> None:
    await seed_user_redis(login.settings, "quin", "right")
    tries = [("quin", "wrong", "203.0.113.1")] * 19 + [("quin", "right", "203.0.113.1")]
    codes = Counter(await _burst(login, tries))
    checked = codes[400] + codes[200]
    assert 1 <= checked <= MAX_FAILURES, codes
    assert codes[429] == len(tries) - checked


async def test_parallel_guesses_from_one_ip_get_at_most_the_ip_limit_of_checks(
    login: Login,
) -> None:
    tries = [(f"spray{i}", "wrong", "198.51.100.4") for i in range(30)]
    codes = Counter(await _burst(login, tries))
    assert 1 <= codes[400] <= IP_MAX_FAILURES, codes
    assert codes[400] + codes[429] == len(tries)


async def test_a_correct_password_gives_its_reservation_back(login: Login) -> None:
    await seed_user_redis(login.settings, "rosa", "right")
    for _ in range(3):
        codes = await _burst(login, [("rosa", "right", "203.0.113.1")] * 2)
        assert all(c in (200, 429) for c in codes), codes
    sequential = [await attempt(login, "rosa", "right") for _ in range(MAX_FAILURES + 2)]
    assert [a.status_code for a in sequential] == [200] * (MAX_FAILURES + 2)
    held = names.redis_login_attempts_user_key(user_id_for("rosa"))
    assert await login.wiring.clients.redis.zcard(held) == 0


async def test_authctl_ip_unlock_lifts_an_ip_lockout_in_the_region(
    login: Login, tmp_path: Path
) -> None:
    ip = "192.0.2.77"
    for i in range(IP_MAX_FAILURES):
        assert (await attempt(login, f"guess{i}", "wrong", ip)).status_code == 400
    assert (await attempt(login, "another", "wrong", ip)).status_code == 429

    stack = _stack(tmp_path, login.settings.kafka_bootstrap, login.settings.postgres_dsn)
    result = await asyncio.to_thread(_authctl, stack, "ip", "unlock", f" {ip} ")
    assert result.returncode == 0, result.stderr
    assert ip in result.stdout
    (lifted,) = await events_on_topic(
        login.settings.kafka_bootstrap, lambda e: e.type == IpLockoutLifted.TYPE
    )
    assert lifted.user_id == ip_subject_id(ip)
    assert lifted.payload.client_ip == ip
    await project(login, lifted)
    assert (await attempt(login, "another", "wrong", ip)).status_code == 400


def test_authctl_ip_unlock_refuses_what_is_not_an_address(tmp_path: Path) -> None:
    stack = _stack(tmp_path, "127.0.0.1:1", "postgresql://nobody@127.0.0.1:1/none")
    result = _authctl(stack, "ip", "unlock", "not-an-ip")
    assert result.returncode != 0
    assert "not an IP address" in result.stderr
    assert "Traceback" not in result.stderr
