"""The revocation mirror's in-memory copy of rev:v1:* keys (no Redis: the bookkeeping alone)."""

from __future__ import annotations

from schemas import names
from services.verifier.mirrored import MirroredRevocations, is_user_key
from services.verifier.rule import RevocationState

USER_KEY = names.redis_user_not_before_key("u-1")


def test_scanned_keys_land_in_their_set_and_user_keys_are_handed_back() -> None:
    known = MirroredRevocations()
    assert known.add_scanned(names.redis_revoked_session_key("s-1")) is None
    assert known.add_scanned(names.redis_revoked_token_key("j-1")) is None
    assert known.add_scanned(names.redis_revoked_signing_key_key("k-1")) is None
    assert known.add_scanned(USER_KEY) == "u-1"
    assert is_user_key(USER_KEY)
    assert not is_user_key(names.redis_revoked_session_key("u-1"))
    known.set_user("u-1", (1_700_000_000_123, None))
    assert known.state("u-1", "s-1", "j-1", "k-1") == RevocationState(
        True, True, 1_700_000_000_123, True, None
    )
    assert known.state("u-2", "s-2", "j-2", "k-2") == RevocationState()
    assert len(known) == 4


def test_a_reread_key_adds_or_removes_exactly_that_entry() -> None:
    known = MirroredRevocations()
    session = names.redis_revoked_session_key("s-1")
    known.apply(session, 1)
    assert known.state("u", "s-1", "j").session_revoked
    known.apply(session, 0)  # expired or deleted: EXISTS answers 0
    assert not known.state("u", "s-1", "j").session_revoked
    known.apply(USER_KEY, [b"42", b"0190a5c4-0000-7000-8000-000000000000"])
    assert known.state("u-1", "s", "j").user_not_before_ms == 42
    known.apply(USER_KEY, [None, None])  # the hash is gone
    assert known.state("u-1", "s", "j") == RevocationState()
