"""Which refresh token a session accepts (services.login.refresh_rule), table-driven."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.login.refresh import session_of
from services.login.refresh_rule import Verdict, judge
from services.login.refresh_state import RefreshState
from services.login.tokens import new_refresh_token

T = 1_800_000_000_000  # the last rotation, epoch ms
IDLE_S = 3600
STATE = RefreshState(
    user_id="u",
    client_id="web",
    started_at_ms=T - 60_000,
    expires_at_ms=T + 86_400_000,
    current_hash="c" * 64,
    previous_hash="p" * 64,
    last_active_ms=T,
    presented_spent_by=None,
)
SPENT = replace(STATE, presented_spent_by="01a20d6d-5a00-7eac-9980-39badf77be60")

CASES = [
    # (name, state, presented, now, grace_s, verdict)
    ("current token rotates", STATE, "c" * 64, T + 1, 0, Verdict.ROTATE),
    ("unknown token", STATE, "x" * 64, T + 1, 0, Verdict.UNKNOWN),
    ("an older spent token is reuse", SPENT, "o" * 64, T + 1, 30, Verdict.REUSED),
    ("previous token without grace is reuse", replace(SPENT, presented_spent_by="e"), "p" * 64,
     T + 1, 0, Verdict.REUSED),
    ("previous token within grace retries", SPENT, "p" * 64, T + 30_000, 30, Verdict.RETRY),
    ("previous token after grace is reuse", SPENT, "p" * 64, T + 30_001, 30, Verdict.REUSED),
    ("past absolute expiry", STATE, "c" * 64, T + 86_400_000, 0, Verdict.EXPIRED),
    ("expiry beats reuse", SPENT, "o" * 64, T + 86_400_000, 0, Verdict.EXPIRED),
    ("idle too long", STATE, "c" * 64, T + IDLE_S * 1000 + 1, 0, Verdict.IDLE),
    ("idle exactly at the limit still rotates", STATE, "c" * 64, T + IDLE_S * 1000, 0,
     Verdict.ROTATE),
    ("reuse is reported even when idle", SPENT, "o" * 64, T + IDLE_S * 1000 + 1, 0,
     Verdict.REUSED),
    ("before the first rotation no previous token exists", replace(STATE, previous_hash=""),
     "", T + 1, 30, Verdict.UNKNOWN),
]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "presented", "now", "grace", "verdict"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_verdicts(
    state: RefreshState, presented: str, now: int, grace: float, verdict: Verdict
) -> None:
    assert judge(state, presented, now, idle_ttl_s=IDLE_S, grace_s=grace) is verdict


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
