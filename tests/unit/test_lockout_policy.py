"""The lockout rule (threshold, growing lock, cap) and where the client address comes from."""

from __future__ import annotations

import pytest

from schemas.identity import user_id_for
from schemas.settings import Settings, SettingsError
from services.login.lockout import Policy, attempted_user_id, client_ip

POLICY = Policy(
    max_failures=3,
    ip_max_failures=10,
    window_ms=900_000,
    lock_ms=60_000,
    growth=2.0,
    max_lock_ms=300_000,
)


@pytest.mark.parametrize(
    ("count", "locked_for_ms"),
    [(0, 0), (2, 0), (3, 60_000), (4, 120_000), (5, 240_000), (6, 300_000), (999, 300_000)],
)
def test_the_lock_grows_with_each_failure_past_the_threshold_up_to_the_cap(
    count: int, locked_for_ms: int
) -> None:
    until = POLICY.locked_until_ms(count, latest_ms=1_000_000, threshold=3)
    assert until == (1_000_000 + locked_for_ms if locked_for_ms else 0)


def test_a_growth_of_one_is_a_fixed_lock_period() -> None:
    fixed = Policy(3, 10, 900_000, 60_000, 1.0, 300_000)
    assert fixed.locked_until_ms(3, 0, 3) == fixed.locked_until_ms(9, 0, 3) == 60_000


def test_settings_refuse_a_window_longer_than_the_projectors_retention() -> None:
    with pytest.raises(SettingsError, match="LOGIN_FAILURE_WINDOW_S"):
        Settings(login_failure_window_s=2 * 24 * 3600)
    with pytest.raises(SettingsError, match="LOGIN_MAX_FAILURES"):
        Settings(login_max_failures=0)


def test_usernames_count_by_their_normalised_form_and_invalid_ones_still_count() -> None:
    assert attempted_user_id("  Alice ") == user_id_for("alice")
    assert attempted_user_id("bad name!") == attempted_user_id("BAD NAME!")
    assert attempted_user_id("bad name!") != attempted_user_id("other bad!")


@pytest.mark.parametrize(
    ("peer", "forwarded", "hops", "expected"),
    [
        ("10.0.0.1", "6.6.6.6", 0, "10.0.0.1"),  # header ignored unless proxies are trusted
        ("10.0.0.1", "6.6.6.6, 203.0.113.7", 1, "203.0.113.7"),  # spoofed left entry ignored
        ("10.0.0.1", "6.6.6.6, 203.0.113.7, 10.0.0.9", 2, "203.0.113.7"),
        ("10.0.0.1", "not-an-ip", 1, "10.0.0.1"),
        ("10.0.0.1", None, 1, "10.0.0.1"),
        (None, None, 0, ""),
        ("10.0.0.1", "2001:DB8::1", 1, "2001:db8::1"),
    ],
)
def test_the_client_ip(peer: str | None, forwarded: str | None, hops: int, expected: str) -> None:
    assert client_ip(peer, forwarded, hops) == expected
