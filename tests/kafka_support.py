"""A dev Kafka cluster for tests, started through the same module the launcher uses.

The jars come through the repo's own build file (services/devstack/kafka-pom.xml) into the
user's cache on first use, so a fresh clone's ``make test`` needs only a JDK and Maven.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from services.devstack import kafka


def start_test_cluster(regions: Sequence[str], base_dir: Path) -> kafka.KafkaCluster:
    """Start one KRaft node per region under ``base_dir``; the caller stops it.

    Raises InfraError (naming what is missing) if there is no JDK >= 17 or no way to fetch jars.
    """
    cluster = kafka.plan_cluster(regions, base_dir, die_with_parent=True)
    return kafka.start_cluster(cluster)
