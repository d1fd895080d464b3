"""Stable dev-stack ports: the same addresses on every start, so the README can be pasted.

The n-th region of ``--regions`` (counting from 0) gets, before ``offset`` is added:

===================  ===========  =====================
what                 port         eu / us / ap
===================  ===========  =====================
login endpoint       8080 + n     8080 / 8081 / 8082
projector /metrics   9180 + n     9180 / 9181 / 9182
Redis                16379 + n    16379 / 16380 / 16381
Postgres             15432 + n    15432 / 15433 / 15434
broker (one)         19092        19092
front door           8180 + n     8180 / 8181 / 8182
===================  ===========  =====================

(the front door's only with ``--front-door``: its frontend for region n, which fails over from
region n's login endpoint to the others; ``services/devstack/frontdoor.py``).

The stores and the broker sit 10000 above their usual ports so that a Redis, PostgreSQL or
Kafka already running on the machine does not collide with them. Every port is checked before
anything starts; a taken one is an error naming it and the ways around it.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

from services.devstack.process import HOST, InfraError

LOGIN_BASE = 8080
METRICS_BASE = 9180
REDIS_BASE = 16379
POSTGRES_BASE = 15432
BROKER_PORT = 19092
FRONT_DOOR_BASE = 8180
MAX_REGIONS = 10
"""Per-service blocks are 10 wide apart from where they sit; more regions would overlap."""
MAX_OFFSET = 65535 - BROKER_PORT


@dataclass(frozen=True)
class RegionPorts:
    """One region's ports (TCP, on 127.0.0.1)."""

    login: int
    metrics: int
    redis: int
    postgres: int
    front_door: int = 0
    """The region's front-door frontend; 0 when the stack has no front door."""


@dataclass(frozen=True)
class PortPlan:
    """Every port a dev stack listens on: the broker's and each region's."""

    broker: int
    regions: dict[str, RegionPorts]

    def named(self) -> list[tuple[str, int]]:
        """``(what, port)`` for every port, e.g. ``("eu login", 8080)``, broker first."""
        out = [("broker", self.broker)]
        for region, p in self.regions.items():
            out += [(f"{region} login", p.login), (f"{region} projector metrics", p.metrics)]
            out += [(f"{region} redis", p.redis), (f"{region} postgres", p.postgres)]
            out += [(f"{region} front door", p.front_door)] if p.front_door else []
        return out

    def start_order(self) -> list[int]:
        """The ports in the order ``Stack.start`` takes them: the broker, then Redis and
        Postgres of each region, then login and metrics of each region."""
        stores = [q for p in self.regions.values() for q in (p.redis, p.postgres)]
        apps = [q for p in self.regions.values() for q in (p.login, p.metrics)]
        return [self.broker, *stores, *apps]


def stable_plan(regions: Sequence[str], offset: int = 0, *, front_door: bool = False) -> PortPlan:
    """The documented ports for ``regions`` (in that order), each shifted by ``offset``; the
    front door's too when ``front_door``.

    Raises InfraError for more than ``MAX_REGIONS`` regions or an offset that leaves the
    port range (0..``MAX_OFFSET``).
    """
    if len(regions) > MAX_REGIONS:
        raise InfraError(f"stable ports cover at most {MAX_REGIONS} regions (use --free-ports)")
    if not 0 <= offset <= MAX_OFFSET:
        raise InfraError(f"the port offset must be 0..{MAX_OFFSET}, not {offset}")
    ports = {
        region: RegionPorts(
            login=LOGIN_BASE + offset + n,
            metrics=METRICS_BASE + offset + n,
            redis=REDIS_BASE + offset + n,
            postgres=POSTGRES_BASE + offset + n,
            front_door=FRONT_DOOR_BASE + offset + n if front_door else 0,
        )
        for n, region in enumerate(regions)
    }
    return PortPlan(broker=BROKER_PORT + offset, regions=ports)


def check_free(plan: PortPlan) -> None:
    """Raise InfraError naming every port of ``plan`` that something already listens on.

    Checked by binding each port once, before anything starts, so a clash is reported at once
    instead of as a child that died; a port taken between this check and the child's bind
    still fails the start (with that child's log).
    """
    taken = [f"{port} ({what})" for what, port in plan.named() if not _bindable(port)]
    if taken:
        raise InfraError(
            f"port(s) already in use: {', '.join(taken)}. Stop what holds them (or an older "
            "stack: `authplane down`), shift every port with --port-offset N "
            "(AUTHPLANE_DEV_PORT_OFFSET), or take any free ports with --free-ports "
            "(AUTHPLANE_DEV_FREE_PORTS=true)"
        )


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as the servers themselves bind: a port still in TIME_WAIT from a stack
        # that just stopped is usable and must not be reported as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True
