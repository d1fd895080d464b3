"""``authplane drill NAME``: start a 3-region Kafka stack with proxied links, run one drill
under load, print its figures, stop everything."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from schemas.broker import KAFKA
from schemas.settings import Settings
from services.devstack.drill import channel, crash, drills, frontdoor
from services.devstack.drill.drills import Figures, Plan
from services.devstack.frontdoor import haproxy_binary
from services.devstack.process import InfraError
from services.devstack.stack import Stack

DRILLS = (
    "region-crash",
    "region-partition",
    "wan-latency",
    "rolling-restart",
    "broker-outage",
    "relay-crash",
    "region-down-behind-front-door",
)
FRONT_DOOR_DRILLS = ("region-down-behind-front-door",)
"""Drills whose stack also runs the front door (HAProxy)."""
FAULT_S = {"broker-outage": 30.0}
"""Seconds of fault per drill when the operator names none (issue 11 asks for a 30 s outage)."""
DEFAULT_FAULT_S = 20.0
REGIONS = ("eu", "us", "ap")


def start_drill_stack(
    base_dir: Path, say: Callable[[str], None] = print, *, front_door: bool = False
) -> Stack:
    """Three regions on Kafka, every link between regions through toxiproxy (and with
    ``front_door``, HAProxy in front of the login endpoints; InfraError without haproxy)."""
    haproxy = haproxy_binary() if front_door else None
    if front_door and haproxy is None:
        raise InfraError("this drill needs haproxy on PATH: `make front-door-tools`")
    return Stack.start(
        list(REGIONS),
        base_dir,
        durable=False,
        inherited_env=dict(os.environ),
        # The load logs in from 127.0.0.1 only: the per-IP lockout is not what a drill tests.
        base=Settings(login_ip_max_failures=1_000_000, produce_timeout_s=5.0),
        broker=KAFKA,
        proxied_links=True,
        ready_timeout=180.0,
        say=say,
        front_door=haproxy,
    )


def run_drill(name: str, stack: Stack, plan: Plan) -> Figures:
    """Run drill ``name`` (one of DRILLS) on ``stack``; ValueError for an unknown name."""
    victim = REGIONS[-1]
    if name == "region-crash":
        return crash.region_crash(stack, plan, victim, dict(os.environ))
    if name == "region-partition":
        return drills.region_partition(stack, plan, victim)
    if name == "wan-latency":
        return drills.wan_latency(stack, plan)
    if name == "rolling-restart":
        return drills.rolling_restart(stack, plan)
    if name == "broker-outage":
        return channel.broker_outage(stack, plan, victim)
    if name == "relay-crash":
        return channel.relay_crash(stack, plan, victim, dict(os.environ))
    if name == "region-down-behind-front-door":
        return frontdoor.region_down_behind_front_door(stack, plan, victim, dict(os.environ))
    raise ValueError(f"unknown drill {name!r} (one of: {', '.join(DRILLS)})")


def render(name: str, plan: Plan, figures: Figures) -> str:
    """The drill's figures as aligned ``name: value`` lines under a one-line header."""
    head = (
        f"drill {name}: regions {','.join(REGIONS)} on Kafka (one KRaft node each, links via "
        f"toxiproxy), load {plan.rate_per_s:g} ops/s (60% logins, 25% refreshes, 15% revocations)"
    )
    width = max(len(k) for k in figures)
    return "\n".join([head, *(f"  {k.ljust(width)}  {v}" for k, v in figures.items())])


def run_and_print(
    name: str, rate: float, fault_s: float | None, base_dir: Path | None, console: Console
) -> Figures:
    """Start the drill stack (in ``base_dir`` or a new temp dir), run, print, stop.
    ``fault_s`` (s) defaults to the drill's own (``FAULT_S``, else ``DEFAULT_FAULT_S``)."""
    directory = base_dir or Path(tempfile.mkdtemp(prefix="authplane-drill-"))
    fault = FAULT_S.get(name, DEFAULT_FAULT_S) if fault_s is None else fault_s
    plan = Plan(rate_per_s=rate, fault_s=fault)
    with console.status(f"starting a 3-region Kafka stack in {directory}..."):
        stack = start_drill_stack(
            directory, say=lambda line: console.print(line), front_door=name in FRONT_DOOR_DRILLS
        )
    try:
        with console.status(f"drill {name} running..."):
            figures = run_drill(name, stack, plan)
    finally:
        stack.stop()
    console.print(render(name, plan, figures), highlight=False)
    return figures
