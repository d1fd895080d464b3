"""The in-memory store: every operation of ``streams.operations`` applied to plain dicts, by the
semantics its docstring gives (support for the tests; no tests here).

The executor contract suite (tests/executor_contract.py) checks it against the real Redis and
Postgres executors, so unit tests that project through it see what the real stores would hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from schemas import names
from schemas.envelope import event_time_ms
from schemas.tables import metadata
from streams import operations as ops

Row = dict[str, Any]


class MemoryStore:
    """Postgres tables as lists of rows; Redis hashes, sorted sets and expiries (epoch s) as
    dicts. ``now`` (epoch s) stands for both the projector's and the Redis server's clock."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.rows: dict[str, list[Row]] = {}
        self.hashes: dict[str, dict[str, str]] = {}
        self.zsets: dict[str, dict[str, int]] = {}
        self.expiry: dict[str, int] = {}

    async def healthy(self) -> bool:
        return True

    async def apply(self, operations: Sequence[ops.Operation]) -> None:
        """Apply each operation in order. Raises ``TypeError`` for a type without a handler."""
        for op in operations:
            handler = _HANDLERS.get(type(op))
            if handler is None:
                raise TypeError(f"the memory store has no handler for {type(op).__name__}")
            getattr(self, handler)(op)

    def state(self) -> Any:
        """(tables, hashes, sorted sets, expiries), rows in a stable order."""
        tables = {name: sorted(map(_sortable, rows)) for name, rows in self.rows.items()}
        return tables, self.hashes, self.zsets, self.expiry

    # -- Postgres -------------------------------------------------------------------------------
    def _insert(self, table: str, row: Mapping[str, Any]) -> None:
        # A new row takes the table's boolean server defaults, as Postgres fills them.
        defaults = {
            str(c.name): False
            for c in metadata.tables[table].columns
            if c.server_default is not None and str(getattr(c.server_default, "arg", "")) == "false"
        }
        self.rows.setdefault(table, []).append(defaults | dict(row))

    def _find(self, table: str, key: str, value: Any) -> Row | None:
        return next((r for r in self.rows.get(table, []) if r[key] == value), None)

    def _pg_insert_ignore(self, op: ops.PgInsertIgnore) -> None:
        if not any(_conflicts(op.table, row, op.row) for row in self.rows.get(op.table, [])):
            self._insert(op.table, op.row)

    def _pg_upsert_min(self, op: ops.PgUpsertMin) -> None:
        row = self._find(op.table, op.key, op.row[op.key])
        if row is None:
            self._insert(op.table, op.row)
        elif op.row[op.compare] < row[op.compare]:
            row.update(op.row)

    def _pg_upsert_max(self, op: ops.PgUpsertMax) -> None:
        row = self._find(op.table, op.key, op.row[op.key])
        if row is None:
            self._insert(op.table, op.row)
        elif row.get(op.compare) is None or row[op.compare] < op.row[op.compare]:
            row.update(op.row)

    def _pg_refresh_spend(self, op: ops.PgRefreshSpend) -> None:
        table = names.TABLE_REFRESH_TOKENS
        row = self._find(table, "refresh_hash", op.spent_hash)
        if row is None:
            self._insert(table, _token_row(op.spent_hash, op))
            row = self._find(table, "refresh_hash", op.spent_hash)
        assert row is not None
        spender = row.get("spent_by_event_id")
        if self._find(table, "refresh_hash", op.new_hash) is None:
            unspent = {"spent_by_event_id": None, "spent_at": None}
            self._insert(table, _token_row(op.new_hash, op) | unspent)
        if spender in (None, op.event_id) or _sibling(spender, op.event_ms, op.grace_ms):
            if spender is None:
                row.update(spent_by_event_id=op.event_id, spent_at=op.occurred_at)
            return
        if self._find(names.TABLE_REVOCATIONS, "event_id", op.event_id) is None:
            session = self._find(names.TABLE_SESSIONS, "session_id", op.session_id)
            until = op.revocation["affects_until"] if session is None else session["expires_at"]
            self._insert(names.TABLE_REVOCATIONS, {**op.revocation, "affects_until": until})

    def _pg_failures_drop(self, op: ops.PgFailuresDropBefore) -> None:
        earlier = {
            r["event_id"]
            for r in self.rows.get(names.TABLE_EVENT_ARCHIVE, [])
            if (r["topic"], r["log_partition"]) == (op.topic, op.partition)
            and r["log_offset"] < op.offset
        }
        rows = self.rows.get(names.TABLE_LOGIN_FAILURES, [])
        rows[:] = [r for r in rows if r["user_id"] != op.user_id or r["event_id"] not in earlier]

    # -- Redis ----------------------------------------------------------------------------------
    def _expired(self, expire_at: int | None) -> bool:
        return expire_at is not None and expire_at <= self.now

    def _expire_later(self, key: str, at: int) -> None:
        self.expiry[key] = max(self.expiry.get(key, 0), at)

    def _hash(self, key: str) -> dict[str, str]:
        return self.hashes.setdefault(key, {})

    def _redis_hash_set(self, op: ops.RedisHashSet) -> None:
        if self._expired(op.expire_at):
            return
        self._hash(op.key).update(op.mapping)
        if op.expire_at is not None:
            self.expiry[op.key] = op.expire_at

    def _write_if_lower(self, key: str, mapping: Mapping[str, str], field: str) -> bool:
        current = self.hashes.get(key, {}).get(field)
        lower = current is None or mapping[field] < current
        if lower:
            self._hash(key).update(mapping)
        return lower

    def _redis_hash_set_if_lower(self, op: ops.RedisHashSetIfLower) -> None:
        wrote = not self._expired(op.expire_at) and self._write_if_lower(
            op.key, op.mapping, op.compare_field
        )
        if wrote and op.expire_at is not None:
            self.expiry[op.key] = op.expire_at

    def _redis_json_field(self, op: ops.RedisJsonFieldSetIfLower) -> None:
        current = self.hashes.get(op.key, {}).get(op.field)
        document = orjson.dumps(op.document, option=orjson.OPT_UTC_Z).decode()
        if current is None or op.document[op.compare] < orjson.loads(current)[op.compare]:
            self._hash(op.key)[op.field] = document

    def _redis_sorted_set_add(self, op: ops.RedisSortedSetAdd) -> None:
        if self._expired(op.expire_at):
            return
        members = self.zsets.setdefault(op.key, {})
        members[op.member] = min(members.get(op.member, op.score), op.score)
        self._expire_later(op.key, op.expire_at)

    def _redis_keep_earliest(self, op: ops.RedisHashKeepEarliest) -> None:
        if not self._expired(op.expire_at):
            self._write_if_lower(op.key, op.mapping, op.compare_field)
            self._expire_later(op.key, op.expire_at)

    def _redis_set_if_higher(self, op: ops.RedisHashSetIfHigher) -> None:
        if self._expired(op.expire_at):
            return
        fields = self.hashes.get(op.key, {})
        new = (-int(op.mapping[op.compare_field]), op.mapping[op.tie_field])
        if op.compare_field not in fields or new < (
            -int(fields[op.compare_field]),
            fields.get(op.tie_field, "\uffff"),
        ):
            self._hash(op.key).update(op.mapping)
        self._expire_later(op.key, op.expire_at)

    def _redis_set_if_greater(self, op: ops.RedisHashSetIfGreater) -> None:
        current = self.hashes.get(op.key, {}).get(op.compare_field)
        if current is None or current < op.mapping[op.compare_field]:
            self._hash(op.key).update(op.mapping)

    def _redis_window_add(self, op: ops.RedisWindowAdd) -> None:
        floor = self.now * 1000 - op.window_ms
        if op.score <= floor:
            return
        members = self.zsets.setdefault(op.key, {})
        members[op.member] = op.score
        kept = sorted((s, m) for m, s in members.items() if s > floor)[-op.max_members :]
        members.clear()
        members.update((m, s) for s, m in kept)
        self._expire_later(op.key, math.ceil((op.score + op.window_ms) / 1000))

    def _redis_window_reset(self, op: ops.RedisWindowReset) -> None:
        self.zsets.pop(op.key, None)
        self.expiry.pop(op.key, None)

    def _redis_refresh_spend(self, op: ops.RedisRefreshSpend) -> None:
        session = self.hashes.get(op.session_key) or None
        spender = session.get(op.spent_field) if session else None
        if session is None or spender == op.event_id:
            return
        if spender is not None and _sibling(spender, op.event_ms, op.grace_ms):
            session[op.issued_field] = op.event_id
            return
        if spender is None:
            session.update(op.rotation)
            return
        session[op.issued_field] = op.event_id
        revoked = self._hash(op.revoked_key)
        if "event_id" not in revoked or op.event_id < revoked["event_id"]:
            revoked.update(op.audit)
        until = int(session.get(names.SESSION_EXPIRES_FIELD, op.fallback_until))
        self._expire_later(op.revoked_key, until)


_HANDLERS: dict[type, str] = {
    ops.PgInsertIgnore: "_pg_insert_ignore",
    ops.PgUpsertMin: "_pg_upsert_min",
    ops.PgUpsertMax: "_pg_upsert_max",
    ops.PgRefreshSpend: "_pg_refresh_spend",
    ops.PgFailuresDropBefore: "_pg_failures_drop",
    ops.RedisHashSet: "_redis_hash_set",
    ops.RedisHashSetIfLower: "_redis_hash_set_if_lower",
    ops.RedisJsonFieldSetIfLower: "_redis_json_field",
    ops.RedisSortedSetAdd: "_redis_sorted_set_add",
    ops.RedisHashKeepEarliest: "_redis_keep_earliest",
    ops.RedisHashSetIfHigher: "_redis_set_if_higher",
    ops.RedisHashSetIfGreater: "_redis_set_if_greater",
    ops.RedisWindowAdd: "_redis_window_add",
    ops.RedisWindowReset: "_redis_window_reset",
    ops.RedisRefreshSpend: "_redis_refresh_spend",
}
"""ops.Operation type -> the method applying it (by name, so a test's subclass may replace one)."""


def _conflicts(table: str, existing: Row, new: Any) -> bool:
    t = metadata.tables[table]
    unique_sets = [[c.name for c in t.primary_key.columns]]
    unique_sets += [[c.name] for c in t.columns if c.unique]
    unique_sets += [list(c.columns.keys()) for c in t.constraints if hasattr(c, "columns")]
    return any(
        all(col in new and existing.get(col) == new[col] for col in cols) for cols in unique_sets
    )


def _sortable(row: Row) -> list[tuple[str, str]]:
    return sorted((k, repr(v)) for k, v in row.items())


def _sibling(first_spender: str, event_ms: int, grace_ms: int) -> bool:
    first_ms = event_time_ms(first_spender)
    return grace_ms > 0 and first_ms is not None and event_ms - first_ms <= grace_ms


def _token_row(refresh_hash: str, op: ops.PgRefreshSpend) -> Row:
    return {
        "refresh_hash": refresh_hash,
        "session_id": op.session_id,
        "user_id": op.user_id,
        "issued_by_event_id": op.event_id,
        "issued_at": op.occurred_at,
        "spent_by_event_id": op.event_id,
        "spent_at": op.occurred_at,
    }
