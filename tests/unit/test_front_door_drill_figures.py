"""The region-down-behind-front-door drill's figures, from a timeline of answers (s)."""

from __future__ import annotations

import jwt

from services.devstack.drill.frontdoor import Served, failover_figures, served
from services.devstack.drill.load import Outcome

KILLED, RESTARTED, BACK = 10.0, 20.0, 22.0


def answer(at: float, region: str, ok: bool = True, status: int = 200) -> Served:
    return Served(at, status if ok else 502, region, "login", ok)


def test_failover_and_failback_times_and_failures_around_the_kill() -> None:
    timeline = [
        answer(9.0, "eu"),
        answer(9.9, "", ok=False),  # in flight when the kill struck
        answer(10.2, "", ok=False),
        answer(10.3, "eu"),  # a late answer of home cannot be a failover
        answer(10.6, "us"),
        answer(21.0, "us"),
        answer(22.1, "us"),  # after the restart, still away until the checks rise
        answer(22.5, "eu"),
    ]
    figures = failover_figures("eu", timeline, KILLED, RESTARTED, BACK)
    assert figures["failed requests"] == 2
    assert figures["failed requests sent before the kill"] == 1
    assert figures["failed requests sent after the kill"] == 1
    assert figures["s from the kill to the first success from another region"] == 0.6
    assert figures["s from the restart to the first success from home"] == 0.5
    assert figures["s to restart the home login (to /healthz 200)"] == 2.0
    assert figures["successes while down, by answering region"] == "eu=1, us=2"


def test_a_client_never_sent_elsewhere_says_never() -> None:
    figures = failover_figures("eu", [answer(11.0, "", ok=False)], KILLED, RESTARTED, BACK)
    assert figures["s from the kill to the first success from another region"] == "never"
    assert figures["s from the restart to the first success from home"] == "never"


def test_the_answering_region_of_a_login_is_its_access_tokens_region_claim() -> None:
    token = jwt.encode({"region": "us", "sid": "s"}, "k" * 32, algorithm="HS256")
    assert served(Outcome(1.0, "eu", "login", 200, "s", token)).region == "us"
    assert served(Outcome(1.0, "eu", "revoke", 200, "s", token)).region == ""
    assert served(Outcome(1.0, "eu", "login", 502)).ok is False
