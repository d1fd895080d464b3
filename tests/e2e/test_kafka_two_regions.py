"""The two-region smoke tests again, on Apache Kafka: a KRaft cluster with one node per region,
replicated topics, idempotent producers and the Kafka broker profile.

The tests are the very ones the Tansu stack runs (imported, so pytest collects them here too);
only the ``stack`` fixture differs: this module's stack is launched with ``broker="kafka"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from schemas.broker import KAFKA
from schemas.settings import Settings
from services.devstack.stack import Stack
from tests.e2e.drive import wait_ready
from tests.e2e.test_revocation_two_regions import (
    test_authctl_revoke_session_is_rejected_in_every_region,
    test_rfc7009_revoke_in_us_rejects_an_eu_token_everywhere,
)
from tests.e2e.test_two_regions import (
    test_every_region_publishes_every_regions_keys,
    test_login_in_one_region_is_known_in_the_other,
)

__all__ = [
    "test_authctl_revoke_session_is_rejected_in_every_region",
    "test_every_region_publishes_every_regions_keys",
    "test_login_in_one_region_is_known_in_the_other",
    "test_rfc7009_revoke_in_us_rejects_an_eu_token_everywhere",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack.start(
        ["eu", "us"],
        tmp_path_factory.mktemp("kafka-stack"),
        durable=False,
        inherited_env=dict(os.environ),
        base=Settings(login_ip_max_failures=10_000),
        broker=KAFKA,
        ready_timeout=120.0,
    )
    try:
        wait_ready(started, within_s=120.0)
        yield started
    finally:
        started.stop()


def test_the_stack_runs_on_a_replicated_kafka_cluster(stack: Stack) -> None:
    assert stack.broker_kind == KAFKA
    assert [p.details["region"] for p in stack.broker_nodes] == ["eu", "us"]
    assert all(s.broker_kind == KAFKA and s.topic_replication == 2 for s in stack.settings.values())
    # Each region's own node comes first in that region's bootstrap list.
    for region, settings in stack.settings.items():
        own = stack.broker_nodes[list(stack.settings).index(region)].address
        assert settings.kafka_bootstrap.split(",")[0] == own
