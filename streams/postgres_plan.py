"""One batch of Postgres operations as the statements that apply it, in the order they run.

Order-free rows are grouped into one bulk statement per table and kind (inserts, then
upserts); the log-ordered operations follow in batch order: the refresh spends (after the
grouped rows, a session's first token row among them), then the unlock's failure drops (after
the batch's own failure inserts).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import TextClause

from schemas import names
from streams import postgres_sql as sql
from streams.errors import StoreRejected
from streams.operations import (
    PgFailuresDropBefore,
    PgInsertIgnore,
    PgRefreshSpend,
    PgUpsertMax,
    PgUpsertMin,
)
from streams.postgres_sql import Row

_UpsertGroup = tuple[bool, str, str, str, tuple[str, ...]]


class Plan:
    """The statements of one batch; filled one operation at a time by the executor's table."""

    def __init__(self) -> None:
        self.archived: dict[str, bytes] = {}
        """Event id -> exact bytes of the events this batch archives."""
        # Rows are the operations' own mappings (operations are immutable; nothing here writes
        # to a row), grouped without copying.
        self._ignored: dict[tuple[str, tuple[str, ...]], list[Mapping[str, Any]]] = {}
        self._upserts: dict[_UpsertGroup, dict[Any, Mapping[str, Any]]] = {}
        self._spends: list[PgRefreshSpend] = []
        self._drops: list[PgFailuresDropBefore] = []
        self._ignored_params: dict[tuple[str, tuple[str, ...]], Row] = {}

    def __bool__(self) -> bool:
        return bool(self._ignored or self._upserts or self._spends or self._drops)

    def insert_ignore(self, op: PgInsertIgnore) -> None:
        """Raises ``StoreRejected`` when the batch archives one event id with two bodies."""
        if op.table == names.TABLE_EVENT_ARCHIVE:
            event_id, body = str(op.row["event_id"]), bytes(op.row["body"])
            if self.archived.setdefault(event_id, body) != body:
                raise StoreRejected("postgres", differing_body(event_id))
        self._ignored.setdefault((op.table, tuple(op.row)), []).append(op.row)

    def upsert_min(self, op: PgUpsertMin) -> None:
        self._keep_winner(op, highest=False)

    def upsert_max(self, op: PgUpsertMax) -> None:
        self._keep_winner(op, highest=True)

    def refresh_spend(self, op: PgRefreshSpend) -> None:
        self._spends.append(op)

    def failures_drop(self, op: PgFailuresDropBefore) -> None:
        self._drops.append(op)

    def _keep_winner(self, op: PgUpsertMin | PgUpsertMax, highest: bool) -> None:
        # One statement may not update the same row twice (ON CONFLICT DO UPDATE refuses), so
        # the batch is pre-reduced with the same "smallest (or largest) wins" rule.
        group = (highest, op.table, op.key, op.compare, tuple(op.row))
        by_key = self._upserts.setdefault(group, {})
        key = op.row[op.key]
        current = by_key.get(key)
        if current is None:
            by_key[key] = op.row
            return
        new, old = op.row[op.compare], current[op.compare]
        if (new > old) if highest else (new < old):
            by_key[key] = op.row

    def archived_params(self) -> Row:
        """``sql.DIFFERING_BODIES``'s parameters for the events this batch archives (``{}`` if
        none): the archive insert's own JSON document when one statement archives them all (the
        check reads only ``event_id`` and ``body`` of each row), so the bodies are encoded once."""
        if not self.archived:
            return {}
        groups = [group for group in self._ignored if group[0] == names.TABLE_EVENT_ARCHIVE]
        if len(groups) == 1:
            return self._insert_params(groups[0])
        rows = ({"event_id": i, "body": body} for i, body in self.archived.items())
        return {sql.ROWS_PARAMETER: sql.rows_json(rows)}

    def _insert_params(self, group: tuple[str, tuple[str, ...]]) -> Row:
        params = self._ignored_params.get(group)
        if params is None:
            table, columns = group
            params = sql.insert_ignore(table, columns).params(self._ignored[group])
            self._ignored_params[group] = params
        return params

    def statements(self) -> Iterator[tuple[TextClause, Row | list[Row]]]:
        """(statement, parameters) in execution order; a list of parameter sets runs as
        executemany, strictly in order on one connection."""
        for table, columns in self._ignored:
            yield sql.insert_ignore(table, columns).sql, self._insert_params((table, columns))
        for (highest, table, key, compare, columns), by_key in self._upserts.items():
            statement = sql.upsert(table, key, compare, columns, highest)
            yield statement.sql, statement.params(list(by_key.values()))
        if self._spends:
            yield sql.REFRESH_SPEND, [sql.spend_params(op) for op in self._spends]
        if self._drops:
            yield sql.FAILURES_DROP, [sql.drop_params(op) for op in self._drops]


def differing_body(event_id: str) -> str:
    """The refusal message for an event id archived with a different body."""
    return f"event id {event_id} is already taken by an event with a different body"
