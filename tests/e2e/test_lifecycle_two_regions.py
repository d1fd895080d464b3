"""Signing keys, account changes and lockouts on a real two-region stack, driven as an operator
and a user would: authctl and HTTP. The stack runs with short token and lockout settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import jwt
import orjson
import pytest
from redis import Redis

from schemas import names
from schemas.identity import user_id_for
from schemas.settings import Settings
from services.devstack.stack import Stack
from tests.e2e.drive import (
    PASSWORD,
    authctl,
    eventually,
    introspect,
    login_url,
    password_login,
    wait_ready,
)

TTL_S = 6
MAX_FAILURES = 3


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = Settings(
        access_token_ttl_s=TTL_S,
        key_watch_interval_s=0.2,
        key_retire_grace_s=1,
        login_max_failures=MAX_FAILURES,
        login_ip_max_failures=10_000,
        login_lockout_s=60,
    )
    started = Stack.start(
        ["eu", "us"],
        tmp_path_factory.mktemp("life"),
        base=base,
        durable=False,
        inherited_env=dict(os.environ),
    )
    try:
        wait_ready(started)
        yield started
    finally:
        started.stop()


def register(stack: Stack, username: str) -> None:
    """Create the user and wait until both regions know it (without failed logins meanwhile)."""
    result = authctl(stack, "user", "create", username, "--password-stdin", stdin=PASSWORD)
    assert result.returncode == 0, result.stderr
    for region in ("eu", "us"):
        redis = Redis.from_url(stack.settings[region].redis_url)
        eventually(partial(redis.exists, names.redis_user_key(user_id_for(username))))
        redis.close()


def login(stack: Stack, region: str, username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = password_login(stack, region, username, password)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def jwks_kids(stack: Stack, region: str) -> set[str]:
    keys = httpx.get(f"{login_url(stack, region)}/.well-known/jwks.json").json()["keys"]
    return {k["kid"] for k in keys}


def active_everywhere(stack: Stack, token: str) -> bool:
    return all(introspect(stack, r, token)["active"] for r in ("eu", "us"))


def inactive_everywhere(stack: Stack, token: str) -> bool:
    return not any(introspect(stack, r, token)["active"] for r in ("eu", "us"))


def keys_listed(stack: Stack) -> dict[str, str]:
    result = authctl(stack, "keys", "list", "--region", "us", "--json")
    assert result.returncode == 0, result.stderr
    return {k["kid"]: k["status"] for k in orjson.loads(result.stdout)}


def new_key_token(stack: Stack, region: str, username: str, old_kid: str) -> str | None:
    token = str(login(stack, region, username)["access_token"])
    return token if kid_of(token) != old_kid else None


def logs_in(stack: Stack, region: str, username: str, password: str) -> bool:
    return password_login(stack, region, username, password).status_code == 200


def test_rotation_keeps_old_tokens_valid_until_the_old_key_retires(life: Stack) -> None:
    register(life, "rita")
    old_token = login(life, "eu", "rita")["access_token"]
    old_kid = kid_of(old_token)

    result = authctl(life, "keys", "rotate", "--region", "eu", "--stack-file", str(life.stack_file))
    assert result.returncode == 0, result.stderr
    new_kid = kid_of(eventually(lambda: new_key_token(life, "eu", "rita", old_kid)))
    # Both keys verify everywhere while the old key's tokens may still be alive.
    assert active_everywhere(life, old_token)
    assert eventually(lambda: {old_kid, new_kid} <= jwks_kids(life, "us"))
    new_token = login(life, "eu", "rita")["access_token"]
    assert kid_of(new_token) == new_kid
    assert active_everywhere(life, new_token)

    # After its successor has been out for the token lifetime (+ grace), the old key retires.
    assert eventually(lambda: keys_listed(life).get(old_kid) == "retired", within_s=TTL_S + 15)
    assert eventually(lambda: old_kid not in jwks_kids(life, "us") | jwks_kids(life, "eu"))
    assert inactive_everywhere(life, old_token)
    assert keys_listed(life)[new_kid] == "active"


def test_revoking_a_key_kills_its_tokens_everywhere_and_the_region_rekeys(life: Stack) -> None:
    register(life, "kim")
    token = login(life, "us", "kim")["access_token"]
    kid = kid_of(token)
    assert active_everywhere(life, token)

    result = authctl(life, "keys", "revoke", kid, "--reason", "leaked")
    assert result.returncode == 0, result.stderr
    assert eventually(lambda: inactive_everywhere(life, token), within_s=5)
    assert eventually(lambda: kid not in jwks_kids(life, "eu") | jwks_kids(life, "us"))
    # us heals itself: its new tokens carry a fresh key and are valid in both regions.
    fresh = eventually(lambda: new_key_token(life, "us", "kim", kid))
    assert eventually(lambda: active_everywhere(life, fresh))
    assert keys_listed(life)[kid] == "revoked"


def test_set_password_revokes_sessions_in_both_regions(life: Stack) -> None:
    register(life, "paul")
    tokens = [login(life, r, "paul")["access_token"] for r in ("eu", "us")]
    assert all(active_everywhere(life, t) for t in tokens)

    result = authctl(life, "user", "set-password", "paul", "--password-stdin", stdin="new pass 1")
    assert result.returncode == 0, result.stderr
    for token in tokens:
        assert eventually(partial(inactive_everywhere, life, token), within_s=5)
    # Every region verifies against the new password (and no longer the old one).
    for region in ("eu", "us"):
        eventually(partial(logs_in, life, region, "paul", "new pass 1"))
        assert password_login(life, region, "paul", PASSWORD).status_code == 400


def test_self_service_password_change_in_one_region_revokes_the_other(life: Stack) -> None:
    register(life, "sue")
    eu_token = login(life, "eu", "sue")["access_token"]
    us_token = login(life, "us", "sue")["access_token"]
    change = httpx.post(
        f"{login_url(life, 'us')}/v1/password",
        data={"old_password": PASSWORD, "new_password": "sue's new secret"},
        headers={"Authorization": f"Bearer {us_token}"},
    )
    assert change.status_code == 204, change.text
    assert eventually(lambda: inactive_everywhere(life, eu_token), within_s=5)
    assert inactive_everywhere(life, us_token)
    eventually(lambda: logs_in(life, "eu", "sue", "sue's new secret"))


def test_disable_and_enable(life: Stack) -> None:
    register(life, "dave")
    token = login(life, "eu", "dave")["access_token"]
    assert authctl(life, "user", "disable", "dave", "--reason", "left").returncode == 0
    assert eventually(lambda: inactive_everywhere(life, token), within_s=5)
    refused = password_login(life, "us", "dave", PASSWORD)
    unknown = password_login(life, "us", "no-such-dave", PASSWORD)
    assert refused.status_code == unknown.status_code == 400
    assert refused.json() == unknown.json()

    assert authctl(life, "user", "enable", "dave").returncode == 0
    again = eventually(
        lambda: (r := password_login(life, "us", "dave", PASSWORD)).status_code == 200 and r
    )
    assert active_everywhere(life, again.json()["access_token"])


def test_failures_in_eu_lock_the_user_out_in_us_until_unlocked(life: Stack) -> None:
    register(life, "lola")
    for _ in range(MAX_FAILURES):
        assert password_login(life, "eu", "lola", "guess").status_code == 400

    def locked_in_us() -> httpx.Response | None:
        response = password_login(life, "us", "lola", PASSWORD)
        return response if response.status_code == 429 else None

    locked = eventually(locked_in_us, within_s=5)
    assert 0 < int(locked.headers["Retry-After"]) <= 60
    assert locked.json()["error"] == "slow_down"
    # An unknown username locked the same way gets the very same answer.
    for _ in range(MAX_FAILURES):
        password_login(life, "eu", "ghost-user", "guess")
    ghost = eventually(
        lambda: (r := password_login(life, "us", "ghost-user", "x")).status_code == 429 and r
    )
    assert ghost.json() == locked.json()

    assert authctl(life, "user", "unlock", "lola").returncode == 0
    eventually(lambda: logs_in(life, "us", "lola", PASSWORD))
