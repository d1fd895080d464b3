"""Which refresh token a session accepts (services.login.refresh_rule), table-driven."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from schemas.envelope import new_event_id
from services.login.credentials import session_of
from services.login.refresh_rule import Verdict, judge
from services.login.refresh_state import RefreshState, may_be_in_flight
from services.login.tokens import new_refresh_token, new_session_id

T = 1_800_000_000_000  # the last rotation, epoch ms
IDLE_S = 3600
FIRST_SPENT_AT = new_event_id(T)  # the event that first spent the presented token, at T
STATE = RefreshState(
    user_id="u",
    client_id="web",
    started_at_ms=T - 60_000,
    expires_at_ms=T + 86_400_000,
    current_hash="c" * 64,
    previous_hash="p" * 64,
    last_active_ms=T,
    presented_spent_by=None,
    presented_live=True,
)
SPENT = replace(STATE, presented_spent_by=FIRST_SPENT_AT, presented_live=False)
UNSEEN = replace(STATE, presented_live=False)

CASES = [
    # (name, state, now, grace_s, verdict)
    ("a live token rotates", STATE, T + 1, 0, Verdict.ROTATE),
    ("unknown token", UNSEEN, T + 1, 0, Verdict.UNKNOWN),
    ("a spent token without grace is reuse", SPENT, T + 1, 0, Verdict.REUSED),
    ("a spent token within grace of its first exchange gets a sibling", SPENT, T + 30_000, 30,
     Verdict.RETRY),
    ("a spent token after grace is reuse", SPENT, T + 30_001, 30, Verdict.REUSED),
    ("a spender id that is no UUIDv7 gives no grace", replace(SPENT, presented_spent_by="e"),
     T + 1, 30, Verdict.REUSED),
    ("past absolute expiry", STATE, T + 86_400_000, 0, Verdict.EXPIRED),
    ("expiry beats reuse", SPENT, T + 86_400_000, 0, Verdict.EXPIRED),
    ("idle too long", STATE, T + IDLE_S * 1000 + 1, 0, Verdict.IDLE),
    ("idle exactly at the limit still rotates", STATE, T + IDLE_S * 1000, 0, Verdict.ROTATE),
    ("reuse is reported even when idle", SPENT, T + IDLE_S * 1000 + 1, 0, Verdict.REUSED),
]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "now", "grace", "verdict"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_verdicts(state: RefreshState, now: int, grace: float, verdict: Verdict) -> None:
    assert judge(state, "h" * 64, now, idle_ttl_s=IDLE_S, grace_s=grace) is verdict


def test_a_session_unknown_here_may_be_in_flight_only_while_its_id_is_young() -> None:
    sid = new_event_id(T)
    assert may_be_in_flight(sid, T + 600_000, 600)
    assert not may_be_in_flight(sid, T + 600_001, 600)
    assert not may_be_in_flight(sid, T - 600_001, 600)  # from far in the future: forged
    assert not may_be_in_flight("0b7c2ad2-8f0e-4b5e-9d1e-2f8d5c1a9e33", T, 600)  # a UUIDv4


def test_new_sessions_get_time_ordered_ids() -> None:
    assert may_be_in_flight(new_session_id(), int(time.time() * 1000), 1)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "no-dot",
        "not-a-uuid.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "0b7c2ad2-8f0e-4b5e-9d1e-2f8d5c1a9e33.short",
        "0B7C2AD2-8F0E-4B5E-9D1E-2F8D5C1A9E33.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "0b7c2ad2-8f0e-4b5e-9d1e-2f8d5c1a9e33.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
        "0b7c2ad2-8f0e-4b5e-9d1e-2f8d5c1a9e33.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.x",
    ],
)
def test_malformed_tokens_route_nowhere(token: str) -> None:
    assert session_of(token) is None


def test_issued_tokens_route_to_their_session() -> None:
    assert session_of(new_refresh_token("0b7c2ad2-8f0e-4b5e-9d1e-2f8d5c1a9e33")) == (
        "0b7c2ad2-8f0e-4b5e-9d1e-2f8d5c1a9e33"
    )
