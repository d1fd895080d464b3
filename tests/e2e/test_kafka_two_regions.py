"""The two-region smoke tests again, on Apache Kafka: a KRaft cluster with one node per region,
replicated topics, idempotent producers and the Kafka broker profile.

The tests are the very ones the Tansu stack runs (imported, so pytest collects them here too);
only the ``stack`` fixture differs: this module's stack is launched with ``broker="kafka"``.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from schemas import names
from schemas.broker import KAFKA
from services.devstack.stack import Stack
from tests.e2e.conftest import running_stack
from tests.e2e.drive import eventually
from tests.e2e.test_revocation_two_regions import (
    test_authctl_revoke_session_is_rejected_in_every_region,
    test_rfc7009_revoke_in_us_rejects_an_eu_token_everywhere,
)
from tests.e2e.test_two_regions import (
    create_user,
    login_when_propagated,
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
    with running_stack(tmp_path_factory.mktemp("kafka-stack"), KAFKA, within_s=120.0) as started:
        yield started


def test_the_stack_runs_on_a_replicated_kafka_cluster(stack: Stack) -> None:
    assert stack.broker_kind == KAFKA
    assert [p.details["region"] for p in stack.broker_nodes] == ["eu", "us"]
    assert all(s.broker_kind == KAFKA and s.topic_replication == 2 for s in stack.settings.values())
    # Each region's own node comes first in that region's bootstrap list.
    for region, settings in stack.settings.items():
        own = stack.broker_nodes[list(stack.settings).index(region)].address
        assert settings.kafka_bootstrap.split(",")[0] == own


def test_projectors_report_lag_in_offsets_on_kafka(stack: Stack) -> None:
    create_user(stack, "lag-lena")
    login_when_propagated(stack, "us", "lag-lena")
    for settings in stack.settings.values():
        url = f"http://{settings.http_host}:{settings.projector_metrics_port}/metrics"
        caught_up = eventually(lambda: _caught_up_lines(url))  # noqa: B023 (used at once)
        assert any(names.TOPIC_EVENTS in line for line in caught_up)


def _caught_up_lines(metrics_url: str) -> list[str]:
    return [
        line
        for line in httpx.get(metrics_url).text.splitlines()
        if line.startswith("authplane_projector_lag_offsets{") and line.endswith(" 0.0")
    ]
