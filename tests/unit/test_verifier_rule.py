"""The revocation check rule as a pure function of (credential, revocation state)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.verifier.rule import RevocationState, session_is_revoked, token_is_revoked
from services.verifier.store import _state_from_rows, parse_millis

IAT = 1_700_000_000
CLAIMS = {"sub": "u1", "sid": "s1", "jti": "j1", "iat": IAT}

TOKEN_CASES = {
    "nothing revoked": (RevocationState(), False),
    "session revoked": (RevocationState(session_revoked=True), True),
    "jti revoked": (RevocationState(token_revoked=True), True),
    "user not_before after issue": (RevocationState(user_not_before_ms=IAT * 1000 + 1), True),
    "user not_before in the same second": (
        RevocationState(user_not_before_ms=IAT * 1000 + 999),
        True,
    ),
    "user not_before exactly at issue": (RevocationState(user_not_before_ms=IAT * 1000), False),
    "user not_before before issue": (RevocationState(user_not_before_ms=IAT * 1000 - 1), False),
    "issued after but session revoked": (
        RevocationState(session_revoked=True, user_not_before_ms=0),
        True,
    ),
}


@pytest.mark.parametrize(("state", "revoked"), TOKEN_CASES.values(), ids=TOKEN_CASES.keys())
def test_token_rule(state: RevocationState, revoked: bool) -> None:
    assert token_is_revoked(CLAIMS, state) is revoked


SESSION_CASES = {
    "nothing revoked": (RevocationState(), False),
    "session revoked": (RevocationState(session_revoked=True), True),
    "a jti revocation does not end the session": (RevocationState(token_revoked=True), False),
    "started before not_before": (RevocationState(user_not_before_ms=5001), True),
    "started at not_before": (RevocationState(user_not_before_ms=5000), False),
}


@pytest.mark.parametrize(("state", "revoked"), SESSION_CASES.values(), ids=SESSION_CASES.keys())
def test_session_rule(state: RevocationState, revoked: bool) -> None:
    assert session_is_revoked(5000, state) is revoked


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_postgres_rows_give_the_same_state_as_redis_would() -> None:
    rows = [
        ("user", _at(1_000_123)),
        ("user", _at(2_000_456)),  # the greatest not_before wins
        ("token", None),
    ]
    state = _state_from_rows(rows)
    assert state == RevocationState(False, True, 2_000_456)
    assert _state_from_rows([]) == RevocationState()
    assert _state_from_rows([("session", None)]).session_revoked


@pytest.mark.parametrize(("raw", "value"), [(None, None), (b"123", 123), ("7", 7)])
def test_not_before_field_parsing(raw: object, value: int | None) -> None:
    assert parse_millis(raw) == value


def test_unreadable_not_before_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        parse_millis(b"yesterday")
