"""The SQL the Postgres executor runs, one statement per kind of operation.

A batch's rows travel as one JSON array in one parameter, unpacked in the server by
``json_to_recordset`` with the columns' own types: a single fixed statement per table and column
set (prepared once, cached by asyncpg) instead of SQL that grows with the batch. Measured here,
per row of ``sessions_v1`` (13 columns) in the projector's process: 10.6 us of CPU as one array
per column through ``unnest`` (asyncpg encodes every element of every array in turn), 5.7 us
through COPY into a temporary table, 1.9 us as one orjson document. Identifiers come from
``schemas.tables`` / ``schemas.names``, never from events; every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Column, TextClause, text
from sqlalchemy.dialects import postgresql

from schemas import names
from schemas.tables import metadata
from streams.operations import PgFailuresDropBefore, PgRefreshSpend

Row = dict[str, Any]
_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_QUOTE = _DIALECT.identifier_preparer.quote
ROWS_PARAMETER = "rows"
"""The one bound parameter of every bulk statement: the rows as a JSON array of objects."""


def rows_json(rows: Iterable[Mapping[str, Any]]) -> str:
    """``rows`` as the JSON text a bulk statement takes: column name -> value per row.

    Aware datetimes become RFC 3339 text with their offset (naive ones are taken as UTC), bytes
    become bytea hex input (``\\x...``), None becomes null. Raises ``orjson.JSONEncodeError``
    (a ``TypeError``) for a value JSON cannot carry, e.g. an integer over 64 bits.
    """
    objects = [row if type(row) is dict else dict(row) for row in rows]  # orjson takes dicts
    return orjson.dumps(objects, default=_bytea_hex, option=orjson.OPT_NAIVE_UTC).decode()


def _bytea_hex(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + value.hex()
    raise TypeError(f"{type(value).__name__} cannot be stored through JSON")


@dataclass(frozen=True)
class BulkRows:
    """One INSERT ... SELECT FROM json_to_recordset(...) statement and the columns it takes."""

    sql: TextClause
    columns: tuple[str, ...]
    json_columns: frozenset[str]

    def params(self, rows: list[Mapping[str, Any]]) -> Row:
        """The statement's parameters for ``rows`` (each holding at least ``columns``)."""
        if self.json_columns:  # JSONB values travel as their JSON text, cast in the server
            rows = [
                {
                    name: orjson.dumps(row[name]).decode()
                    if name in self.json_columns
                    else row[name]
                    for name in self.columns
                }
                for row in rows
            ]
        return {ROWS_PARAMETER: rows_json(rows)}


def _bulk_insert(table: str, columns: tuple[str, ...], on_conflict: str) -> BulkRows:
    t = metadata.tables[table]
    json_columns = frozenset(c for c in columns if isinstance(t.c[c].type, postgresql.JSONB))
    listed = ", ".join(_QUOTE(c) for c in columns)
    declared = ", ".join(
        f"{_QUOTE(c)} {'text' if c in json_columns else _sql_type(t.c[c])}" for c in columns
    )
    selected = ", ".join(
        f"CAST(r.{_QUOTE(c)} AS jsonb)" if c in json_columns else f"r.{_QUOTE(c)}" for c in columns
    )
    source = f"json_to_recordset(CAST(:{ROWS_PARAMETER} AS json)) AS r({declared})"
    sql = f"INSERT INTO {_QUOTE(table)} ({listed}) SELECT {selected} FROM {source} {on_conflict}"  # noqa: S608
    return BulkRows(text(sql), columns, json_columns)


def _sql_type(column: Column[Any]) -> str:
    return str(column.type.compile(dialect=_DIALECT))


@cache
def insert_ignore(table: str, columns: tuple[str, ...]) -> BulkRows:
    """``PgInsertIgnore``: the first write of a unique key is final."""
    return _bulk_insert(table, columns, "ON CONFLICT DO NOTHING")


@cache
def upsert(table: str, key: str, compare: str, columns: tuple[str, ...], highest: bool) -> BulkRows:
    """``PgUpsertMax`` (``highest``) or ``PgUpsertMin``: overwrite ``columns`` when ``compare``
    is smaller (max) / larger (min) than the incoming row's.

    Only the operation's own columns are written: columns written by other projections (say,
    revocation fields of a session) must survive a winning upsert. For max, a row whose group of
    columns was never written (compare IS NULL) takes the incoming event, whatever wrote the
    row's other groups.
    """
    updates = ", ".join(f"{_QUOTE(c)} = EXCLUDED.{_QUOTE(c)}" for c in columns if c != key)
    current, incoming = f"{_QUOTE(table)}.{_QUOTE(compare)}", f"EXCLUDED.{_QUOTE(compare)}"
    if highest:
        condition = f"{current} IS NULL OR {current} < {incoming}"
    else:
        condition = f"{current} > {incoming}"
    on_conflict = f"ON CONFLICT ({_QUOTE(key)}) DO UPDATE SET {updates} WHERE {condition}"
    return _bulk_insert(table, columns, on_conflict)


# Compared in the server: only the ids whose archived body differs come back.
DIFFERING_BODIES = text(
    f"SELECT CAST(a.event_id AS text) FROM {names.TABLE_EVENT_ARCHIVE} AS a "  # noqa: S608
    f"JOIN json_to_recordset(CAST(:{ROWS_PARAMETER} AS json)) AS b(event_id uuid, body bytea) "
    "ON a.event_id = b.event_id WHERE a.body <> b.body LIMIT 1"
)
"""Takes ``rows_json`` of ``{"event_id", "body"}`` objects; returns one id archived otherwise."""

_T, _REV = names.TABLE_REFRESH_TOKENS, metadata.tables[names.TABLE_REVOCATIONS]
_REV_COLUMNS = tuple(c.name for c in _REV.columns)
# The reuse revocation is the operation's row as the reducer built it; only affects_until gives
# way to the session's known expiry.
_REV_VALUES = ", ".join(
    f"CAST(:r_{c} AS {_sql_type(_REV.c[c])})"
    if c != "affects_until"
    else f"COALESCE((SELECT expires_at FROM {names.TABLE_SESSIONS} WHERE session_id = "  # noqa: S608
    f"CAST(:sid AS text)), CAST(:r_{c} AS {_sql_type(_REV.c[c])}))"
    for c in _REV_COLUMNS
)

# One statement, so the decision and the writes are atomic: the upsert's WHERE is re-checked on
# the locked row, and RETURNING says whether this event is (or already was) the spender.
REFRESH_SPEND = text(
    f"""
WITH prior AS (
  SELECT spent_by_event_id FROM {_T} WHERE refresh_hash = CAST(:spent AS text)
), sibling AS (
  SELECT 1 FROM prior
  WHERE prior.spent_by_event_id <> CAST(:eid AS uuid) AND CAST(:grace AS bigint) > 0
    AND CAST(:event_ms AS bigint) - ('x' || substr(replace(CAST(prior.spent_by_event_id AS text),
        '-', ''), 1, 12))::bit(48)::bigint <= CAST(:grace AS bigint)
), spend AS (
  INSERT INTO {_T} AS t (refresh_hash, session_id, user_id, issued_by_event_id, issued_at,
                         spent_by_event_id, spent_at)
  VALUES (CAST(:spent AS text), CAST(:sid AS text), CAST(:uid AS text), CAST(:eid AS uuid),
          CAST(:at AS timestamptz), CAST(:eid AS uuid), CAST(:at AS timestamptz))
  ON CONFLICT (refresh_hash) DO UPDATE SET spent_by_event_id = EXCLUDED.spent_by_event_id,
                                           spent_at = EXCLUDED.spent_at
  WHERE t.spent_by_event_id IS NULL OR t.spent_by_event_id = EXCLUDED.spent_by_event_id
  RETURNING 1
), issue AS (
  INSERT INTO {_T} (refresh_hash, session_id, user_id, issued_by_event_id, issued_at)
  SELECT CAST(:new AS text), CAST(:sid AS text), CAST(:uid AS text), CAST(:eid AS uuid),
         CAST(:at AS timestamptz)
  ON CONFLICT (refresh_hash) DO NOTHING
)
INSERT INTO {_REV.name} ({", ".join(_REV_COLUMNS)})
SELECT {_REV_VALUES}
WHERE NOT EXISTS (SELECT 1 FROM spend) AND NOT EXISTS (SELECT 1 FROM sibling)
ON CONFLICT (event_id) DO NOTHING
"""  # noqa: S608
)
"""``PgRefreshSpend``; the parameters are ``spend_params(op)``."""


def spend_params(op: PgRefreshSpend) -> Row:
    """The parameters of ``REFRESH_SPEND`` for one spend (``r_{column}``: the revocation row)."""
    revocation = {f"r_{c}": op.revocation[c] for c in _REV_COLUMNS}
    return {
        "spent": op.spent_hash,
        "new": op.new_hash,
        "sid": op.session_id,
        "uid": op.user_id,
        "eid": op.event_id,
        "at": op.occurred_at,
        "event_ms": op.event_ms,
        "grace": op.grace_ms,
        **revocation,
    }


_F, _A = names.TABLE_LOGIN_FAILURES, names.TABLE_EVENT_ARCHIVE
FAILURES_DROP = text(
    f"DELETE FROM {_F} AS f USING {_A} AS a "  # noqa: S608
    "WHERE f.user_id = CAST(:uid AS text) AND a.event_id = f.event_id "
    "AND a.topic = CAST(:topic AS text) AND a.log_partition = CAST(:partition AS integer) "
    "AND a.log_offset < CAST(:offset AS bigint)"
)
"""``PgFailuresDropBefore``; the parameters are ``drop_params(op)``."""


def drop_params(op: PgFailuresDropBefore) -> Row:
    """The parameters of ``FAILURES_DROP`` for one unlock."""
    return {"uid": op.user_id, "topic": op.topic, "partition": op.partition, "offset": op.offset}
