"""Refresh rotation across two regions, driven over HTTP: rotate anywhere; two exchanges of one
token within the grace window (two tabs in one region, or one token in both regions at once)
leave a working session everywhere; reuse of a spent token after the window revokes the session
in both. The stack runs with a short grace window so a test can step past it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import httpx
import pytest
from redis import Redis

from schemas import names
from schemas.names import DEV_PUBLIC_CLIENT_ID
from schemas.settings import Settings
from services.devstack.stack import Stack
from services.login.tokens import refresh_token_hash
from tests.e2e.drive import (
    PASSWORD,
    authctl,
    eventually,
    introspect,
    login_url,
    password_login,
    wait_ready,
)

REGIONS = ("eu", "us")
GRACE_S = 4.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack.start(
        list(REGIONS),
        tmp_path_factory.mktemp("refresh"),
        durable=False,
        inherited_env=dict(os.environ),
        base=Settings(login_ip_max_failures=10_000, refresh_reuse_grace_s=GRACE_S),
    )
    try:
        wait_ready(started)
        yield started
    finally:
        started.stop()


def refresh(stack: Stack, region: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{login_url(stack, region)}/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": DEV_PUBLIC_CLIENT_ID,
        },
    )


def refresh_when_known(stack: Stack, region: str, token: str) -> httpx.Response:
    """503 means the region has not seen the session or this token yet: retry, as clients do."""

    def attempt() -> httpx.Response | None:
        response = refresh(stack, region, token)
        if response.status_code == 503:
            assert response.headers["Retry-After"]
            return None
        return response

    answer: httpx.Response = eventually(attempt)
    return answer


def logged_in(stack: Stack, username: str) -> dict[str, Any]:
    result = authctl(stack, "user", "create", username, "--password-stdin", stdin=PASSWORD)
    assert result.returncode == 0, result.stderr

    def attempt() -> dict[str, Any] | None:
        response = password_login(stack, "eu", username, PASSWORD)
        return response.json() if response.status_code == 200 else None

    body: dict[str, Any] = eventually(attempt)
    return body


def active_in(stack: Stack, region: str, access_token: str, wanted: bool) -> bool:
    """Whether introspection in ``region`` answers ``active`` == ``wanted``."""
    return bool(introspect(stack, region, access_token)["active"]) is wanted


def revoked_everywhere(stack: Stack, tokens: list[dict[str, Any]]) -> None:
    for region in REGIONS:
        for pair in tokens:
            eventually(partial(active_in, stack, region, pair["access_token"], False))
            answer = refresh_when_known(stack, region, pair["refresh_token"])
            assert answer.status_code == 400
            assert answer.json()["error"] == "invalid_grant"


def test_rotate_in_eu_then_in_us(stack: Stack) -> None:
    first = logged_in(stack, "rotor")
    in_eu = refresh_when_known(stack, "eu", first["refresh_token"])
    assert in_eu.status_code == 200, in_eu.text
    in_us = refresh_when_known(stack, "us", in_eu.json()["refresh_token"])
    assert in_us.status_code == 200, in_us.text
    latest = in_us.json()
    for region in REGIONS:
        assert eventually(partial(active_in, stack, region, latest["access_token"], True))
    back_in_eu = refresh_when_known(stack, "eu", latest["refresh_token"])
    assert back_in_eu.status_code == 200, back_in_eu.text


def test_reuse_after_the_grace_window_revokes_the_family_in_both_regions(stack: Stack) -> None:
    first = logged_in(stack, "thief-target")
    second = refresh_when_known(stack, "eu", first["refresh_token"]).json()
    time.sleep(GRACE_S + 0.5)  # the thief comes after the window

    # The spent first token, replayed in the other region once it has seen the rotation.
    def replay() -> httpx.Response | None:
        answer = refresh(stack, "us", first["refresh_token"])
        return answer if answer.status_code != 503 else None

    stolen: httpx.Response = eventually(replay)
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    revoked_everywhere(stack, [first, second])


def works_everywhere(stack: Stack, pairs: list[dict[str, Any]]) -> None:
    """Each pair's access token is active in every region, and its refresh token rotates (in
    each region in turn, following the chain) into a pair that is active everywhere too."""
    for pair in pairs:
        for region in REGIONS:
            assert eventually(partial(active_in, stack, region, pair["access_token"], True))
        token = pair["refresh_token"]
        for region in REGIONS:
            answer = refresh_when_known(stack, region, token)
            assert answer.status_code == 200, answer.text
            token = answer.json()["refresh_token"]
            for where in REGIONS:
                access = answer.json()["access_token"]
                assert eventually(partial(active_in, stack, where, access, True))


def test_two_tabs_refreshing_at_once_in_one_region_keep_the_session(stack: Stack) -> None:
    first = logged_in(stack, "two-tabs")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: refresh(stack, "eu", first["refresh_token"]), "ab"))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    works_everywhere(stack, [a.json() for a in answers])


def test_one_token_used_in_both_regions_at_once_keeps_the_session(stack: Stack) -> None:
    first = logged_in(stack, "racer")
    # Both regions must know the session before the race, or one would only answer 503.
    warm = refresh_when_known(stack, "eu", first["refresh_token"]).json()
    for region in REGIONS:
        eventually(partial(active_in, stack, region, warm["access_token"], True))
    eventually(lambda: refresh_known_everywhere(stack, warm["refresh_token"]))
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda r: refresh(stack, r, warm["refresh_token"]), REGIONS))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    works_everywhere(stack, [a.json() for a in answers])


def refresh_known_everywhere(stack: Stack, token: str) -> bool:
    """Whether every region has projected the rotation that issued ``token`` (its Redis names it
    the session's current token), so that both regions will accept it in the race."""
    sid = token.partition(".")[0]
    wanted = refresh_token_hash(token).encode()
    for region in REGIONS:
        redis = Redis.from_url(stack.settings[region].redis_url)
        try:
            current = redis.hget(names.redis_session_key(sid), names.SESSION_REFRESH_HASH_FIELD)
        finally:
            redis.close()
        if current != wanted:
            return False
    return True
