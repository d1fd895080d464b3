"""Shared fixtures: real infrastructure processes on free ports in temp dirs.

Nothing starts unless a test asks for it (fixtures are lazy), so unit tests stay
infrastructure-free. Tests using any fixture below are marked ``integration`` automatically.

Session-wide (started once, stopped at the end):
    kafka_bootstrap -> str               one Tansu broker, "127.0.0.1:PORT"
    region_stores   -> dict[str, RegionInfra]   per region ("eu", "us"): .redis_url,
                                         .postgres_dsn (database ``authplane``, migrated once
                                         migrations/runner.py exists), .pids
Per test (a clean slate without restarting anything):
    fresh_broker        -> str           a brand-new empty broker (~50 ms), stopped after the test
    fresh_postgres_dsn  -> str           a new migrated database on eu's server, dropped after
    fresh_redis_url     -> str           a flushed logical Redis database on eu's server
    fresh_region_stores -> dict[str, RegionStores]  fresh Redis db + Postgres db per region
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.devstack.broker import start_broker
from services.devstack.infra import RegionInfra, RegionStores, start_region_infra

REGIONS = ("eu", "us")
INFRA_FIXTURES = frozenset(
    {
        "kafka_bootstrap",
        "region_stores",
        "fresh_broker",
        "fresh_postgres_dsn",
        "fresh_redis_url",
        "fresh_region_stores",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INFRA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def infra_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("infra")


@pytest.fixture(scope="session")
def kafka_bootstrap(infra_dir: Path) -> Iterator[str]:
    broker = start_broker(infra_dir / "broker", die_with_parent=True)
    yield broker.address
    broker.stop()


@pytest.fixture(scope="session")
def region_stores(infra_dir: Path) -> Iterator[dict[str, RegionInfra]]:
    started: dict[str, RegionInfra] = {}
    try:
        for region in REGIONS:
            # fsync off: throwaway servers, and it keeps the suite fast.
            started[region] = start_region_infra(
                region, infra_dir, durable=False, die_with_parent=True
            )
        yield started
    finally:
        for infra in reversed(started.values()):
            infra.stop()


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[str]:
    broker = start_broker(tmp_path / "broker", die_with_parent=True)
    yield broker.address
    broker.stop()


@pytest.fixture
def fresh_postgres_dsn(region_stores: dict[str, RegionInfra]) -> Iterator[str]:
    infra = region_stores[REGIONS[0]]
    dsn = infra.fresh_postgres_dsn()
    yield dsn
    infra.drop_database(dsn)


@pytest.fixture
def fresh_redis_url(region_stores: dict[str, RegionInfra]) -> str:
    return region_stores[REGIONS[0]].fresh_redis_url()


@pytest.fixture
def fresh_region_stores(region_stores: dict[str, RegionInfra]) -> Iterator[dict[str, RegionStores]]:
    fresh = {
        name: RegionStores(name, infra.fresh_redis_url(), infra.fresh_postgres_dsn())
        for name, infra in region_stores.items()
    }
    yield fresh
    for name, stores in fresh.items():
        region_stores[name].drop_database(stores.postgres_dsn)
