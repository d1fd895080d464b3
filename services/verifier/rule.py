"""The revocation check rule: one definition, used by introspection, the in-process verifier and
refresh. Pure functions of (credential, revocation state), so the rule is tested without stores.

An access token with claims sub, sid, jti, iat is revoked iff its session is revoked, or its jti
is revoked, or it was issued before the user's not-before time, or the key that signed it is
revoked (a compromised key can sign anything, so nothing it signed is trusted). ``iat`` is whole
seconds, so a token issued in the same second as a user revocation counts as revoked: revocation
wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RevocationState:
    """What a region knows about one token's session, jti and user."""

    session_revoked: bool = False
    token_revoked: bool = False
    user_not_before_ms: int | None = None
    key_revoked: bool = False


NOT_REVOKED = RevocationState()


def token_is_revoked(claims: Mapping[str, Any], state: RevocationState) -> bool:
    if state.session_revoked or state.token_revoked or state.key_revoked:
        return True
    return issued_before(claims["iat"] * 1000, state.user_not_before_ms)


def session_is_revoked(started_at_ms: int, state: RevocationState) -> bool:
    """The refresh path: a session is revoked iff revoked itself or started before not-before."""
    return state.session_revoked or issued_before(started_at_ms, state.user_not_before_ms)


def issued_before(issued_ms: int, not_before_ms: int | None) -> bool:
    return not_before_ms is not None and issued_ms < not_before_ms
