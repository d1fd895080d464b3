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

from schemas import topology
from services.devstack.pids import create_time, pid_alive, stop_recorded_pid
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
    }
    topo = topology.Topology(
        kafka_bootstrap=stack.kafka_bootstrap,
        regions=regions,
        introspection_client_id="rs-dev",
        introspection_client_secret=stack.introspection_secret,
        extra=extra,
    )
    topology.save(topo, stack.stack_file)
    stack.stack_file.chmod(0o600)  # it holds the introspection secret


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
    for record in reversed(records(topo)):
        if stop_recorded_pid(record.pid, record.create_time, record.stop_signal, timeout):
            stopped.append(record)
    path.unlink(missing_ok=True)
    return stopped


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
