"""The Postgres executor's bulk statements store every value exactly as the operation holds it,
and refuse (as the data's fault) a value no column can take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from schemas import names
from services.devstack.infra import RegionStores
from streams.errors import StoreRejected
from streams.operations import PgInsertIgnore, PgUpsertMin
from streams.postgres import PostgresExecutor
from streams.wiring import create_engine

TRICKY_TEXT = 'quote " backslash \\ tab \t newline \n \u2028 \U0001f600 {"json": [1]} \\x41 é'
EVENT_ID = "0190f0e1-0000-7000-8000-000000000001"


def _archive_row(event_id: str, body: bytes, **changes: Any) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "type": TRICKY_TEXT,
        "version": 2**31 - 1,
        "user_id": "u-1",
        "origin_region": "eu",
        "occurred_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=5))),
        "topic": "t",
        "log_partition": 7,
        "log_offset": 2**63 - 1,
        "body": body,
    }
    return row | changes


async def test_values_come_back_exactly_as_written(
    fresh_region_stores: dict[str, RegionStores],
) -> None:
    engine = create_engine(fresh_region_stores["eu"].postgres_dsn)
    body = bytes(range(256)) * 3
    jwk = {"kty": "OKP", "x": TRICKY_TEXT, "n": None, "deep": {"list": [1, 2.5, True, None]}}
    key_row = {
        "kid": TRICKY_TEXT,
        "region": "eu",
        "alg": "EdDSA",
        "public_jwk": jwk,
        "published_at": datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        "event_id": EVENT_ID,
        "issuer": None,
    }
    try:
        await PostgresExecutor(engine).apply(
            [
                PgInsertIgnore(names.TABLE_EVENT_ARCHIVE, _archive_row(EVENT_ID, body)),
                PgUpsertMin(names.TABLE_SIGNING_KEYS, key_row, key="kid", compare="event_id"),
            ]
        )
        async with engine.connect() as conn:
            archived = (
                await conn.execute(text(f"SELECT * FROM {names.TABLE_EVENT_ARCHIVE}"))  # noqa: S608
            ).one()
            key = (await conn.execute(text(f"SELECT * FROM {names.TABLE_SIGNING_KEYS}"))).one()  # noqa: S608
    finally:
        await engine.dispose()
    assert archived.body == body
    assert archived.type == TRICKY_TEXT
    assert archived.log_offset == 2**63 - 1
    assert archived.occurred_at == _archive_row(EVENT_ID, body)["occurred_at"]
    assert key.kid == TRICKY_TEXT
    assert key.public_jwk == jwk
    assert key.published_at == datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert key.issuer is None


@pytest.mark.parametrize("offset", [2**63, 2**64, 2**70])
async def test_an_integer_no_column_can_hold_is_refused_as_the_datas_fault(
    fresh_region_stores: dict[str, RegionStores], offset: int
) -> None:
    engine = create_engine(fresh_region_stores["eu"].postgres_dsn)
    row = _archive_row(EVENT_ID, b"{}", log_offset=offset)
    try:
        with pytest.raises(StoreRejected):
            await PostgresExecutor(engine).apply([PgInsertIgnore(names.TABLE_EVENT_ARCHIVE, row)])
    finally:
        await engine.dispose()
