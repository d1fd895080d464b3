"""What a reducer asks the stores to do: small, frozen, idempotent operations.

Every operation can be applied any number of times, in any order relative to the others, and
gives the same final state; that is what makes redelivery, replay and cross-region interleaving
safe without exactly-once delivery. The exceptions are named in ``IN_LOG_ORDER``: refresh
rotation and the unlock's reset, which the executors apply in batch (log) order.

This module is pure data: no driver, SQL or Lua. The executors (``streams.postgres``,
``streams.redis_ops``) map each type to the statement or script that applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class PgInsertIgnore:
    """INSERT the row unless it violates a unique key (the first write is final)."""

    table: str
    row: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PgUpsert:
    """The fields of both upserts: ``row`` into ``table``, one row per ``key``, the winner
    chosen by ``compare``; not an operation itself."""

    table: str
    row: Mapping[str, Any]
    key: str
    compare: str


@dataclass(frozen=True, slots=True)
class PgUpsertMin(PgUpsert):
    """INSERT, or overwrite the row's columns named in ``row`` when the row with the same ``key``
    has a larger ``compare`` (columns not in ``row`` are left alone)."""


@dataclass(frozen=True, slots=True)
class PgUpsertMax(PgUpsert):
    """INSERT, or overwrite the row's columns named in ``row`` when the existing row's
    ``compare`` is NULL (that group of columns was never written) or smaller: the latest wins."""


@dataclass(frozen=True, slots=True)
class RedisHashSet:
    """HSET the fields (other fields are left alone); EXPIREAT ``expire_at`` (epoch s) if set.

    Skipped when ``expire_at`` has already passed: the key would be deleted at once anyway.
    """

    key: str
    mapping: Mapping[str, str]
    expire_at: int | None = None


@dataclass(frozen=True, slots=True)
class RedisHashWrite:
    """The fields of the conditional hash writes: ``mapping`` into hash ``key``, decided by the
    value of ``compare_field`` (which ``mapping`` holds); not an operation itself."""

    key: str
    mapping: Mapping[str, str]
    compare_field: str


@dataclass(frozen=True, slots=True)
class RedisHashSetIfLower(RedisHashWrite):
    """HSET the fields only if the hash lacks ``compare_field`` or holds a larger value there
    (other fields are left alone), then EXPIREAT ``expire_at`` if set; skipped once expired.

    Values are compared as strings, which orders canonical UUIDv7 event ids by time.
    """

    expire_at: int | None = None


@dataclass(frozen=True, slots=True)
class RedisJsonFieldSetIfLower:
    """HSET ``field`` to the JSON of ``document`` unless the JSON already there holds a smaller
    (string) value under ``compare``: one "earliest wins" entry per field of a shared hash."""

    key: str
    field: str
    document: Mapping[str, Any]
    compare: str


@dataclass(frozen=True, slots=True)
class RedisSortedSetAdd:
    """ZADD member, keeping the lower score if it is already there; the key's expiry only ever
    moves later, up to ``expire_at``. Skipped once ``expire_at`` has passed."""

    key: str
    member: str
    score: int
    expire_at: int


@dataclass(frozen=True, slots=True)
class RedisHashKeepEarliest(RedisHashWrite):
    """HSET the fields only if the hash lacks ``compare_field`` or holds a larger (string) value
    there, as ``RedisHashSetIfLower``; but whatever the outcome, the key's expiry moves to
    ``expire_at`` (epoch s) if that is later, never earlier. Skipped once ``expire_at`` passed.

    The expiry is the latest of all writers', so it does not depend on which one arrived last.
    """

    expire_at: int


@dataclass(frozen=True, slots=True)
class RedisHashSetIfHigher(RedisHashWrite):
    """HSET the fields only if the hash lacks ``compare_field`` or holds a smaller *number* there;
    on equal numbers the smaller (string) ``tie_field`` value is kept, so ties resolve the same in
    any order. The key's expiry moves to ``expire_at`` if later (never earlier); skipped once
    ``expire_at`` has passed."""

    tie_field: str
    expire_at: int


@dataclass(frozen=True, slots=True)
class RedisHashSetIfGreater(RedisHashWrite):
    """HSET the fields only if the hash lacks ``compare_field`` or holds a smaller (string) value
    there: the latest event id wins. Other fields (other groups) are left alone. No expiry."""


@dataclass(frozen=True, slots=True)
class RedisWindowAdd:
    """ZADD ``member`` at ``score`` (epoch ms) to a sliding-window sorted set, then drop members
    older than ``window_ms`` before now and all but the newest ``max_members``; the key expires
    when its newest member leaves the window. Skipped if the member is already outside it."""

    key: str
    member: str
    score: int
    window_ms: int
    max_members: int


# -- applied in log order ----------------------------------------------------------------------
# Refresh-token rotation: whether a token.refreshed rotates the session or is reuse (theft)
# depends on what earlier events of the same session did, so each spend reads the spent marker
# and writes in one atomic step (one SQL statement / one Lua script), and the executors run them
# in batch order (a batch may hold two refreshes of one session). A user's events share one
# partition, so log order, and with it the decision, is the same in every region. Redelivery is
# a no-op: the spent marker names the event that spent it.
#
# Grace window: a later exchange of an already spent token is not reuse when its event id's time
# is at most ``grace_ms`` after the first spender's event id's time: it is the legitimate client
# again (two tabs, a retry after a lost answer), and its new token is issued as a sibling that
# stays valid. Both times come from the events' own UUIDv7 ids, never from a region's clock.


@dataclass(frozen=True, slots=True)
class PgRefreshSpend:
    """refresh_tokens_v1: insert ``new_hash`` issued by this event (every exchange issues its
    token, as the issuing region already wrote it; on reuse the session's revocation makes it
    useless); if ``spent_hash`` is unspent (or unknown), mark it spent by this event; if this
    event already spent it, or another event did within ``grace_ms`` (a sibling), nothing more;
    otherwise insert the session revocation row ``revocation`` (keyed by this event id)."""

    spent_hash: str
    new_hash: str
    session_id: str
    user_id: str
    event_id: str
    occurred_at: datetime
    revocation: Mapping[str, Any]
    """The revocations_v1 row written on reuse; its affects_until is the fallback used only when
    sessions_v1 does not know the session's expiry."""
    event_ms: int = 0
    """This event's time (epoch ms of its UUIDv7 id), compared with the first spender's."""
    grace_ms: int = 0
    """A later spend within this many ms of the first is a sibling, not reuse (0: none)."""


@dataclass(frozen=True, slots=True)
class RedisRefreshSpend:
    """``sess:v1:{sid}``: the same decision as ``PgRefreshSpend`` on the session hash's
    ``spent:{hash}`` field. Rotation writes ``rotation`` into the hash (only if the session is
    there: an expired session is not resurrected); a sibling writes only ``issued_field``; reuse
    writes ``issued_field`` too (what the issuing region wrote at once, so every region holds
    the same) and ``audit`` into the session's revocation hash (earliest event id kept),
    expiring with the session (its ``SESSION_EXPIRES_FIELD``), else at ``fallback_until``
    (epoch s)."""

    session_key: str
    rotation: Mapping[str, str]
    audit: Mapping[str, str]
    revoked_key: str
    spent_field: str
    """``spent:{spent hash}``: names the event that spent it."""
    event_id: str
    fallback_until: int
    """Epoch s: when a reuse revocation expires if the session hash holds no expiry."""
    issued_field: str = ""
    """``issued:{new hash}``: written by a rotation and by a sibling, so the new token is live."""
    event_ms: int = 0
    grace_ms: int = 0


# An unlock forgets every failure of the user that comes before it in the log, whatever its
# date: dates alone cannot lift a lockout made of failures dated in the future (a writer whose
# clock ran ahead within the tolerated skew) nor one counted by a region whose clock runs ahead.
# The user's events share one partition, so "before it in the log" is the same everywhere.


@dataclass(frozen=True, slots=True)
class PgFailuresDropBefore:
    """login_failures_v1: delete ``user_id``'s rows whose event sits in the log (per the event
    archive) on ``topic``/``partition`` before ``offset``; runs after the batch's inserts."""

    user_id: str
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class RedisWindowReset:
    """DEL the failure window ``key``: applied in log order, it holds only earlier failures (a
    failure the login endpoint counted ahead of the projector comes back when it is applied)."""

    key: str


IN_LOG_ORDER = (PgRefreshSpend, RedisRefreshSpend, PgFailuresDropBefore, RedisWindowReset)
"""The operations whose outcome depends on their order: executors keep the batch's order."""


PgOperation = PgInsertIgnore | PgUpsertMin | PgUpsertMax | PgRefreshSpend | PgFailuresDropBefore
RedisOperation = (
    RedisHashSet
    | RedisHashSetIfLower
    | RedisJsonFieldSetIfLower
    | RedisSortedSetAdd
    | RedisHashKeepEarliest
    | RedisHashSetIfHigher
    | RedisHashSetIfGreater
    | RedisWindowAdd
    | RedisRefreshSpend
    | RedisWindowReset
)
Operation = PgOperation | RedisOperation
