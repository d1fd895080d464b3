"""A whole multi-region dev stack: one broker, per region Redis + Postgres + login + projector.

Usable in-process (e2e tests: ``Stack.start([...], base_dir)`` then ``.stop()``) and by the
``authplane`` CLI. The broker is memory-only, so every start begins from empty stores too: old
projections without the log that produced them would contradict "the log is the truth".
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from schemas import names
from schemas.broker import KAFKA, TANSU
from schemas.settings import Settings
from schemas.topics import ensure_topics, replication_for
from services.devstack import apps, kafka, stackfile
from services.devstack.broker import start_broker
from services.devstack.dev_clients import register_dev_clients
from services.devstack.frontdoor import FrontDoorPlan, start_front_door
from services.devstack.infra import RegionInfra, start_region_infra
from services.devstack.ports import PortPlan, check_free
from services.devstack.process import InfraError, ManagedProcess, free_port, run_in_thread
from services.devstack.toxiproxy import LinkProxies, plan_links

INTROSPECTION_CLIENT_ID = names.DEV_RESOURCE_SERVER_ID
"""The dev resource server: a registered client allowed to introspect (``dev_clients``)."""


@dataclass
class Stack:
    base_dir: Path
    broker: ManagedProcess
    regions: dict[str, RegionInfra] = field(default_factory=dict)
    apps: list[ManagedProcess] = field(default_factory=list)
    settings: dict[str, Settings] = field(default_factory=dict)
    introspection_secret: str = ""
    """The dev resource server's client secret (``INTROSPECTION_CLIENT_ID``)."""
    detached: bool = False
    kafka: kafka.KafkaCluster | None = None
    """The dev Kafka cluster (``broker`` is then its first node), or None on Tansu."""
    links: LinkProxies | None = None
    """The proxies between regions' Kafka nodes (drill stacks only)."""
    clients: dict[str, dict[str, object]] = field(default_factory=dict)
    """The dev OAuth clients registered at start, with their secrets (issue 12)."""
    front_door: ManagedProcess | None = None
    """HAProxy in front of the login endpoints (``--front-door``), or None."""
    front_door_urls: dict[str, str] = field(default_factory=dict)
    """region -> ``http://host:port`` of its front-door frontend (empty without one)."""

    @property
    def broker_kind(self) -> str:
        return TANSU if self.kafka is None else KAFKA

    @property
    def broker_nodes(self) -> list[ManagedProcess]:
        """Every broker process: Tansu's one, or one Kafka node per region."""
        if self.kafka is None:
            return [self.broker]
        proxy = [self.links.process] if self.links and self.links.process else []
        return [*proxy, *self.kafka.processes]

    def bootstrap_of(self, region: str) -> str:
        """The bootstrap servers ``region``'s processes use (its own Kafka node first)."""
        return self.broker.address if self.kafka is None else self.kafka.bootstrap(region)

    @property
    def stack_file(self) -> Path:
        return self.base_dir / "stack.json"

    @property
    def kafka_bootstrap(self) -> str:
        """For tools outside any region: the first region's view of the cluster."""
        if self.kafka is None:
            return self.broker.address
        return self.kafka.bootstrap(next(iter(self.kafka.nodes)))

    @classmethod
    def start(
        cls,
        regions: Sequence[str],
        base_dir: Path,
        *,
        base: Settings | None = None,
        inherited_env: Mapping[str, str] | None = None,
        detach: bool = False,
        durable: bool = True,
        base_port: int | None = None,
        port_plan: PortPlan | None = None,
        with_apps: bool = True,
        ready_timeout: float = 60.0,
        broker: str = TANSU,
        say: Callable[[str], None] = print,
        proxied_links: bool = False,
        front_door: Path | None = None,
    ) -> Stack:
        """Start everything and write the stack file; on any failure stop what started.

        Ports: those of ``port_plan`` (services/devstack/ports.py; InfraError naming any that is
        taken, before anything starts), or consecutive ones from ``base_port``, or any free ones.
        ``broker`` is ``tansu`` (one memory-only process shared by all regions) or ``kafka``
        (a KRaft cluster, one node per region; ``say`` reports a first-time jar fetch).
        ``proxied_links`` (Kafka only) routes every link between regions through toxiproxy
        so drills can cut or delay them.
        ``front_door``: the HAProxy binary to run in front of the login endpoints
        (services/devstack/frontdoor.py), or None for no front door; it needs the apps.
        Raises InfraError naming what did not start.
        """
        base_dir = base_dir.resolve()
        _check_regions(regions)
        stackfile.refuse_if_running(base_dir / "stack.json")
        shutil.rmtree(base_dir / "data", ignore_errors=True)
        # The log starts empty, so the signing keys go too: a key kept from an earlier stack
        # would be published again and its tokens would verify, while the revocations and the
        # users of that stack are gone (a logged-out token active again, for 15 min).
        shutil.rmtree(base_dir / apps.KEYS_DIR, ignore_errors=True)
        fixed: Sequence[int] | None = None
        if port_plan is not None:
            check_free(port_plan)
            fixed = port_plan.start_order()
        elif base_port:
            fixed = range(base_port, base_port + 1 + 4 * len(regions))  # login, metrics, stores
        ports = iter(fixed) if fixed is not None else None
        doors = (
            _front_door_ports(
                regions, port_plan, base_port + 1 + 4 * len(regions) if base_port else 0
            )
            if front_door is not None and with_apps
            else {}
        )
        base = base or Settings()
        if broker == KAFKA:
            links = plan_links(list(regions)) if proxied_links else None
            cluster = _start_kafka(regions, base_dir, not detach, _next(ports), say, links)
            stack = cls(base_dir, cluster.processes[0], detached=detach, kafka=cluster, links=links)
            base = base.replace(broker_kind=KAFKA, topic_replication=replication_for(len(regions)))
        else:
            process = start_broker(base_dir, die_with_parent=not detach, fixed_port=_next(ports))
            stack = cls(base_dir, process, detached=detach)
        try:
            public = FrontDoorPlan(doors, {}).urls()  # each region names its front door
            stack._start_rest(
                regions, base, inherited_env, durable, ports, with_apps, ready_timeout, public
            )
            if front_door is not None and doors:
                stack._start_front_door(front_door, doors)
        except BaseException:
            stack.stop()
            raise
        return stack

    def _start_rest(
        self,
        regions: Sequence[str],
        base: Settings,
        inherited_env: Mapping[str, str] | None,
        durable: bool,
        ports: Iterator[int] | None,
        with_apps: bool,
        ready_timeout: float,
        public_urls: Mapping[str, str],
    ) -> None:
        _create_topics(self.kafka_bootstrap, base)
        # On the log before any projector starts: each applies them from the earliest offset,
        # and readiness (services.devstack.ready) waits until every region has.
        self.clients = register_dev_clients(self.kafka_bootstrap, base, regions[0])
        for region in regions:
            redis_port, postgres_port = _next(ports), _next(ports)
            fixed = (redis_port, postgres_port) if redis_port and postgres_port else None
            self.regions[region] = start_region_infra(
                region,
                self.base_dir,
                durable=durable,
                die_with_parent=not self.detached,
                ports=fixed,
            )
        self.introspection_secret = str(self.clients[INTROSPECTION_CLIENT_ID]["client_secret"])
        for region, infra in self.regions.items():
            self.settings[region] = apps.region_settings(
                base,
                infra,
                kafka_bootstrap=self.bootstrap_of(region),
                base_dir=self.base_dir,
                http_port=_next(ports) or free_port(),
                metrics_port=_next(ports) or free_port(),
                public_url=public_urls.get(region),
            )
        if with_apps:
            self._start_apps(inherited_env or {}, ready_timeout)
        stackfile.write(self)

    def _start_apps(self, inherited_env: Mapping[str, str], ready_timeout: float) -> None:
        for settings in self.settings.values():
            env = apps.child_env(settings, inherited_env)
            for service in apps.APP_MODULES:
                self.apps.append(
                    apps.start_app(service, settings, env, self.base_dir, detach=self.detached)
                )
        logins = [p for p in self.apps if p.details["service"] == "login"]
        others = [p for p in self.apps if p.details["service"] != "login"]
        apps.wait_healthy(logins, others, ready_timeout)

    def _start_front_door(self, binary: Path, ports: dict[str, int]) -> None:
        logins = {r: f"{s.http_host}:{s.http_port}" for r, s in self.settings.items()}
        plan = FrontDoorPlan(ports, logins)
        self.front_door = start_front_door(
            binary, plan, self.base_dir, die_with_parent=not self.detached
        )
        self.front_door_urls = plan.urls()
        stackfile.write(self)

    def processes(self) -> list[ManagedProcess]:
        """Everything we started, in start order."""
        infra = [p for r in self.regions.values() for p in (r.redis, r.postgres)]
        front = [self.front_door] if self.front_door is not None else []
        return [*self.broker_nodes, *infra, *self.apps, *front]

    def dead(self) -> list[ManagedProcess]:
        return [p for p in self.processes() if not p.alive()]

    def release(self) -> None:
        """Leave everything running (``--detach``); ``authplane down`` stops it later."""
        for proc in self.processes():
            proc.release()

    def stop(self) -> None:
        """Stop in reverse start order: apps first (they still flush to the stores), then
        the stores, then the broker. Removes the stack file this stack wrote."""
        if self.front_door is not None:
            self.front_door.stop()
        # Apps shut down independently: signal them all at once, then wait for each.
        for proc in self.apps:
            proc.signal_stop()
        for proc in reversed(self.apps):
            proc.stop()
        for infra in reversed(self.regions.values()):
            infra.stop()
        if self.kafka is None:
            self.broker.stop()
        else:
            self.kafka.stop()
        if self.links is not None:
            self.links.stop()
        stackfile.remove_if_ours(self.stack_file, self.broker.pid)


def _check_regions(regions: Sequence[str]) -> None:
    if not regions:
        raise InfraError("no regions given")
    if len(set(regions)) != len(regions):
        raise InfraError(f"regions listed twice: {', '.join(regions)}")
    for region in regions:
        try:
            Settings(region=region)
        except ValueError as exc:
            raise InfraError(str(exc)) from None


def _start_kafka(
    regions: Sequence[str],
    base_dir: Path,
    die_with_parent: bool,
    port: int | None,
    say: Callable[[str], None],
    links: LinkProxies | None,
) -> kafka.KafkaCluster:
    cluster = kafka.plan_cluster(
        regions,
        base_dir / "data" / "kafka",
        link=links.address() if links else None,
        ports={regions[0]: port} if port else None,
        log_dir=base_dir / "logs",
        die_with_parent=die_with_parent,
        say=say,
    )
    if links is not None:
        links.start(cluster.nodes, base_dir, die_with_parent=die_with_parent)
    try:
        return kafka.start_cluster(cluster)
    except BaseException:
        if links is not None:
            links.stop()
        raise


def _create_topics(bootstrap: str, base: Settings) -> None:
    # Before any producer or worker: Tansu would auto-create them with 4 partitions otherwise.
    coro = partial(ensure_topics, bootstrap, base.topic_partitions, base.topic_replication)
    run_in_thread(lambda: asyncio.run(coro()))


def _next(ports: Iterator[int] | None) -> int | None:
    """The next port of a ``--base-port`` plan, or None for "any free port"."""
    return next(ports, None) if ports is not None else None


def _front_door_ports(
    regions: Sequence[str], port_plan: PortPlan | None, first: int
) -> dict[str, int]:
    """Each region's front-door port, chosen before the apps start so that each region's
    ``public_url`` (the RFC 8414 metadata's endpoint URLs) names its front door: the plan's,
    else consecutive ports from ``first`` (when non-zero), else free ones."""
    planned = port_plan.regions if port_plan is not None else {}
    ports: dict[str, int] = {}
    for n, region in enumerate(regions):
        fixed = planned[region].front_door if region in planned else 0
        ports[region] = fixed or (first + n if first else free_port())
    return ports
