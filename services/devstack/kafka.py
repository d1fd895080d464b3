"""Apache Kafka in KRaft mode for the dev stack: one combined broker+controller node per region.

The server jars come from Maven Central through the build file kept next to this module
(``kafka-pom.xml``) and are cached in ``~/.cache/authplane/kafka-<version>``; the first start
prints what it fetches. Nothing runs Kafka's shell scripts: storage is formatted by running
``kafka.tools.StorageTool`` and the node by running ``kafka.Kafka``, both with ``java -cp``.

Every node has one listener per *source* region (``FROM_<region>``): region R's clients and R's
node's replica fetchers use the ``FROM_R`` endpoints, so each directed link between regions has
an address of its own that a proxy (toxiproxy, for the drills) can cut or delay. Without a proxy
a link's address is simply the target node's real port.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from schemas import topics
from services.devstack.process import (
    HOST,
    InfraError,
    ManagedProcess,
    free_port,
    run_in_thread,
    spawn,
)

POM = Path(__file__).with_name("kafka-pom.xml")
MIN_JAVA = 17
HEAP = "-Xmx320m"
START_TIMEOUT_S = 90.0
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


def kafka_version() -> str:
    """The Kafka version pinned in the build file (``<kafka.version>``)."""
    found = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if not found:
        raise InfraError(f"{POM} names no <kafka.version>")
    return found.group(1).strip()


def cache_dir() -> Path:
    """Where the jars are kept: ``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/authplane/kafka-V``."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "authplane" / f"kafka-{kafka_version()}"


def _jars_present(directory: Path) -> bool:
    return (directory / ".complete").exists()


def find_java() -> Path | None:
    """A ``java`` of version >= 17: ``$JAVA_HOME/bin/java`` first, then ``PATH``."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    found = shutil.which("java")
    if found:
        candidates.append(Path(found))
    for java in candidates:
        if java.is_file() and java_major(java) >= MIN_JAVA:
            return java
    return None


def java_major(java: Path) -> int:
    """The major version ``java -version`` reports (0 if it cannot be read)."""
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=20, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not found:
        return 0
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def kafka_available() -> str | None:
    """None if this machine can run the dev Kafka cluster, else the reason it cannot."""
    if find_java() is None:
        return f"no JDK >= {MIN_JAVA} (JAVA_HOME or java on PATH)"
    if not _jars_present(cache_dir()) and shutil.which("mvn") is None:
        return f"Kafka jars not cached in {cache_dir()} and no mvn to fetch them"
    return None


def choose_broker(requested: str) -> tuple[str, str]:
    """``(kind, why)`` for ``--broker tansu|kafka|auto``.

    ``auto`` picks Kafka when a JDK >= 17 and the jars (or Maven to fetch them) are present,
    else Tansu; ``why`` is the sentence the launcher prints. ValueError for an unknown name.
    """
    if requested == "auto":
        missing = kafka_available()
        if missing is None:
            return (
                "kafka",
                "auto: picked Apache Kafka (a JDK >= 17 and the Kafka jars or mvn found)",
            )
        return "tansu", f"auto: picked Tansu ({missing})"
    if requested not in ("tansu", "kafka"):
        raise ValueError(f"--broker must be tansu, kafka or auto, not {requested!r}")
    return requested, f"broker: {requested} (as asked)"


def ensure_jars(say: Callable[[str], None] = print) -> Path:
    """The cached jar directory, fetched with Maven first if it is not complete yet.

    Raises InfraError if Maven is missing or fails (its output's tail is in the message).
    """
    target = cache_dir()
    if _jars_present(target):
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError(f"Kafka jars are not in {target} and mvn is not on PATH to fetch them")
    say(
        f"fetching org.apache.kafka:kafka_2.13:{kafka_version()} and its dependencies from "
        f"Maven Central into {target} (once; build file {POM})"
    )
    partial_dir = target.with_name(target.name + ".partial")
    shutil.rmtree(partial_dir, ignore_errors=True)
    argv = [mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies"]
    argv += [f"-DoutputDirectory={partial_dir}", "-DincludeScope=runtime"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise InfraError(f"mvn could not fetch the Kafka jars (exit {done.returncode}):\n{tail}")
    (partial_dir / ".complete").write_text(kafka_version())
    shutil.rmtree(target, ignore_errors=True)
    partial_dir.rename(target)
    say(f"fetched {len(list(target.glob('*.jar')))} jars into {target}")
    return target


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
        listeners += [f"{_listener(s)}://{HOST}:{p}" for s, p in node.data_ports.items()]
        advertised = [f"{_listener(s)}://{self._advertised(s, region)}" for s in node.data_ports]
        protocols = [f"{_listener(s)}:PLAINTEXT" for s in node.data_ports]
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
            "inter.broker.listener.name": _listener(region),
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

    def start_node(self, region: str) -> ManagedProcess:
        """(Re)start ``region``'s node on its existing storage (formatted on first start)."""
        node = self.nodes[region]
        config = self.base_dir / region / "server.properties"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("".join(f"{k}={v}\n" for k, v in self.properties(region).items()))
        if not (self.base_dir / region / "data" / "meta.properties").exists():
            self._format(config)
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
        argv += ["-t", self.cluster_id, "-c", str(config), "--ignore-formatted"]
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


def topic_settings(regions: int) -> dict[str, str]:
    """Broker-wide defaults for topics, the same ones ``ensure_topics`` sets per topic."""
    factor = topics.replication_for(regions)
    return {"default.replication.factor": str(factor), **topics.topic_configs(factor)}


def _listener(source: str) -> str:
    return f"FROM_{source.upper()}"


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

    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    first = next(iter(cluster.nodes))
    missing = sorted(cluster.nodes)
    while True:
        for node in cluster.nodes.values():
            if node.process is not None and not node.process.alive():
                raise InfraError(
                    f"Kafka node {node.node_id} ({node.region}) exited with code "
                    f"{node.process.popen.returncode} (log: {node.process.log_path})\n"
                    f"{node.process.log_tail()}"
                )
        # aiokafka logs every refused connection: ask only once the first node listens.
        admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap(first))
        try:
            if not _listening(cluster.address(first, first)):
                raise OSError("not listening yet")
            await admin.start()
            described = await admin.describe_cluster()
            seen = {int(b["node_id"]) for b in described["brokers"]}
            missing = [n.region for n in cluster.nodes.values() if n.node_id not in seen]
            if not missing:
                return
        except (KafkaError, OSError):
            pass
        finally:
            await admin.close()
        if loop.time() > deadline:
            which = ", ".join(
                f"node {cluster.nodes[r].node_id} ({r}, log: {cluster.log_path(r)})"
                for r in missing
            )
            raise InfraError(f"Kafka did not register within {limit_s:.0f}s: {which}")
        await asyncio.sleep(0.5)


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
