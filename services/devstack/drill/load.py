"""A bounded load generator: logins, refreshes and revocations spread over the regions.

Operations are started on a fixed schedule (``rate_per_s``) whatever the answers, with at most
``MAX_IN_FLIGHT`` outstanding, so a stalled region shows up as failures and timeouts instead of
slowing the whole load down. Every answer is recorded with its time for the drill's figures.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from schemas.names import DEV_PUBLIC_CLIENT_ID

CLIENT = {"client_id": DEV_PUBLIC_CLIENT_ID}
"""The dev stack's first-party public client, allowed the password grant (issue 12)."""

PASSWORD = "drill password 0123456789"  # noqa: S105 (throwaway drill users)
MAX_IN_FLIGHT = 32
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Outcome:
    """One answered (or failed) operation; ``at`` is ``time.monotonic()`` when it was sent."""

    at: float
    region: str
    op: str
    status: int
    """HTTP status, or 0 for a transport error or timeout."""
    session_id: str = ""
    access_token: str = ""
    retry_after: str | None = None


@dataclass
class Tokens:
    region: str
    session_id: str
    access_token: str
    refresh_token: str


@dataclass
class Load:
    """Runs on its own thread and event loop; ``outcomes`` grows until ``stop()``."""

    login_urls: dict[str, str]
    users: list[str]
    rate_per_s: float
    regions: list[str] = field(default_factory=list)
    """Where operations go (default: every region); a drill may change it while running."""
    outcomes: list[Outcome] = field(default_factory=list)
    _held: list[Tokens] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.regions = self.regions or list(self.login_urls)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(TIMEOUT_S + 5)

    async def _run(self) -> None:
        rng = random.Random(7)  # noqa: S311 (picks operations, no secrets)
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
            n = 0
            started = time.monotonic()
            while not self._stop.is_set():
                region = self.regions[n % len(self.regions)]
                op = self._pick(rng)
                await gate.acquire()
                task = asyncio.create_task(self._one(http, op, region, rng))
                task.add_done_callback(lambda _t: gate.release())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
                await asyncio.sleep(max(0.0, started + n / self.rate_per_s - time.monotonic()))
            if tasks:
                await asyncio.wait(tasks)

    def _pick(self, rng: random.Random) -> str:
        roll = rng.random()
        if not self._held or roll < 0.6:
            return "login"
        return "refresh" if roll < 0.85 else "revoke"

    async def _one(self, http: httpx.AsyncClient, op: str, region: str, rng: random.Random) -> None:
        at = time.monotonic()
        url = self.login_urls[region]
        try:
            if op == "login":
                outcome = await self._login(http, url, region, rng.choice(self.users), at)
            else:
                held = self._held.pop(rng.randrange(len(self._held)))
                outcome = await (self._refresh if op == "refresh" else self._revoke)(
                    http, url, region, held, at
                )
        except (httpx.HTTPError, IndexError):
            outcome = Outcome(at, region, op, 0)
        self.outcomes.append(outcome)

    async def _login(
        self, http: httpx.AsyncClient, url: str, region: str, user: str, at: float
    ) -> Outcome:
        form = {"grant_type": "password", "username": user, "password": PASSWORD, **CLIENT}
        answer = await http.post(f"{url}/oauth2/token", data=form)
        return self._granted(answer, region, "login", at)

    async def _refresh(
        self, http: httpx.AsyncClient, url: str, region: str, held: Tokens, at: float
    ) -> Outcome:
        form = {"grant_type": "refresh_token", "refresh_token": held.refresh_token, **CLIENT}
        answer = await http.post(f"{url}/oauth2/token", data=form)
        if answer.status_code == 503:
            self._held.append(held)  # not there yet (or broker down): the client keeps it
        return self._granted(answer, region, "refresh", at)

    async def _revoke(
        self, http: httpx.AsyncClient, url: str, region: str, held: Tokens, at: float
    ) -> Outcome:
        # The access token: it names its session itself, so every region can revoke it at once.
        # A refresh token rotated in another region that has not arrived here yet would be
        # "unknown" to this region, and RFC 7009 answers 200 for unknown tokens.
        answer = await http.post(
            f"{url}/oauth2/revoke", data={"token": held.access_token, **CLIENT}
        )
        if answer.status_code != 200:
            self._held.append(held)
        return Outcome(
            at,
            region,
            "revoke",
            answer.status_code,
            held.session_id,
            held.access_token,
            answer.headers.get("retry-after"),
        )

    def _granted(self, answer: httpx.Response, region: str, op: str, at: float) -> Outcome:
        if answer.status_code != 200:
            return Outcome(
                at, region, op, answer.status_code, retry_after=answer.headers.get("retry-after")
            )
        body: dict[str, Any] = answer.json()
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        tokens = Tokens(region, str(claims["sid"]), body["access_token"], body["refresh_token"])
        self._held.append(tokens)
        return Outcome(at, region, op, 200, tokens.session_id, tokens.access_token)
