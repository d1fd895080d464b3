"""The revocation check rule: one definition, used by introspection, the in-process verifier and
refresh. Pure functions of (credential, revocation state), so the rule is tested without stores.

An access token with claims sub, sid, jti, iat is revoked iff its session is revoked, or its jti
is revoked, or a user-wide revocation (user.revoked, password change, disable) covers it, or the
key that signed it is revoked (a compromised key can sign anything, so nothing it signed is
trusted).

Which tokens a user-wide revocation covers is decided by the log, not by clocks, whenever the
token carries the evidence: its ``rev_seen`` claim (schemas.names.USER_REVOCATION_SEEN_CLAIM) is
the greatest user-wide revocation id the issuing region had applied when the session started. A
revocation covers the token iff the token's region had not seen it (``rev_seen`` < the greatest
revocation id): a login made after a region applied a revocation is never killed by it, one made
before always is, whatever either clock says.

A credential without that evidence (issued before the claim existed) falls back to clocks: it is
covered iff issued (by its region's clock) before the not-before time plus ``CLOCK_SKEW_S``, the
same bound signature checks grant. A region whose clock runs up to that bound ahead therefore
still cannot mint such a token that outlives the revocation; the price is that a legacy token
issued up to that long after the revocation dies with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.names import NO_USER_REVOCATION, USER_REVOCATION_SEEN_CLAIM
from schemas.settings import CLOCK_SKEW_S

SKEW_MS = CLOCK_SKEW_S * 1000
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class RevocationState:
    """What a region knows about one token's session, jti and user.

    ``user_not_before_ms``: the greatest not-before of the user's user-wide revocations (epoch
    ms); ``user_revocation_id``: the greatest event id among them (canonical UUID text), None
    when the store holds none (or only entries written before ids were kept)."""

    session_revoked: bool = False
    token_revoked: bool = False
    user_not_before_ms: int | None = None
    key_revoked: bool = False
    user_revocation_id: str | None = None


NOT_REVOKED = RevocationState()


def token_is_revoked(claims: Mapping[str, Any], state: RevocationState) -> bool:
    if state.session_revoked or state.token_revoked or state.key_revoked:
        return True
    seen = seen_of(claims.get(USER_REVOCATION_SEEN_CLAIM, ""))
    return user_revocation_covers(claims["iat"] * 1000, seen, state)


def session_is_revoked(
    started_at_ms: int, state: RevocationState, revocation_seen: str = ""
) -> bool:
    """The refresh path: a session is revoked iff revoked itself or covered by a user-wide
    revocation (``revocation_seen`` as recorded by session.started; "" = no evidence)."""
    return state.session_revoked or user_revocation_covers(
        started_at_ms, seen_of(revocation_seen), state
    )


def user_revocation_covers(issued_ms: int, seen: str | None, state: RevocationState) -> bool:
    """Whether the user's user-wide revocations kill a credential issued at ``issued_ms`` (epoch
    ms, issuing region's clock) by a region that had seen revocations up to id ``seen`` (None:
    no evidence, the clock rule with the skew bound decides)."""
    if seen is not None and state.user_revocation_id is not None:
        return seen < state.user_revocation_id
    if state.user_not_before_ms is None:
        return False
    return issued_ms < state.user_not_before_ms + SKEW_MS


def seen_of(raw: Any) -> str | None:
    """The evidence a credential carries: None when absent ("" or no claim); a malformed value
    counts as having seen nothing (a signed token claiming nonsense gets no benefit)."""
    if raw == "":
        return None
    if isinstance(raw, str) and _CANONICAL_UUID.fullmatch(raw):
        return raw
    return NO_USER_REVOCATION
