"""A whole multi-region dev stack: one broker, per region Redis + Postgres + login + projector.

Usable in-process (e2e tests: ``Stack.start([...], base_dir)`` then ``.stop()``) and by the
``authplane`` CLI. The broker is memory-only, so every start begins from empty stores too: old
projections without the log that produced them would contradict "the log is the truth".
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from schemas.settings import Settings
from services.devstack import apps, stackfile
from services.devstack.broker import start_broker
from services.devstack.infra import RegionInfra, start_region_infra
from services.devstack.ports import PortPlan, check_free
from services.devstack.process import InfraError, ManagedProcess, free_port, run_in_thread

INTROSPECTION_CLIENT_ID = "rs-dev"


@dataclass
class Stack:
    base_dir: Path
    broker: ManagedProcess
    regions: dict[str, RegionInfra] = field(default_factory=dict)
    apps: list[ManagedProcess] = field(default_factory=list)
    settings: dict[str, Settings] = field(default_factory=dict)
    introspection_secret: str = ""
    detached: bool = False

    @property
    def stack_file(self) -> Path:
        return self.base_dir / "stack.json"

    @property
    def kafka_bootstrap(self) -> str:
        return self.broker.address

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
    ) -> Stack:
        """Start everything and write the stack file; on any failure stop what started.

        Ports: those of ``port_plan`` (services/devstack/ports.py; InfraError naming any that is
        taken, before anything starts), or consecutive ones from ``base_port``, or any free ones.
        """
        base_dir = base_dir.resolve()
        _check_regions(regions)
        if with_apps:
            _check_apps()
        stackfile.refuse_if_running(base_dir / "stack.json")
        shutil.rmtree(base_dir / "data", ignore_errors=True)
        fixed: Sequence[int] | None = None
        if port_plan is not None:
            check_free(port_plan)
            fixed = port_plan.start_order()
        elif base_port:
            fixed = range(base_port, base_port + 1 + 4 * len(regions))
        ports = iter(fixed) if fixed is not None else None
        broker = start_broker(base_dir, die_with_parent=not detach, fixed_port=_next(ports))
        stack = cls(base_dir, broker, detached=detach)
        try:
            stack._start_rest(
                regions, base or Settings(), inherited_env, durable, ports, with_apps, ready_timeout
            )
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
    ) -> None:
        _create_topics(self.kafka_bootstrap, base)
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
        self.introspection_secret = secrets.token_urlsafe(32)
        for region, infra in self.regions.items():
            self.settings[region] = apps.region_settings(
                base,
                infra,
                kafka_bootstrap=self.kafka_bootstrap,
                base_dir=self.base_dir,
                http_port=_next(ports) or free_port(),
                metrics_port=_next(ports) or free_port(),
                introspection_clients={INTROSPECTION_CLIENT_ID: self.introspection_secret},
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

    def processes(self) -> list[ManagedProcess]:
        """Everything we started, in start order."""
        infra = [p for r in self.regions.values() for p in (r.redis, r.postgres)]
        return [self.broker, *infra, *self.apps]

    def dead(self) -> list[ManagedProcess]:
        return [p for p in self.processes() if not p.alive()]

    def release(self) -> None:
        """Leave everything running (``--detach``); ``authplane down`` stops it later."""
        for proc in self.processes():
            proc.release()

    def stop(self) -> None:
        """Stop in reverse start order: apps first (they still flush to the stores), then
        the stores, then the broker. Removes the stack file this stack wrote."""
        # Apps shut down independently: signal them all at once, then wait for each.
        for proc in self.apps:
            proc.signal_stop()
        for proc in reversed(self.apps):
            proc.stop()
        for infra in reversed(self.regions.values()):
            infra.stop()
        self.broker.stop()
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


def _check_apps() -> None:
    missing = sorted(set(apps.APP_MODULES) - set(apps.apps_available()))
    if missing:
        raise InfraError(
            f"cannot start {', '.join(missing)}: module not in this checkout (try --infra-only)"
        )


def _create_topics(bootstrap: str, base: Settings) -> None:
    # Before any producer or worker: Tansu would auto-create them with 4 partitions otherwise.
    from schemas.topics import ensure_topics

    coro = partial(ensure_topics, bootstrap, base.topic_partitions, base.topic_replication)
    run_in_thread(lambda: asyncio.run(coro()))


def _next(ports: Iterator[int] | None) -> int | None:
    """The next port of a ``--base-port`` plan, or None for "any free port"."""
    return next(ports, None) if ports is not None else None
