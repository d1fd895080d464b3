"""The region-down-behind-front-door drill: a client works steadily through its home region's
front door (logins, refreshes and revocations from ``load.Load``, plus a steady introspection of
one token) while the home region's login endpoint is SIGKILLed and, after the fault time,
restarted. It reports the requests that failed, how long the front door took to send the client
to another region, and how long to bring it home again.

Which region answered: a login or refresh answer's access token names its issuing region (its
``region`` claim); an introspection answer carries the front door's ``X-Authplane-Region``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
import jwt

from schemas import names
from services.devstack import recovery
from services.devstack.drill import probes
from services.devstack.drill.drills import Figures, Plan, create_users, settle
from services.devstack.drill.load import Load, Outcome
from services.devstack.process import InfraError
from services.devstack.stack import INTROSPECTION_CLIENT_ID, Stack

RESTART_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Served:
    """One answer through the front door: sent at ``at`` (monotonic s), its HTTP status (0: no
    answer), the region that answered ("" when unknown), the operation, and whether it did what
    the client asked (a 200; for an introspection, a 200 calling the live token active)."""

    at: float
    status: int
    region: str
    op: str
    ok: bool


@dataclass
class Introspector:
    """Introspects ``token`` through ``url`` every ``every_s`` s on its own thread."""

    url: str
    token: str
    auth: tuple[str, str]
    every_s: float
    answers: list[Served] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)

    def _run(self) -> None:
        with httpx.Client(timeout=10.0) as http:
            while not self._stop.wait(self.every_s):
                at = time.monotonic()
                try:
                    answer = http.post(
                        f"{self.url}/oauth2/introspect", data={"token": self.token}, auth=self.auth
                    )
                except httpx.HTTPError:
                    self.answers.append(Served(at, 0, "", "introspect", ok=False))
                    continue
                status = answer.status_code
                ok = status == 200 and bool(answer.json().get("active"))
                region = answer.headers.get(names.HEADER_SERVED_BY, "")
                self.answers.append(Served(at, status, region, "introspect", ok))


def served(outcome: Outcome) -> Served:
    """A load outcome with the region that answered it (from the new access token's ``region``
    claim; "" for revocations and failures, whose answer names no region)."""
    region = ""
    if outcome.status == 200 and outcome.op in ("login", "refresh") and outcome.access_token:
        claims = jwt.decode(outcome.access_token, options={"verify_signature": False})
        region = str(claims.get("region", ""))
    return Served(outcome.at, outcome.status, region, outcome.op, outcome.status == 200)


def region_down_behind_front_door(
    stack: Stack, plan: Plan, home: str, inherited_env: Mapping[str, str]
) -> Figures:
    """SIGKILL ``home``'s login endpoint under load through ``home``'s front door; restart it
    after ``plan.fault_s`` s. InfraError when the stack has no front door."""
    door = stack.front_door_urls.get(home)
    if door is None:
        raise InfraError("this drill needs a stack with a front door (haproxy on PATH)")
    users = create_users(stack, plan.users)
    token = probes.login(stack, home, users[0], via=door)
    auth = (INTROSPECTION_CLIENT_ID, stack.introspection_secret)
    watcher = Introspector(door, token, auth, every_s=1 / plan.rate_per_s)
    load = Load({home: door}, users, plan.rate_per_s)
    load.start()
    watcher.start()
    time.sleep(plan.warm_s)
    killed_at = recovery.kill_app(stack, home, "login")
    time.sleep(plan.fault_s)
    restart_at = time.monotonic()
    recovery.start_app(stack, home, "login", inherited_env, timeout=RESTART_TIMEOUT_S)
    back_at = time.monotonic()
    time.sleep(plan.after_s)
    load.stop()
    watcher.stop()
    outcomes = list(load.outcomes)
    answers = sorted([*map(served, outcomes), *watcher.answers], key=lambda a: a.at)
    figures = failover_figures(home, answers, killed_at, restart_at, back_at)
    settle(stack, outcomes, plan, figures)
    return figures


def failover_figures(
    home: str, answers: list[Served], killed_at: float, restart_at: float, back_at: float
) -> Figures:
    """The drill's figures from ``answers`` (sorted by send time); times are monotonic s: the
    kill, the restart of home's login, and when it answered /healthz again. "never" for a
    switch (away, or home again) that did not happen."""
    failed = [a for a in answers if not a.ok]
    during = [a for a in answers if killed_at <= a.at < back_at]
    away = next((a.at for a in during if a.ok and a.region not in ("", home)), None)
    home_again = next(
        (a.at for a in answers if a.at >= back_at and a.ok and a.region == home), None
    )
    by_region = Counter(a.region for a in during if a.ok and a.region)
    return {
        "home region": home,
        "requests (login, refresh, revoke, introspect)": len(answers),
        "failed requests": len(failed),
        "failed answers (op status: count; 0 = no answer)": _counts(failed),
        # Sent before the kill but not answered by then: what the kill cut off mid-request.
        "failed requests sent before the kill": sum(a.at < killed_at for a in failed),
        "failed requests sent after the kill": sum(a.at >= killed_at for a in failed),
        "successes while the home login was down": _ratio(during),
        "successes while down, by answering region": _by(by_region),
        "s from the kill to the first success from another region": _since(killed_at, away),
        "s to restart the home login (to /healthz 200)": round(back_at - restart_at, 2),
        "s from the restart to the first success from home": _since(back_at, home_again),
    }


def _since(start: float | None, end: float | None) -> object:
    return round(end - start, 2) if start is not None and end is not None else "never"


def _ratio(answers: list[Served]) -> str:
    ok = sum(a.ok for a in answers)
    return f"{ok}/{len(answers)}" if answers else "0/0"


def _counts(answers: list[Served]) -> str:
    counted = Counter((a.op, a.status) for a in answers)
    return ", ".join(f"{op} {status}: {n}" for (op, status), n in sorted(counted.items())) or "none"


def _by(counted: Counter[str]) -> str:
    return ", ".join(f"{region}={n}" for region, n in sorted(counted.items())) or "none"
