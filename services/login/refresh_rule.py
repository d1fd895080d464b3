"""Which refresh tokens a session accepts: a pure function of its projected state and the clock.

- The session's CURRENT refresh hash rotates the session (new pair, the presented token spent).
- Grace window (``grace_s`` > 0, default 0 = off): the token whose exchange issued the current one
  (the session's previous hash), presented again no more than ``grace_s`` after that exchange, is
  taken as a client retrying after a lost response. It rotates the CURRENT token (never used by
  the client, which never received it) into a new pair. This works once: after the retry the
  previous hash is the lost token's, so a second presentation of the same token is reuse. Two
  retries racing before the first is projected both spend the same current token, and the second
  in log order is reuse, so the session is revoked.
- Any other hash this session already spent is reuse (theft): the session is revoked.
- A hash this region never saw the session issue is UNKNOWN (the grant answers 503: it may come
  from a rotation in another region not projected here yet).
- A session past its absolute expiry, or idle (no start or rotation) for more than ``idle_ttl_s``,
  cannot be refreshed; reuse is still reported for an idle session (its access tokens may live).
"""

from __future__ import annotations

import hmac
from enum import Enum

from services.login.refresh_state import RefreshState


class Verdict(Enum):
    ROTATE = "rotate"
    RETRY = "retry"  # the grace window: rotate the current token on the retrying client's behalf
    REUSED = "reused"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    IDLE = "idle"


def judge(
    state: RefreshState, presented: str, now_ms: int, *, idle_ttl_s: int, grace_s: float
) -> Verdict:
    if now_ms >= state.expires_at_ms:
        return Verdict.EXPIRED
    # Both comparisons always run, in constant time: the timing tells nothing about either hash.
    is_current = hmac.compare_digest(presented.encode(), state.current_hash.encode())
    is_previous = hmac.compare_digest(presented.encode(), state.previous_hash.encode())
    is_previous = is_previous and state.previous_hash != ""
    since_rotation_ms = now_ms - state.last_active_ms
    if is_current or (is_previous and since_rotation_ms <= grace_s * 1000 and grace_s > 0):
        if since_rotation_ms > idle_ttl_s * 1000:
            return Verdict.IDLE
        return Verdict.ROTATE if is_current else Verdict.RETRY
    if state.presented_spent_by is not None:
        return Verdict.REUSED
    return Verdict.UNKNOWN
