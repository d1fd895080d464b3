"""What a reducer asks the stores to do: small, frozen, idempotent operations.

Every operation can be applied any number of times, in any order relative to the others, and
gives the same final state; that is what makes redelivery, replay and cross-region interleaving
safe without exactly-once delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Order-dependent by design (refresh rotation): defined and documented with their SQL and Lua.
from streams.refresh_ops import PgRefreshSpend, RedisRefreshSpend
from streams.unlock_ops import PgFailuresDropBefore, RedisWindowReset


@dataclass(frozen=True, slots=True)
class PgInsertIgnore:
    """INSERT the row unless it violates a unique key (the first write is final)."""

    table: str
    row: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PgUpsertMin:
    """INSERT, or overwrite the row's columns named in ``row`` when the row with the same ``key``
    has a larger ``compare`` (columns not in ``row`` are left alone)."""

    table: str
    row: Mapping[str, Any]
    key: str
    compare: str


@dataclass(frozen=True, slots=True)
class PgUpsertMax:
    """INSERT, or overwrite the row's columns named in ``row`` when the existing row's
    ``compare`` is NULL (that group of columns was never written) or smaller: the latest wins."""

    table: str
    row: Mapping[str, Any]
    key: str
    compare: str


@dataclass(frozen=True, slots=True)
class RedisHashSet:
    """HSET the fields (other fields are left alone); EXPIREAT ``expire_at`` (epoch s) if set.

    Skipped when ``expire_at`` has already passed: the key would be deleted at once anyway.
    """

    key: str
    mapping: Mapping[str, str]
    expire_at: int | None = None


@dataclass(frozen=True, slots=True)
class RedisHashSetIfLower:
    """HSET the fields only if the hash lacks ``compare_field`` or holds a larger value there
    (other fields are left alone), then EXPIREAT ``expire_at`` if set; skipped once expired.

    Values are compared as strings, which orders canonical UUIDv7 event ids by time.
    """

    key: str
    mapping: Mapping[str, str]
    compare_field: str
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
class RedisHashKeepEarliest:
    """HSET the fields only if the hash lacks ``compare_field`` or holds a larger (string) value
    there, as ``RedisHashSetIfLower``; but whatever the outcome, the key's expiry moves to
    ``expire_at`` (epoch s) if that is later, never earlier. Skipped once ``expire_at`` passed.

    The expiry is the latest of all writers', so it does not depend on which one arrived last.
    """

    key: str
    mapping: Mapping[str, str]
    compare_field: str
    expire_at: int


@dataclass(frozen=True, slots=True)
class RedisHashSetIfHigher:
    """HSET the fields only if the hash lacks ``compare_field`` or holds a smaller *number* there;
    on equal numbers the smaller (string) ``tie_field`` value is kept, so ties resolve the same in
    any order. The key's expiry moves to ``expire_at`` if later (never earlier); skipped once
    ``expire_at`` has passed."""

    key: str
    mapping: Mapping[str, str]
    compare_field: str
    tie_field: str
    expire_at: int


@dataclass(frozen=True, slots=True)
class RedisHashSetIfGreater:
    """HSET the fields only if the hash lacks ``compare_field`` or holds a smaller (string) value
    there: the latest event id wins. Other fields (other groups) are left alone. No expiry."""

    key: str
    mapping: Mapping[str, str]
    compare_field: str


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
