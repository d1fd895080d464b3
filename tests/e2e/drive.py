"""How the e2e tests drive a running stack: as a user would, over HTTP and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from redis import Redis as SyncRedis

from schemas import names
from schemas.names import DEV_PUBLIC_CLIENT_ID
from services.devstack.stack import INTROSPECTION_CLIENT_ID, Stack

PASSWORD = "correct horse battery staple"


def login_url(stack: Stack, region: str) -> str:
    settings = stack.settings[region]
    return f"http://{settings.http_host}:{settings.http_port}"


def wait_ready(stack: Stack, within_s: float = 60.0) -> None:
    """Every region's /readyz says 200 (stores reachable and the projector consuming) and its
    projector has applied the dev clients' registrations (issue 12: logins name a client)."""
    deadline = time.monotonic() + within_s
    for region in stack.settings:
        while True:
            try:
                if httpx.get(f"{login_url(stack, region)}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"region {region} never became ready")
            time.sleep(0.2)
        keys = [names.redis_client_key(client_id) for client_id in stack.clients]
        redis = SyncRedis.from_url(stack.settings[region].redis_url)
        try:
            while redis.exists(*keys) < len(keys):
                if time.monotonic() > deadline:
                    raise AssertionError(f"region {region} never applied the dev clients")
                time.sleep(0.1)
        finally:
            redis.close()


def authctl(stack: Stack, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUTHPLANE_STACK_FILE": str(stack.stack_file)}
    return subprocess.run(
        [sys.executable, "-m", "services.admin.authctl", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def eventually(check: Callable[[], Any], within_s: float = 20.0, every_s: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; propagation is asynchronous."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within_s} s")
        time.sleep(every_s)


def introspect(stack: Stack, region: str, token: str) -> dict[str, Any]:
    response = httpx.post(
        f"{login_url(stack, region)}/oauth2/introspect",
        data={"token": token},
        auth=(INTROSPECTION_CLIENT_ID, stack.introspection_secret),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def password_login(stack: Stack, region: str, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{login_url(stack, region)}/oauth2/token",
        data={
            "grant_type": "password",
            "username": username,
            "password": password,
            "client_id": DEV_PUBLIC_CLIENT_ID,
        },
    )
