"""Propagation and idle cost on each broker: the same two-region stack on Tansu and on the dev
Kafka cluster (``python -m bench --broker tansu|kafka|both``)."""

from __future__ import annotations

import time

import psutil

from bench.report import figure, heading
from services.devstack.process import ManagedProcess
from services.devstack.stack import Stack


def _cpu_s(processes: list[ManagedProcess]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = psutil.Process(proc.pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def bench_idle_cpu(stack: Stack, seconds: float) -> None:
    """CPU the data plane (every region's login endpoint and projector) and the broker nodes
    use while nothing happens, in % of one core over ``seconds`` s."""
    heading(
        f"idle CPU on {stack.broker_kind}",
        f"no request for {seconds:g} s after the other benchmarks; CPU time (user + system) of "
        "every login endpoint and projector, then of the broker node(s), divided by wall time",
    )
    groups = {"data plane (logins + projectors)": stack.apps, "broker": stack.broker_nodes}
    before = {name: _cpu_s(procs) for name, procs in groups.items()}
    time.sleep(seconds)
    for name, procs in groups.items():
        figure(f"{name}", 100 * (_cpu_s(procs) - before[name]) / seconds, "% of a core")
