"""How the dev cluster's nodes are laid out and configured: ids, ports, the listener per source
region, the directed links between regions, and the settings any deployment must share.

Every node has one listener per *source* region (``FROM_<region>``): region R's clients and R's
node's replica fetchers use the ``FROM_R`` endpoints, so each directed link between regions has
an address of its own that a proxy (toxiproxy, for the drills) can cut or delay. Without a proxy
a link's address is simply the target node's real port.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from schemas import topics
from services.devstack.process import HOST, ManagedProcess, free_port

CONTROLLER = "CONTROLLER"

SHARED_SETTINGS = (
    "process.roles",
    "controller.listener.names",
    "auto.create.topics.enable",
    "default.replication.factor",
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "group.initial.rebalance.delay.ms",
)
"""Broker and topic settings any deployment (compose/docker-compose.yml) must run as tested."""

LinkAddress = Callable[[str, str, str], str]
"""``(source region, target region, "data"|"controller") -> "host:port"`` of that link."""


def replication_for(regions: int) -> tuple[int, int]:
    """``(replication factor, min.insync.replicas)`` for a cluster of ``regions`` nodes."""
    factor = topics.replication_for(regions)
    return factor, topics.min_insync_for(factor)


@dataclass
class KafkaNode:
    """One region's node: its id, and the real ports it binds."""

    region: str
    node_id: int
    controller_port: int
    data_ports: dict[str, int]
    """source region -> the port of listener ``FROM_<source>`` on this node."""
    process: ManagedProcess | None = None


def topic_settings(regions: int) -> dict[str, str]:
    """Broker-wide defaults for topics, the same ones ``ensure_topics`` sets per topic."""
    factor = topics.replication_for(regions)
    return {"default.replication.factor": str(factor), **topics.topic_configs(factor)}


def listener_name(source: str) -> str:
    return f"FROM_{source.upper()}"


def plan_nodes(
    regions: Sequence[str], ports: Mapping[str, int] | None = None
) -> dict[str, KafkaNode]:
    """Node ids (1..n in region order) and free ports for one node per region."""
    nodes: dict[str, KafkaNode] = {}
    for index, region in enumerate(regions):
        data_ports = {source: free_port() for source in regions}
        data_ports[region] = (ports or {}).get(region) or data_ports[region]
        nodes[region] = KafkaNode(region, index + 1, free_port(), data_ports)
    return nodes


def direct_link(nodes: Mapping[str, KafkaNode]) -> LinkAddress:
    """Links straight to the target node's ports (no proxy in between)."""

    def address(source: str, target: str, kind: str) -> str:
        node = nodes[target]
        port = node.controller_port if kind == "controller" else node.data_ports[source]
        return f"{HOST}:{port}"

    return address
