"""Probes the drills take of a running stack: log in, introspect, and time how long a login or a
revocation made in one region takes to show in another (ms)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from schemas import names
from schemas.redis_client import make_sync_redis
from services.devstack.drill import check
from services.devstack.drill.load import CLIENT, PASSWORD
from services.devstack.process import InfraError
from services.devstack.stack import INTROSPECTION_CLIENT_ID, Stack


def until(check_fn: Callable[[], object], within_s: float = 60.0, every_s: float = 0.1) -> None:
    """Call ``check_fn`` every ``every_s`` s until it is truthy; InfraError after ``within_s`` s."""
    deadline = time.monotonic() + within_s
    while not check_fn():
        if time.monotonic() > deadline:
            raise InfraError(f"condition not met within {within_s:.0f}s")
        time.sleep(every_s)


def login(stack: Stack, region: str, user: str, via: str | None = None) -> str:
    """A password-grant login of ``user`` in ``region`` (or through the base URL ``via``, e.g. a
    front door); the access token (raises on non-200)."""
    return login_tokens(stack, region, user, via)["access_token"]


def login_tokens(stack: Stack, region: str, user: str, via: str | None = None) -> dict[str, str]:
    """A password-grant login of ``user`` in ``region`` (or through the base URL ``via``): the
    token response's string fields (``access_token``, ``refresh_token``, ...);
    httpx.HTTPStatusError on a non-200."""
    s = stack.settings[region]
    url = via or f"http://{s.http_host}:{s.http_port}"
    form = {"grant_type": "password", "username": user, "password": PASSWORD, **CLIENT}
    answer = httpx.post(f"{url}/oauth2/token", data=form, timeout=10)
    answer.raise_for_status()
    return {k: v for k, v in answer.json().items() if isinstance(v, str)}


def refresh(stack: Stack, region: str, refresh_token: str) -> httpx.Response:
    """An RFC 6749 section 6 refresh in ``region``, answered whatever its status."""
    s = stack.settings[region]
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **CLIENT}
    return httpx.post(f"http://{s.http_host}:{s.http_port}/oauth2/token", data=form, timeout=10)


def introspect(stack: Stack, region: str, token: str) -> bool:
    """Whether ``region``'s RFC 7662 introspection calls ``token`` active."""
    return bool(introspection(stack, region, token).get("active"))


def introspection(stack: Stack, region: str, token: str) -> dict[str, Any]:
    """``region``'s RFC 7662 introspection answer for ``token`` (``{}`` on a non-200)."""
    s = stack.settings[region]
    answer = httpx.post(
        f"http://{s.http_host}:{s.http_port}/oauth2/introspect",
        data={"token": token},
        auth=(INTROSPECTION_CLIENT_ID, stack.introspection_secret),
        timeout=10,
    )
    body: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
    return body


def login_propagation(stack: Stack, home: str, away: str, user: str) -> float:
    """ms from a login's 200 in ``home`` until its session is in ``away``'s Redis."""
    token = login(stack, home, user)
    started = time.monotonic()
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    client = make_sync_redis(stack.settings[away].redis_url)
    try:
        until(lambda: client.exists(names.redis_session_key(sid)), 30, every_s=0.002)
    finally:
        client.close()
    return (time.monotonic() - started) * 1000


def revocation_propagation(stack: Stack, home: str, away: str, user: str) -> tuple[float, float]:
    """``(answer ms, propagation ms)`` of an RFC 7009 revocation of a fresh access token in
    ``home``: how long ``home`` took to answer it, and from that answer until ``away``'s
    introspection calls the token inactive (the same start as ``login_propagation``)."""
    token = login(stack, home, user)
    s = stack.settings[home]
    asked = time.monotonic()
    httpx.post(f"http://{s.http_host}:{s.http_port}/oauth2/revoke", data={"token": token, **CLIENT})
    answered = time.monotonic()
    until(lambda: not introspect(stack, away, token), 30, every_s=0.002)
    return (answered - asked) * 1000, (time.monotonic() - answered) * 1000


def pair(values: list[float]) -> str:
    """``"p50 / p99"`` of ``values`` (ms), one decimal."""
    return f"{check.percentile(values, 0.5):.1f} / {check.percentile(values, 0.99):.1f}"
