"""The three recovery drills again, on Apache Kafka: a two-node KRaft cluster (one node per
region), replicated topics, idempotent producers and the Kafka broker profile.

The drills are the very ones the Tansu stack runs (bound here in the same order, so pytest
collects them here too); only the ``stack`` fixture differs. On Kafka, "the log is lost" means a
new, empty cluster on new ports (``recovery.replace_broker``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.e2e.test_recovery_drills as drills
from schemas.broker import KAFKA
from services.devstack.stack import Stack
from tests.e2e.conftest import running_stack

# A Kafka start (twice: drill 2 replaces the cluster) outlasts the default on a busy machine.
pytestmark = pytest.mark.timeout(600)

people = drills.people
test_drill_1_a_wiped_region_is_rebuilt_from_the_log = (
    drills.test_drill_1_a_wiped_region_is_rebuilt_from_the_log
)
test_drill_3_a_killed_replay_resumes_to_the_same_state = (
    drills.test_drill_3_a_killed_replay_resumes_to_the_same_state
)
test_drill_2_a_lost_log_is_reseeded_from_a_region_archive = (
    drills.test_drill_2_a_lost_log_is_reseeded_from_a_region_archive
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("kafka-drills")
    with running_stack(base, KAFKA, within_s=120.0) as started:
        assert started.broker_kind == KAFKA
        yield started


def test_after_the_lost_log_each_region_starts_from_its_own_new_node(stack: Stack) -> None:
    """Drill 2 replaced the cluster: each region's clients list the new nodes, own node first."""
    assert stack.kafka is not None
    assert stack.broker_kind == KAFKA
    for region, settings in stack.settings.items():
        assert settings.kafka_bootstrap == stack.kafka.bootstrap(region)
        assert settings.kafka_bootstrap.startswith(stack.kafka.address(region, region) + ",")
