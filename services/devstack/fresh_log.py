"""Lose the whole log of a Kafka dev stack: every node's disks gone, a new empty cluster."""

from __future__ import annotations

import uuid

from services.devstack.kafka import plan_cluster, start_cluster
from services.devstack.process import InfraError
from services.devstack.stack import Stack


def replace_kafka_cluster(stack: Stack) -> None:
    """Stop ``stack``'s Kafka cluster and start a new, empty one in its place: a new cluster id,
    new ports and new storage, one node per region as before. Updates ``stack.kafka`` and
    ``stack.broker``; the caller creates topics and rewrites settings and the stack file.

    Raises InfraError on a Tansu stack, on a stack whose links between regions run through
    proxies (drill stacks: the proxies point at the old nodes), or if the new cluster does not
    register in time.
    """
    old = stack.kafka
    if old is None:
        raise InfraError("not a Kafka stack: there is no cluster to replace")
    if stack.links is not None:
        raise InfraError("cannot replace a Kafka cluster whose links run through proxies")
    old.stop()
    cluster = plan_cluster(
        list(old.nodes),
        old.base_dir.parent / f"kafka-{uuid.uuid4().hex[:8]}",
        log_dir=old.log_dir,
        die_with_parent=old.die_with_parent,
    )
    stack.kafka = start_cluster(cluster)
    stack.broker = cluster.processes[0]
