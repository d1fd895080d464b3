"""Revoke anywhere, rejected everywhere: two real regions, driven over HTTP and the CLI, checked
by introspection, by the in-process verifier and by refresh in both regions."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest

from schemas.names import DEV_PUBLIC_CLIENT_ID
from schemas.settings import Settings
from services.devstack.recovery import find_app
from services.devstack.stack import Stack
from services.verifier import Verifier
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


def register(stack: Stack, username: str) -> None:
    created = authctl(stack, "user", "create", username, "--password-stdin", stdin=PASSWORD)
    assert created.returncode == 0, created.stderr


def login(stack: Stack, region: str, username: str) -> dict[str, Any]:
    """Log in once the registration has reached the region (failed polls would count toward a
    lockout, so wait on a harmless signal: the region's readiness to answer 200)."""
    response = eventually(lambda: _ok(password_login(stack, region, username, PASSWORD)))
    body: dict[str, Any] = response.json()
    return body


def _ok(response: httpx.Response) -> httpx.Response | None:
    return response if response.status_code == 200 else None


def sid_of(tokens: dict[str, Any]) -> str:
    return str(jwt.decode(tokens["access_token"], options={"verify_signature": False})["sid"])


def refresh(stack: Stack, region: str, refresh_token: str) -> httpx.Response:
    return httpx.post(
        f"{login_url(stack, region)}/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": DEV_PUBLIC_CLIENT_ID,
        },
    )


def verifier_verdict(stack: Stack, region: str, token: str) -> Any:
    settings = stack.settings[region]

    async def check() -> Any:
        verifier = await Verifier.connect(
            region=region,
            redis_url=settings.redis_url,
            postgres_dsn=settings.postgres_dsn,
            jwks_url=f"{login_url(stack, region)}/.well-known/jwks.json",
        )
        try:
            return await verifier.check(token)
        finally:
            await verifier.close()

    return asyncio.run(check())


def rejected_everywhere(stack: Stack, tokens: dict[str, Any]) -> None:
    for region in REGIONS:
        assert introspect(stack, region, tokens["access_token"]) == {"active": False}
        verdict = verifier_verdict(stack, region, tokens["access_token"])
        assert (verdict.active, verdict.reason) == (False, "revoked")
        answer = refresh(stack, region, tokens["refresh_token"])
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_grant"


def test_authctl_revoke_session_is_rejected_in_every_region(stack: Stack) -> None:
    register(stack, "rev-erin")
    tokens = login(stack, "eu", "rev-erin")
    assert introspect(stack, "us", tokens["access_token"])["active"] is True

    result = authctl(
        stack, "revoke", "session", sid_of(tokens), "--reason", "lost phone", "--wait", "--json"
    )
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report  # the per-region confirmation is machine-readable
    rejected_everywhere(stack, tokens)


def test_rfc7009_revoke_in_us_rejects_an_eu_token_everywhere(stack: Stack) -> None:
    register(stack, "rev-frank")
    tokens = login(stack, "eu", "rev-frank")
    answer = httpx.post(
        f"{login_url(stack, 'us')}/oauth2/revoke",
        data={"token": tokens["access_token"], "client_id": DEV_PUBLIC_CLIENT_ID},
    )
    assert answer.status_code == 200
    eventually(lambda: introspect(stack, "eu", tokens["access_token"]) == {"active": False})
    eventually(lambda: introspect(stack, "us", tokens["access_token"]) == {"active": False})
    rejected_everywhere(stack, tokens)


def test_a_revocation_issued_before_the_session_reached_the_region_still_wins(
    stack: Stack,
) -> None:
    register(stack, "rev-gina")
    login(stack, "eu", "rev-gina")  # the user is known everywhere before the pause
    worker = find_app(stack, "us", "worker")
    assert worker is not None
    os.kill(worker.pid, signal.SIGSTOP)  # us projects nothing from here on
    try:
        tokens = login(stack, "eu", "rev-gina")
        # us has not seen this session; revoking there needs only the token's claims.
        answer = httpx.post(
            f"{login_url(stack, 'us')}/oauth2/revoke",
            data={"token": tokens["access_token"], "client_id": DEV_PUBLIC_CLIENT_ID},
        )
        assert answer.status_code == 200
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    eventually(lambda: introspect(stack, "us", tokens["access_token"]) == {"active": False})
    rejected_everywhere(stack, tokens)
    listed = orjson.loads(
        authctl(stack, "sessions", "list", "rev-gina", "--region", "us", "--json").stdout
    )
    mine = [s for s in listed if s["session_id"] == sid_of(tokens)]
    assert mine
    assert mine[0]["revoked"] is True


def test_a_user_wide_revocation_spares_tokens_issued_after_it(stack: Stack) -> None:
    register(stack, "rev-hugo")
    before = login(stack, "eu", "rev-hugo")
    result = authctl(stack, "revoke", "user", "rev-hugo", "--reason", "audit", "--wait")
    assert result.returncode == 0, result.stderr
    # Tokens carry whole-second iat and revocation wins ties, so log in in the next second.
    time.sleep(1.1)
    after = login(stack, "us", "rev-hugo")
    for region in REGIONS:
        assert introspect(stack, region, before["access_token"]) == {"active": False}
        assert introspect(stack, region, after["access_token"])["active"] is True
    assert refresh(stack, "eu", after["refresh_token"]).status_code in (200, 503)


# -- one region's stores fail (a stack of its own: this test breaks its region) ---------------


@pytest.fixture(scope="module")
def doomed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack.start(
        list(REGIONS),
        Path(tmp_path_factory.mktemp("doomed")),
        durable=False,
        inherited_env=dict(os.environ),
        base=Settings(login_ip_max_failures=10_000),
    )
    try:
        wait_ready(started)
        yield started
    finally:
        started.stop()


def failed_closed_count(stack: Stack, region: str) -> float:
    metrics = httpx.get(f"{login_url(stack, region)}/metrics").text
    for line in metrics.splitlines():
        if line.startswith("authplane_revocation_checks_total") and "failed_closed" in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_redis_down_falls_back_to_postgres_then_fails_closed(doomed_stack: Stack) -> None:
    stack = doomed_stack
    register(stack, "rev-ivy")
    kept = login(stack, "eu", "rev-ivy")
    revoked = login(stack, "eu", "rev-ivy")
    result = authctl(stack, "revoke", "session", sid_of(revoked), "--wait")
    assert result.returncode == 0, result.stderr

    stack.regions["us"].redis.stop()
    # Postgres answers for us: the revoked token stays rejected, the other stays valid.
    assert introspect(stack, "us", revoked["access_token"]) == {"active": False}
    assert introspect(stack, "us", kept["access_token"])["active"] is True
    assert failed_closed_count(stack, "us") == 0

    stack.regions["us"].postgres.stop()
    # Neither store answers: the state of the token is unknown, so it is not active.
    assert introspect(stack, "us", kept["access_token"]) == {"active": False}
    assert failed_closed_count(stack, "us") >= 1
    # The other region is unaffected.
    assert introspect(stack, "eu", kept["access_token"])["active"] is True
