"""What the launcher records in the stack file, and ``down``/``status`` driven by it.

``down`` ends only the PIDs recorded here, and only while each still is the process we started
(same create time), so a stale file can never make us signal a stranger.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from schemas import names, topology
from services.devstack.pids import create_time, pid_alive, stop_recorded_pid, stop_recorded_pids
from services.devstack.process import InfraError, ManagedProcess

if TYPE_CHECKING:
    from services.devstack.stack import Stack


@dataclass(frozen=True)
class Record:
    region: str
    service: str
    pid: int
    address: str
    log: str
    create_time: float | None
    stop_signal: int = signal.SIGTERM

    def alive(self) -> bool:
        return pid_alive(self.pid, self.create_time)


def _record(region: str, service: str, proc: ManagedProcess) -> dict[str, Any]:
    return {
        "region": region,
        "service": service,
        "pid": proc.pid,
        "address": proc.address,
        "log": str(proc.log_path or ""),
        "create_time": create_time(proc.pid),
        "stop_signal": int(proc.stop_signal),
    }


def _broker_record(proc: ManagedProcess) -> dict[str, Any]:
    # Tansu: one shared broker (no region); Kafka: one node per region.
    return _record(
        str(proc.details.get("region", "")), str(proc.details.get("service", "broker")), proc
    )


def broker_kind(topo: topology.Topology) -> str:
    """``tansu`` or ``kafka``: what the stack file says the stack runs on."""
    return topo.broker_kind


def write(stack: Stack) -> None:
    records = [_broker_record(p) for p in stack.broker_nodes]
    regions: dict[str, topology.RegionEndpoints] = {}
    for name, infra in stack.regions.items():
        records += [_record(name, "redis", infra.redis), _record(name, "postgres", infra.postgres)]
        mine = [p for p in stack.apps if p.details["region"] == name]
        records += [_record(name, str(p.details["service"]), p) for p in mine]
        settings = stack.settings[name]
        regions[name] = topology.RegionEndpoints(
            name=name,
            redis_url=infra.redis_url,
            postgres_dsn=infra.postgres_dsn,
            login_url=f"http://{settings.http_host}:{settings.http_port}",
            projector_metrics_url=f"http://{settings.http_host}:{settings.projector_metrics_port}",
            pids={**infra.pids, **{str(p.details["service"]): p.pid for p in mine}},
        )
    extra = {
        "launcher": {
            "pid": os.getpid(),
            "create_time": create_time(os.getpid()),
            "detached": stack.detached,
        },
        "broker": {
            "pid": stack.broker.pid,
            "address": stack.broker.address,
            "kind": stack.broker_kind,
            "nodes": [
                {"region": p.details.get("region", ""), "pid": p.pid, "address": p.address}
                for p in stack.broker_nodes
            ],
        },
        "processes": records,
        "clients": stack.clients,  # issue 12: the dev OAuth clients and their secrets
    }
    if stack.front_door is not None:
        records.append(_record("", "front-door", stack.front_door))
        extra["front_door"] = front_door_entry(stack.front_door, stack.front_door_urls)
    topo = topology.Topology(
        kafka_bootstrap=stack.kafka_bootstrap,
        regions=regions,
        introspection_client_id=names.DEV_RESOURCE_SERVER_ID,
        introspection_client_secret=stack.introspection_secret,
        extra=extra,
    )
    topology.save(topo, stack.stack_file)
    stack.stack_file.chmod(0o600)  # it holds the introspection secret


def front_door_entry(proc: ManagedProcess, urls: dict[str, str]) -> dict[str, Any]:
    """stack.json's top-level ``front_door`` object: ``{"pid", "config", "regions": {region:
    url}}``, where ``regions[r]`` is the URL a client whose home is ``r`` uses (same paths as a
    login endpoint; it fails over to the other regions while ``r``'s /readyz is not 200)."""
    return {"pid": proc.pid, "config": str(proc.details.get("config", "")), "regions": urls}


def front_door_urls(topo: topology.Topology) -> dict[str, str]:
    """region -> front-door URL from a stack file (empty when the stack has no front door)."""
    entry = topo.extra.get("front_door")
    if not isinstance(entry, dict) or not isinstance(entry.get("regions"), dict):
        return {}
    return {str(r): str(u) for r, u in entry["regions"].items()}


def records_of(stack: Stack) -> list[Record]:
    """The records of a stack we hold in memory (as ``status`` would read them back)."""
    return records(topology.load(stack.stack_file))


def records(topo: topology.Topology) -> list[Record]:
    raw = topo.extra.get("processes")
    if not isinstance(raw, list):
        raise topology.TopologyError("stack file records no launcher processes (hand-written?)")
    try:
        return [
            Record(
                str(r["region"]),
                str(r["service"]),
                int(r["pid"]),
                str(r["address"]),
                str(r["log"]),
                r.get("create_time"),
                int(r.get("stop_signal", 15)),
            )
            for r in raw
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise topology.TopologyError(f"stack file process records are malformed: {exc!r}") from None


def refuse_if_running(path: Path) -> None:
    if not path.exists():
        return
    try:
        alive = [r for r in records(topology.load(path)) if r.alive()]
    except topology.TopologyError:
        return  # unreadable leftovers: nothing of ours we could stop anyway
    if alive:
        raise InfraError(f"a stack is already running ({path}); run `authplane down` first")


def remove_if_ours(path: Path, broker_pid: int) -> None:
    try:
        topo = topology.load(path)
    except topology.TopologyError:
        return
    if topo.extra.get("broker", {}).get("pid") == broker_pid:
        path.unlink(missing_ok=True)


def down(path: Path, timeout: float = 15.0) -> list[Record]:
    """Stop a running stack; returns the records whose process we signalled."""
    topo = topology.load(path)
    stopped: list[Record] = []
    launcher = topo.extra.get("launcher", {})
    if not launcher.get("detached", True) and launcher.get("pid") != os.getpid():
        # A foreground launcher shuts down in the right order itself when told to.
        pid, started = int(launcher["pid"]), launcher.get("create_time")
        if stop_recorded_pid(pid, started, timeout=timeout):
            stopped.append(Record("", "launcher", pid, "", "", started))
    for wave in stop_waves(records(topo)):
        signalled = stop_recorded_pids(
            [(r.pid, r.create_time, r.stop_signal) for r in wave], timeout
        )
        stopped += [r for r in wave if r.pid in signalled]
    path.unlink(missing_ok=True)
    return stopped


STORE_SERVICES = frozenset({"redis", "postgres"})
BROKER_SERVICES = frozenset({"kafka", "broker"})
"""A Kafka node's record (one per region) and Tansu's (one, no region)."""


def stop_waves(recorded: list[Record]) -> list[list[Record]]:
    """The order ``down`` stops a stack in, each wave at once: what uses the stores and the log
    (apps, front door), then the stores, then the broker nodes. The nodes of a KRaft quorum
    must stop together: the last one left alone waits for a controller quorum that is gone
    until it is killed (15 s of every ``down`` when they stopped one by one)."""
    apps = [r for r in recorded if r.service not in STORE_SERVICES | BROKER_SERVICES]
    stores = [r for r in recorded if r.service in STORE_SERVICES]
    nodes = [r for r in recorded if r.service in BROKER_SERVICES]
    return [wave for wave in (apps, stores, nodes) if wave]


READYZ_TIMEOUT_S = 3.0


def readiness(url: str) -> str:
    """The /readyz answer of a login endpoint, as a short word for a status table: ``ready``,
    ``degraded`` (200, but logins go through the emergency channel: the log is not taking them),
    ``not ready (CODE)`` or ``unreachable``."""
    try:
        # Longer than the endpoint's own per-check bound (services.login.health, 2 s), so a
        # check that times out there is reported, not "unreachable".
        response = httpx.get(url + "/readyz", timeout=READYZ_TIMEOUT_S)
    except httpx.HTTPError:
        return "unreachable"
    if response.status_code != 200:
        return f"not ready ({response.status_code})"
    try:
        status = response.json().get("status")
    except ValueError:
        status = None
    return "degraded" if status == "degraded" else "ready"


def front_door_routes(urls: dict[str, str]) -> str:
    """Where each front-door frontend sends a client now, e.g. ``"eu->eu, us->eu"`` (``->?``:
    no region answered its /readyz through it), for a status table."""
    return ", ".join(f"{region}->{_served_by(url)}" for region, url in urls.items())


def _served_by(url: str) -> str:
    try:
        answer = httpx.get(url + "/readyz", timeout=2.0)
    except httpx.HTTPError:
        return "?"
    return str(answer.headers.get(names.HEADER_SERVED_BY, "?"))
