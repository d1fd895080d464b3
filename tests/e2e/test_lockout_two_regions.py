"""The lockout under parallel guessing on a real two-region stack, over HTTP: each region reserves
every password check before argon2, so guesses split over eu and us get at most the limit of
checks per region (limit x regions in all) within one propagation delay, whatever the
concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx
from redis import Redis

from schemas import names
from schemas.identity import user_id_for
from schemas.names import DEV_PUBLIC_CLIENT_ID
from schemas.settings import Settings
from services.devstack.stack import Stack
from tests.e2e.drive import PASSWORD, authctl, eventually, login_url

REGIONS = ("eu", "us")
LIMIT = Settings().login_max_failures  # the session stack runs with the default


def registered(stack: Stack, username: str) -> None:
    result = authctl(stack, "user", "create", username, "--password-stdin", stdin=PASSWORD)
    assert result.returncode == 0, result.stderr
    for region in REGIONS:
        redis = Redis.from_url(stack.settings[region].redis_url)
        try:
            eventually(partial(redis.exists, names.redis_user_key(user_id_for(username))))
        finally:
            redis.close()


def burst(stack: Stack, username: str, passwords: list[str]) -> Counter[int]:
    """All attempts at once, alternately in eu and us, each on a connection opened beforehand
    and released by one barrier; the count of each status code."""
    gate = threading.Barrier(len(passwords))

    def attempt(index: int) -> int:
        base = login_url(stack, REGIONS[index % 2])
        with httpx.Client(base_url=base, timeout=60) as client:
            client.get("/healthz")  # the connection is open before the gate
            gate.wait()
            form = {
                "grant_type": "password",
                "username": username,
                "client_id": DEV_PUBLIC_CLIENT_ID,
            }
            return client.post(
                "/oauth2/token", data=form | {"password": passwords[index]}
            ).status_code

    with ThreadPoolExecutor(len(passwords)) as pool:
        return Counter(pool.map(attempt, range(len(passwords))))


def test_thirty_parallel_wrong_passwords_over_two_regions_are_bounded(stack: Stack) -> None:
    registered(stack, "guessed")
    codes = burst(stack, "guessed", ["wrong"] * 30)
    assert set(codes) <= {400, 429}, codes
    assert 1 <= codes[400] <= LIMIT * len(REGIONS), codes  # 400: the password was checked


def test_a_burst_of_wrong_and_one_right_password_checks_no_more_than_the_bound(
    stack: Stack,
) -> None:
    registered(stack, "bursted")
    codes = burst(stack, "bursted", ["wrong"] * 19 + [PASSWORD])
    checked = codes[400] + codes[200]
    assert 1 <= checked <= LIMIT * len(REGIONS), codes
    assert codes[429] == 20 - checked
