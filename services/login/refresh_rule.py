"""Which refresh tokens a session accepts: a pure function of its projected state and the clock.

- A token the session issued (its start, a rotation, or a grace-window sibling) and has not
  spent rotates the session (new pair, the presented token spent).
- Grace window (``grace_s`` > 0): a token the session already spent, presented again no more
  than ``grace_s`` after the event that first spent it (that event's UUIDv7 time), is the
  legitimate client again: two tabs refreshing at once, or a retry after a lost answer. It gets
  a new pair too (a sibling: its token.refreshed spends the same token, and every region's
  projection, comparing the two events' own ids, issues the sibling instead of revoking).
- Any other hash this session already spent is reuse (theft): the session is revoked.
- A hash this region never saw the session issue is UNKNOWN (the grant answers 503: it may come
  from a rotation in another region not projected here yet).
- A session past its absolute expiry, or idle (no start or rotation) for more than ``idle_ttl_s``,
  cannot be refreshed; reuse is still reported for an idle session (its access tokens may live).

``now_ms`` must be the time of the event the grant will write (its UUIDv7 id), so the grant and
the projections compare the very same two numbers.
"""

from __future__ import annotations

from enum import Enum

from schemas.envelope import event_time_ms
from services.login.refresh_state import RefreshState


class Verdict(Enum):
    ROTATE = "rotate"
    RETRY = "retry"  # the grace window: a sibling of the first exchange of the presented token
    REUSED = "reused"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    IDLE = "idle"


def judge(
    state: RefreshState, presented: str, now_ms: int, *, idle_ttl_s: int, grace_s: float
) -> Verdict:
    """The verdict on ``presented`` (a refresh token's SHA-256 hash) at ``now_ms`` (epoch ms)."""
    if now_ms >= state.expires_at_ms:
        return Verdict.EXPIRED
    idle = now_ms - state.last_active_ms > idle_ttl_s * 1000
    if state.presented_live:
        return Verdict.IDLE if idle else Verdict.ROTATE
    if state.presented_spent_by is None:
        return Verdict.UNKNOWN
    first_ms = event_time_ms(state.presented_spent_by)
    if grace_s > 0 and first_ms is not None and now_ms - first_ms <= grace_s * 1000:
        return Verdict.IDLE if idle else Verdict.RETRY
    return Verdict.REUSED
