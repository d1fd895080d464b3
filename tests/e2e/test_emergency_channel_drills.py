"""Issue 11's emergency login channel, on the 3-region Kafka drill stack (one stack for the
module): the README table's rows that need a second region, then the broker-outage and
relay-crash drills (the same code ``authplane drill NAME`` runs).

A region is cut from the log by disabling every toxiproxy link from and to its Kafka node: with
``min.insync.replicas`` = 2 its own node acknowledges nothing, so without the channel its logins
answer 503 (the outage). Every test heals what it cut, so the next one starts from a whole stack.
"""

from __future__ import annotations

from functools import partial

import httpx
import jwt
import pytest

from services.devstack.drill import ledger, probes
from services.devstack.drill.channel import NEVER, RESTARTED, links_of
from services.devstack.drill.drills import Plan, create_users
from services.devstack.drill.runner import REGIONS, render, run_drill
from services.devstack.stack import Stack
from tests.e2e.drive import authctl, eventually

# A Kafka stack's start plus a 15 s outage, a crash and their convergence outlast the default.
pytestmark = pytest.mark.timeout(900)
CUT = REGIONS[-1]
ELSEWHERE = REGIONS[0]
# 15 s of outage: three times the login's produce timeout (5 s), so most of the cut is spent on
# the channel; `authplane drill broker-outage` keeps issue 11's 30 s.
OUTAGE = Plan(rate_per_s=3.0, warm_s=3.0, fault_s=15.0, after_s=5.0, users=3)
CRASH = Plan(rate_per_s=3.0, warm_s=3.0, fault_s=10.0, after_s=5.0, users=3)


def _sid(access_token: str) -> str:
    return str(jwt.decode(access_token, options={"verify_signature": False})["sid"])


def _answer_once_known(stack: Stack, region: str, refresh_token: str) -> httpx.Response:
    """Retry a refresh while ``region`` answers 503 (with Retry-After), as a client does."""

    def attempt() -> httpx.Response | None:
        answer = probes.refresh(stack, region, refresh_token)
        if answer.status_code == 503:
            assert answer.headers["Retry-After"]
            return None
        return answer

    answer: httpx.Response = eventually(attempt, within_s=90.0, every_s=0.5)
    return answer


def test_broker_outage_keeps_logins_succeeding_and_loses_nothing(drill_stack: Stack) -> None:
    figures = run_drill("broker-outage", drill_stack, OUTAGE)
    print(render("broker-outage", OUTAGE, figures))
    assert figures["logins during the cut (every region)"] != "0/0"
    assert float(str(figures["login success during the cut (%)"])) >= 99.0, figures
    assert figures["outbox rows pending at the heal"], "the cut region must have used its outbox"
    assert figures["seconds from the heal until all of them are in every region"] != NEVER
    _nothing_lost_or_doubled(figures)


def test_relay_crash_forwards_every_pending_row_once(drill_stack: Stack) -> None:
    figures = run_drill("relay-crash", drill_stack, CRASH)
    print(render("relay-crash", CRASH, figures))
    pending = figures["outbox rows pending at the kill"]
    assert pending, "the kill must find rows pending"
    assert (
        figures["pending rows forwarded after the restart (in every region's archive)"] == pending
    )
    assert figures["seconds from the heal until the outbox was empty"] != NEVER
    arrived = figures["seconds from the heal until every pending row is in every region's archive"]
    assert arrived != NEVER
    # The region must be able to answer logins again while it is still cut off from the log.
    assert figures["login process restarted while the region is cut off"] == RESTARTED
    answered = str(figures["logins in the cut-off region after the restart, before the heal"])
    ok, tried = answered.split()[0].split("/")
    assert ok == tried != "0", answered
    _nothing_lost_or_doubled(figures)


def test_refresh_in_another_region_waits_for_the_forwarded_session(drill_stack: Stack) -> None:
    """A session started through the channel is unknown elsewhere until the relay forwards it:
    another region answers its refresh 503 + Retry-After (never invalid_grant), then 200."""
    user = create_users(drill_stack, 1, prefix="row-refresh")[0]
    links = links_of(drill_stack)
    links.cut(CUT)
    try:
        tokens = probes.login_tokens(drill_stack, CUT, user)
        early = probes.refresh(drill_stack, ELSEWHERE, tokens["refresh_token"])
        assert early.status_code == 503, early.text
        assert early.json()["error"] == "temporarily_unavailable"
        assert early.headers["Retry-After"]
    finally:
        links.heal(CUT)
    rotated = _answer_once_known(drill_stack, ELSEWHERE, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    assert probes.introspect(drill_stack, ELSEWHERE, rotated.json()["access_token"])


def test_authctl_revoke_elsewhere_during_the_outage_wins_when_the_session_arrives(
    drill_stack: Stack,
) -> None:
    """`authctl revoke user` written in another region while the cut region's login sits in its
    outbox: once the session is forwarded, every region holds it and calls it revoked."""
    user = create_users(drill_stack, 1, prefix="row-revoke")[0]
    links = links_of(drill_stack)
    links.cut(CUT)
    try:
        tokens = probes.login_tokens(drill_stack, CUT, user)
        revoked = authctl(drill_stack, "revoke", "user", user, "--region", ELSEWHERE)
        assert revoked.returncode == 0, revoked.stderr
        # The cut region cannot have heard of the revocation: its own login still works there.
        assert probes.introspect(drill_stack, CUT, tokens["access_token"])
    finally:
        links.heal(CUT)
    sid = _sid(tokens["access_token"])
    for region in drill_stack.settings:
        eventually(partial(ledger.stored_sessions, drill_stack, region, {sid}), within_s=90.0)
        active = partial(probes.introspect, drill_stack, region, tokens["access_token"])
        eventually(lambda: not active(), within_s=60.0)  # noqa: B023 (used at once)
    for region in (CUT, ELSEWHERE):
        answer = _answer_once_known(drill_stack, region, tokens["refresh_token"])
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


def _nothing_lost_or_doubled(figures: dict[str, object]) -> None:
    assert figures["acknowledged logins"], "the load must have logged someone in"
    assert figures["acknowledged logins missing from a region's Postgres (lost)"] == 0
    assert figures["acknowledged logins lost (any region)"] == 0
    assert figures["sessions started twice in a region's archive (duplicated)"] == 0
    assert figures["revocations not in effect (any region)"] == 0
    assert figures["checksum equal in all regions"] is True, (
        f"{figures['checksums']}; kinds that differ: {figures.get('kinds that differ')}"
    )
    assert figures["503 answers without Retry-After"] == 0
