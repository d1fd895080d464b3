"""One system under test, described so the same load generator code drives both: where its
token and introspection endpoints are, what forms they take, how a session is ended, and
which processes count as "the login process"."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx


@dataclass(frozen=True)
class Side:
    """``password_form`` and ``client_form`` are sent as form fields (RFC 6749 §4.3, §6);
    ``introspection_auth`` is HTTP Basic (RFC 7662 §2.1). ``logout`` ends the session behind
    a token response (a dict with ``access_token`` and ``refresh_token``)."""

    name: str
    url: str
    token_path: str
    introspect_path: str
    password_form: dict[str, str]
    client_form: dict[str, str]
    introspection_auth: tuple[str, str]
    login_pids: Callable[[], list[int]]
    logout: Callable[[httpx.Client, dict[str, str]], None]

    def password_body(self) -> str:
        return urlencode({"grant_type": "password", **self.client_form, **self.password_form})

    def refresh_prefix(self) -> str:
        """The refresh grant's form up to the token itself (wrk's script appends it)."""
        fields = urlencode({"grant_type": "refresh_token", **self.client_form})
        return f"{fields}&refresh_token="

    def introspect_body(self, token: str) -> str:
        return urlencode({"token": token})

    def login(self, client: httpx.Client) -> dict[str, str]:
        """One password grant; HTTPStatusError if refused."""
        form = {"grant_type": "password", **self.client_form, **self.password_form}
        answer = client.post(f"{self.url}{self.token_path}", data=form)
        answer.raise_for_status()
        return dict(answer.json())

    def active(self, client: httpx.Client, token: str) -> bool:
        answer = client.post(
            f"{self.url}{self.introspect_path}", data={"token": token}, auth=self.introspection_auth
        )
        answer.raise_for_status()
        return bool(answer.json().get("active"))


def basic(auth: tuple[str, str]) -> str:
    """An HTTP Basic Authorization header value."""
    import base64

    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


def logins(side: Side, count: int) -> list[dict[str, str]]:
    """``count`` token responses from sequential password grants."""
    with httpx.Client(timeout=60) as client:
        return [side.login(client) for _ in range(count)]


def time_until_inactive(side: Side, count: int, timeout_s: float = 10.0) -> list[float]:
    """For ``count`` fresh sessions: ms from sending the logout to the first introspection
    that answers ``active: false`` for the session's access token. RuntimeError on timeout."""
    samples = []
    with httpx.Client(timeout=60) as client:
        for tokens in (side.login(client) for _ in range(count)):
            if not side.active(client, tokens["access_token"]):
                raise RuntimeError(f"{side.name}: a fresh token is already inactive")
            started = time.perf_counter()
            side.logout(client, tokens)
            while side.active(client, tokens["access_token"]):
                if time.perf_counter() - started > timeout_s:
                    raise RuntimeError(
                        f"{side.name}: token still active {timeout_s} s after logout"
                    )
            samples.append((time.perf_counter() - started) * 1000)
    return samples
