"""The broker contract suite runs once per broker kind: Tansu (the Python-only dev broker) and
Apache Kafka (a 3-node KRaft cluster, one node per region). One of each for the whole suite
(every module here only creates topics and groups of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from schemas.broker import KAFKA, TANSU, BrokerProfile, broker_profile
from services.devstack.broker import start_broker
from tests.kafka_support import start_test_cluster

CLUSTER_REGIONS = ("eu", "us", "ap")


@dataclass(frozen=True)
class BrokerUnderTest:
    """What a contract test needs: where the broker is and how clients treat it."""

    profile: BrokerProfile
    bootstrap: str
    nodes: int


@pytest.fixture(scope="package", params=[TANSU, KAFKA])
def any_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerUnderTest]:
    kind = str(request.param)
    base = tmp_path_factory.mktemp(f"contract-{kind}")
    if kind == TANSU:
        process = start_broker(base, die_with_parent=True)
        yield BrokerUnderTest(broker_profile(kind), process.address, 1)
        process.stop(timeout=0.2)
        return
    cluster = start_test_cluster(CLUSTER_REGIONS, base)
    try:
        yield BrokerUnderTest(
            broker_profile(kind), cluster.bootstrap(CLUSTER_REGIONS[0]), len(CLUSTER_REGIONS)
        )
    finally:
        cluster.stop()
