"""A region rebuilt from an archive of v1 records, read through the upcaster, holds in real Redis
and Postgres exactly what a region fed the same events as v2 records holds.

The archive is real: region eu projects the golden v1 records as production does today, and its
``event_archive_v1`` bodies are what region us is rebuilt from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from schemas import names, tables
from schemas.catalog import CURRENT, Catalog
from schemas.codec import decode
from schemas.upcasters import WITH_SIGNING_KEY_V2
from services.devstack.infra import RegionStores as Region
from streams.executor import StoreExecutor
from streams.postgres import PostgresExecutor
from streams.projection import reduce
from streams.record import LogPosition, Record
from streams.redis_ops import RedisExecutor
from streams.replay.endpoints import RegionStores
from streams.replay.state import ARCHIVE_KIND, State, snapshot
from streams.replay.stores import OpenStores, open_stores

UPCAST = Path(__file__).parents[1] / "unit" / "golden" / "upcast"
V1_RECORDS = sorted((UPCAST / "v1").glob("*.json"))


def _stores(region: Region) -> RegionStores:
    return RegionStores(region.region, region.redis_url, region.postgres_dsn)


async def _project(opened: OpenStores, bodies: Sequence[bytes], catalog: Catalog) -> None:
    operations = []
    for offset, body in enumerate(bodies):
        position = LogPosition(names.TOPIC_EVENTS, 0, offset)
        operations.extend(reduce(Record(decode(body, catalog), position, body)))
    executor = StoreExecutor(PostgresExecutor(opened.engine), RedisExecutor(opened.redis))
    await executor.apply(operations)


async def _archived_bodies(opened: OpenStores) -> list[bytes]:
    archive = tables.event_archive
    query = select(archive.c.body).order_by(archive.c.log_partition, archive.c.log_offset)
    async with opened.engine.connect() as conn:
        return [bytes(body) for body in (await conn.execute(query)).scalars()]


async def _rebuilt(region: Region, bodies: Sequence[bytes]) -> State:
    async with open_stores(_stores(region)) as opened:
        await _project(opened, bodies, WITH_SIGNING_KEY_V2)
        return await snapshot(opened.engine, opened.redis)


async def test_a_region_rebuilt_from_v1_archive_matches_one_fed_v2_records(
    fresh_region_stores: dict[str, Region], fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    v1_bodies = [p.read_bytes() for p in V1_RECORDS]
    async with open_stores(_stores(fresh_region_stores["eu"])) as eu:
        await _project(eu, v1_bodies, CURRENT)
        archived = await _archived_bodies(eu)
    assert archived == v1_bodies  # the log's bytes, never rewritten

    from_archive = await _rebuilt(fresh_region_stores["us"], archived)
    fed_v2 = Region("eu", fresh_redis_url, fresh_postgres_dsn)
    from_v2 = await _rebuilt(fed_v2, [(UPCAST / "v2" / p.name).read_bytes() for p in V1_RECORDS])

    assert from_archive["pg signing_keys"]
    assert from_archive["redis jwks:v1"]
    projected = set(from_archive) - {ARCHIVE_KIND, f"pg {ARCHIVE_KIND}"}
    assert {kind: from_archive[kind] for kind in projected} == {
        kind: from_v2[kind] for kind in projected
    }
    assert from_archive[f"pg {ARCHIVE_KIND}"].keys() == from_v2[f"pg {ARCHIVE_KIND}"].keys()
