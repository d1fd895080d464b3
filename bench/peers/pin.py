"""CPU placement: which cores each process may run on (taskset), and CPU seconds used.

On a 2-core box the login process (authplane's, or Keycloak's JVM) gets core 0 and
everything else (broker, projector, Redis, Postgres, wrk) core 1, so a figure "per core of the
login process" is not shared with the data plane it feeds.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable

import psutil

SERVER_CORES = "0"
DATA_PLANE_CORES = "1"


def all_cores() -> str:
    """``"0-N"`` for the whole box."""
    return f"0-{(os.cpu_count() or 1) - 1}"


def spread(pid: int) -> list[int]:
    """``pid`` and every descendant still running (Postgres backends, kc.sh's JVM)."""
    try:
        process = psutil.Process(pid)
        return [pid, *(child.pid for child in process.children(recursive=True))]
    except psutil.Error:
        return []


def pin(pids: Iterable[int], cores: str) -> None:
    """Move every thread of each process (``taskset -a``) onto ``cores``. Processes that
    ended meanwhile are skipped; CalledProcessError for anything else."""
    for pid in pids:
        if not psutil.pid_exists(pid):
            continue
        subprocess.run(
            ["taskset", "-a", "-p", "-c", cores, str(pid)], check=True, capture_output=True
        )


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds used so far by these processes (children not included)."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def two_cores() -> bool:
    """Whether the split (login on core 0, the rest on core 1) is possible here."""
    return (os.cpu_count() or 1) >= 2
