"""Apache Kafka in KRaft mode for the dev stack: one combined broker+controller node per region.

This module runs the cluster (format storage, start and stop nodes, wait until every node is
registered). Nothing runs Kafka's shell scripts: storage is formatted by running
``kafka.tools.StorageTool`` and the node by running ``kafka.Kafka``, both with ``java -cp``.
Fetching the jars and finding a JDK live in ``kafka_jars``; node layout and settings in
``kafka_config`` (both re-exported here).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.devstack.kafka_config import (
    CONTROLLER,
    KafkaNode,
    LinkAddress,
    direct_link,
    listener_name,
    plan_nodes,
    replication_for,
    topic_settings,
)
from services.devstack.kafka_jars import MIN_JAVA, ensure_jars, find_java
from services.devstack.polling import until_async
from services.devstack.process import HOST, InfraError, ManagedProcess, run_in_thread, spawn

HEAP = "-Xmx320m"
START_TIMEOUT_S = 90.0


@dataclass
class KafkaCluster:
    """A running dev cluster; ``link`` maps each directed link to the address clients use."""

    nodes: dict[str, KafkaNode]
    base_dir: Path
    java: Path
    jars: Path
    link: LinkAddress
    cluster_id: str
    log_dir: Path
    die_with_parent: bool = False
    processes: list[ManagedProcess] = field(default_factory=list)

    def bootstrap(self, region: str) -> str:
        """What region's clients use: every node's ``FROM_<region>`` address, own node first."""
        own = [self.address(region, region)]
        return ",".join(own + [self.address(region, t) for t in self.nodes if t != region])

    def address(self, source: str, target: str) -> str:
        """The address ``source``'s clients use for ``target``'s node (direct if same region)."""
        if source == target:
            return f"{HOST}:{self.nodes[target].data_ports[source]}"
        return self.link(source, target, "data")

    def properties(self, region: str) -> dict[str, str]:
        """The ``server.properties`` of ``region``'s node (what compose must agree with)."""
        node = self.nodes[region]
        factor, min_isr = replication_for(len(self.nodes))
        listeners = [f"{CONTROLLER}://{HOST}:{node.controller_port}"]
        listeners += [f"{listener_name(s)}://{HOST}:{p}" for s, p in node.data_ports.items()]
        advertised = [
            f"{listener_name(s)}://{self._advertised(s, region)}" for s in node.data_ports
        ]
        protocols = [f"{listener_name(s)}:PLAINTEXT" for s in node.data_ports]
        return {
            **topic_settings(len(self.nodes)),
            "node.id": str(node.node_id),
            "process.roles": "broker,controller",
            "broker.rack": region,
            "controller.listener.names": CONTROLLER,
            "controller.quorum.voters": ",".join(self._voter(region, t) for t in self.nodes),
            "listeners": ",".join(listeners),
            "advertised.listeners": ",".join(advertised),
            "listener.security.protocol.map": ",".join([f"{CONTROLLER}:PLAINTEXT", *protocols]),
            "inter.broker.listener.name": listener_name(region),
            "log.dirs": str(self.base_dir / region / "data"),
            "offsets.topic.replication.factor": str(factor),
            "transaction.state.log.replication.factor": str(factor),
            "transaction.state.log.min.isr": str(min_isr),
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }

    def _advertised(self, source: str, target: str) -> str:
        return self.address(source, target)

    def _voter(self, source: str, target: str) -> str:
        node = self.nodes[target]
        if source == target:
            return f"{node.node_id}@{HOST}:{node.controller_port}"
        return f"{node.node_id}@{self.link(source, target, 'controller')}"

    def format_storage(self, region: str) -> Path:
        """Write ``region``'s ``server.properties`` and format its storage if not yet formatted.

        Returns the config path. Raises InfraError with the tool's last lines if formatting fails.
        """
        config = self.base_dir / region / "server.properties"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("".join(f"{k}={v}\n" for k, v in self.properties(region).items()))
        if not (self.base_dir / region / "data" / "meta.properties").exists():
            self._format(config)
        return config

    def start_node(self, region: str) -> ManagedProcess:
        """(Re)start ``region``'s node on its existing storage (formatted on first start)."""
        node = self.nodes[region]
        config = self.format_storage(region)
        proc = spawn(
            f"kafka-{region}",
            [*self._java_argv(), "kafka.Kafka", str(config)],
            log_path=self.log_path(region),
            address=self.address(region, region),
            die_with_parent=self.die_with_parent,
        )
        proc.details.update(region=region, service="kafka", node_id=node.node_id)
        node.process = proc
        self.processes = [n.process for n in self.nodes.values() if n.process is not None]
        return proc

    def log_path(self, region: str) -> Path:
        return self.log_dir / f"{region}-kafka.log"

    def _format(self, config: Path) -> None:
        argv = [*self._java_argv(), "kafka.tools.StorageTool", "format"]
        # One token per option: a base64url cluster id starts with "-" one time in 64 and would
        # otherwise be read as the next option ("--cluster-id: expected one argument").
        argv += [f"--cluster-id={self.cluster_id}", f"--config={config}", "--ignore-formatted"]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-10:])
            raise InfraError(f"formatting Kafka storage ({config}) failed:\n{tail}")

    def _java_argv(self) -> list[str]:
        log4j = self.base_dir / "log4j2.properties"
        if not log4j.exists():
            log4j.write_text(_LOG4J)
        # Serial GC and C1 only: three small JVMs on a 2-core laptop start faster and idle lower.
        return [
            str(self.java),
            HEAP,
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            str(self.jars / "*"),
        ]

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Wait until every node is a registered broker; name the ones that are not.

        Raises InfraError if a node's process exits or the bounded wait runs out.
        """
        run_in_thread(lambda: asyncio.run(_wait_cluster(self, timeout)))

    def stop(self) -> None:
        for proc in self.processes:
            proc.signal_stop()
        for proc in reversed(self.processes):
            proc.stop(timeout=20.0)


def plan_cluster(
    regions: Sequence[str],
    base_dir: Path,
    *,
    link: LinkAddress | None = None,
    ports: Mapping[str, int] | None = None,
    log_dir: Path | None = None,
    die_with_parent: bool = False,
    say: Callable[[str], None] = print,
) -> KafkaCluster:
    """Choose ports and ids for one node per region; nothing starts yet.

    ``ports`` fixes a region's own-region client port (``--base-port``); ``link`` routes links
    between regions (default: straight to the target's port). Raises InfraError without a JDK.
    """
    java = find_java()
    if java is None:
        raise InfraError(f"Kafka needs a JDK >= {MIN_JAVA} (set JAVA_HOME or put java on PATH)")
    jars = ensure_jars(say)
    nodes = plan_nodes(regions, ports)
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return KafkaCluster(
        nodes,
        base_dir,
        java,
        jars,
        link or direct_link(nodes),
        cluster_id,
        log_dir or base_dir / "logs",
        die_with_parent=die_with_parent,
    )


def start_cluster(cluster: KafkaCluster, timeout: float = START_TIMEOUT_S) -> KafkaCluster:
    """Start every node and wait until all are registered; on failure stop what started."""
    try:
        for region in cluster.nodes:
            cluster.start_node(region)
        cluster.wait_ready(timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


async def _wait_cluster(cluster: KafkaCluster, limit_s: float) -> None:
    # aiokafka logs each refused connection at ERROR: expected while nodes start, and noise.
    quiet = logging.getLogger("aiokafka")
    previous = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        await _poll_cluster(cluster, limit_s)
    finally:
        quiet.setLevel(previous)


async def _poll_cluster(cluster: KafkaCluster, limit_s: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    first = next(iter(cluster.nodes))
    missing = sorted(cluster.nodes)

    async def registered() -> bool:
        nonlocal missing
        for node in cluster.nodes.values():
            if node.process is not None:
                node.process.raise_if_exited()
        # aiokafka logs every refused connection: ask only once the first node listens.
        if not _listening(cluster.address(first, first)):
            return False
        admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap(first))
        try:
            await admin.start()
            seen = {int(b["node_id"]) for b in (await admin.describe_cluster())["brokers"]}
        except (KafkaError, OSError):
            return False
        finally:
            await admin.close()
        missing = [n.region for n in cluster.nodes.values() if n.node_id not in seen]
        return not missing

    if not await until_async(registered, limit_s, 0.5):
        which = ", ".join(
            f"node {cluster.nodes[r].node_id} ({r}, log: {cluster.log_path(r)})" for r in missing
        )
        raise InfraError(f"Kafka did not register within {limit_s:.0f}s: {which}")


def _listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


_LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = out
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


def main() -> int:
    """``python -m services.devstack.kafka``: fetch the jars now (CI, fresh clones)."""
    print(ensure_jars())
    return 0


if __name__ == "__main__":
    sys.exit(main())
