"""The revocation check rule as a pure function of (credential, revocation state)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.names import NO_USER_REVOCATION, USER_REVOCATION_SEEN_CLAIM
from schemas.settings import CLOCK_SKEW_S
from services.verifier.rule import RevocationState, session_is_revoked, token_is_revoked
from services.verifier.signature import CLOCK_SKEW_LEEWAY_S
from services.verifier.store import _state_from_rows, parse_millis, parse_user_fields

IAT = 1_700_000_000
CLAIMS = {"sub": "u1", "sid": "s1", "jti": "j1", "iat": IAT}
SKEW_MS = CLOCK_SKEW_S * 1000
EARLIER = "018f3a6e-2c40-7a1b-8c3d-4e5f60718293"  # an older user-wide revocation
REVOCATION = "018f3a6e-2c41-7000-8000-000000000001"  # the user's latest user-wide revocation
LATER = "018f3a6e-2c42-7000-8000-000000000002"


def _user_revoked(not_before_ms: int, latest: str | None = REVOCATION) -> RevocationState:
    return RevocationState(user_not_before_ms=not_before_ms, user_revocation_id=latest)


def _with_seen(seen: object) -> dict[str, object]:
    return {**CLAIMS, USER_REVOCATION_SEEN_CLAIM: seen}


TOKEN_CASES = {
    "nothing revoked": (CLAIMS, RevocationState(), False),
    "session revoked": (CLAIMS, RevocationState(session_revoked=True), True),
    "jti revoked": (CLAIMS, RevocationState(token_revoked=True), True),
    "issued after but session revoked": (
        _with_seen(LATER),
        RevocationState(session_revoked=True, user_not_before_ms=0),
        True,
    ),
    # Tokens carrying the log evidence: the issuing region's clock plays no part.
    "issued knowing the revocation, in its very second": (
        _with_seen(REVOCATION),
        _user_revoked(IAT * 1000 + 999),
        False,
    ),
    "issued knowing the revocation by a region whose clock is 8 s slow": (
        _with_seen(REVOCATION),
        _user_revoked(IAT * 1000 + 8_000),
        False,
    ),
    "issued knowing a later revocation": (_with_seen(LATER), _user_revoked(IAT * 1000), False),
    "issued before the region saw it, by a clock 8 s fast": (
        _with_seen(EARLIER),
        _user_revoked(IAT * 1000 - 8_000),
        True,
    ),
    "issued before the region saw it, however late its clock says": (
        _with_seen(EARLIER),
        _user_revoked(IAT * 1000 - 3_600_000),
        True,
    ),
    "issued having seen no revocation at all": (
        _with_seen(NO_USER_REVOCATION),
        _user_revoked(IAT * 1000 - 60_000),
        True,
    ),
    "evidence that is not a canonical id counts as having seen nothing": (
        _with_seen(REVOCATION.upper()),
        _user_revoked(IAT * 1000 - 60_000),
        True,
    ),
    "evidence of another type counts as having seen nothing": (
        _with_seen(10**30),
        _user_revoked(IAT * 1000 - 60_000),
        True,
    ),
    "evidence, but the store predates revocation ids: the clock rule": (
        _with_seen(REVOCATION),
        _user_revoked(IAT * 1000 - SKEW_MS + 1, latest=None),
        True,
    ),
    # Tokens without evidence (issued before the claim existed): the clock rule with the skew
    # bound applied in the safe direction.
    "legacy: not_before after issue": (CLAIMS, _user_revoked(IAT * 1000 + 1), True),
    "legacy: not_before in the same second": (CLAIMS, _user_revoked(IAT * 1000 + 999), True),
    "legacy: minted 7 s before it by a clock 8 s fast": (
        CLAIMS,
        _user_revoked(IAT * 1000 - 1_000),
        True,
    ),
    "legacy: issued up to the skew bound after it": (
        CLAIMS,
        _user_revoked(IAT * 1000 - SKEW_MS + 1),
        True,
    ),
    "legacy: issued the skew bound after it": (
        CLAIMS,
        _user_revoked(IAT * 1000 - SKEW_MS),
        False,
    ),
}


@pytest.mark.parametrize(
    ("claims", "state", "revoked"), TOKEN_CASES.values(), ids=TOKEN_CASES.keys()
)
def test_token_rule(claims: dict[str, object], state: RevocationState, revoked: bool) -> None:
    assert token_is_revoked(claims, state) is revoked


SESSION_CASES = {
    "nothing revoked": ("", RevocationState(), False),
    "session revoked": (REVOCATION, RevocationState(session_revoked=True), True),
    "a jti revocation does not end the session": ("", RevocationState(token_revoked=True), False),
    "started knowing the revocation, in its second": (REVOCATION, _user_revoked(5_999), False),
    "started before the region saw it, clock 8 s fast": (EARLIER, _user_revoked(-3_000), True),
    "legacy: started before not_before": ("", _user_revoked(5_001), True),
    "legacy: started within the skew bound after it": ("", _user_revoked(5_001 - SKEW_MS), True),
    "legacy: started the skew bound after it": ("", _user_revoked(5_000 - SKEW_MS), False),
}


@pytest.mark.parametrize(
    ("seen", "state", "revoked"), SESSION_CASES.values(), ids=SESSION_CASES.keys()
)
def test_session_rule(seen: str, state: RevocationState, revoked: bool) -> None:
    assert session_is_revoked(5000, state, seen) is revoked


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def test_postgres_rows_give_the_same_state_as_redis_would() -> None:
    rows = [
        ("user", _at(1_000_123), LATER),  # the greatest id wins, whatever its not_before
        ("user", _at(2_000_456), EARLIER),  # the greatest not_before wins
        ("token", None, REVOCATION),
    ]
    state = _state_from_rows(rows)
    assert state == RevocationState(False, True, 2_000_456, user_revocation_id=LATER)
    assert _state_from_rows([]) == RevocationState()
    assert _state_from_rows([("session", None, REVOCATION)]).session_revoked


@pytest.mark.parametrize(("raw", "value"), [(None, None), (b"123", 123), ("7", 7)])
def test_not_before_field_parsing(raw: object, value: int | None) -> None:
    assert parse_millis(raw) == value


def test_unreadable_not_before_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        parse_millis(b"yesterday")


def test_user_entry_fields_parse_to_not_before_and_latest_id() -> None:
    assert parse_user_fields([b"123", REVOCATION.encode()]) == (123, REVOCATION)
    assert parse_user_fields([None, None]) == (None, None)
    assert parse_user_fields(["7", None]) == (7, None)


def test_revocations_and_signatures_assume_one_skew_bound() -> None:
    """A token the signature check accepts as issued up to the bound in the future must not
    slip past a revocation for the same reason."""
    assert CLOCK_SKEW_LEEWAY_S == CLOCK_SKEW_S
