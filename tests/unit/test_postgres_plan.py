"""The differing-body check sees every event a batch archives, however its rows are grouped."""

from __future__ import annotations

import orjson

from schemas import names
from streams import postgres_sql as sql
from streams.operations import PgInsertIgnore
from streams.postgres_plan import Plan

A, B = "0190f0e1-0000-7000-8000-00000000000a", "0190f0e1-0000-7000-8000-00000000000b"


def _checked(plan: Plan) -> dict[str, str]:
    document = plan.archived_params()[sql.ROWS_PARAMETER]
    return {row["event_id"]: row["body"] for row in orjson.loads(document)}


def test_one_archive_statement_shares_its_document_with_the_check() -> None:
    plan = Plan()
    for event_id, body in ((A, b"\x00a"), (B, b"b")):
        plan.insert_ignore(
            PgInsertIgnore(names.TABLE_EVENT_ARCHIVE, {"event_id": event_id, "body": body})
        )
    assert _checked(plan) == {A: "\\x0061", B: "\\x62"}
    [(_, insert_params)] = list(plan.statements())
    assert insert_params is plan.archived_params()


def test_archive_rows_in_two_column_sets_are_all_checked() -> None:
    plan = Plan()
    plan.insert_ignore(PgInsertIgnore(names.TABLE_EVENT_ARCHIVE, {"event_id": A, "body": b"a"}))
    other = {"event_id": B, "body": b"b", "topic": "t"}
    plan.insert_ignore(PgInsertIgnore(names.TABLE_EVENT_ARCHIVE, other))
    assert _checked(plan) == {A: "\\x61", B: "\\x62"}


def test_a_batch_archiving_nothing_checks_nothing() -> None:
    assert Plan().archived_params() == {}
