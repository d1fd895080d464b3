"""Processes recorded in a stack file (by PID and create time), and how to end them safely.

The create time guards against PID reuse: a recycled PID belongs to someone else, so it is never
signalled. Signals go to the recorded PID only, never to a process group or a name.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Sequence

import psutil

from services.devstack.polling import until

SAME_PROCESS_WITHIN_S = 1.0
"""Create times this close (s) count as one process: psutil derives a create time from the boot
time and clock ticks, so two readings of the same process may differ slightly."""


def stop_recorded_pid(
    pid: int, create_time: float | None, sig: int = signal.SIGTERM, timeout: float = 10.0
) -> bool:
    """End a PID recorded in a stack file, if it is still the process we started.

    Sends ``sig``, waits up to ``timeout`` (s), then SIGKILL. Returns True if a process was
    signalled.
    """
    return bool(stop_recorded_pids([(pid, create_time, sig)], timeout))


def stop_recorded_pids(
    targets: Sequence[tuple[int, float | None, int]], timeout: float = 10.0
) -> list[int]:
    """``stop_recorded_pid`` for several ``(pid, create time, signal)`` at once: every one is
    signalled first, then all are waited for together (up to ``timeout`` s), then whoever is
    left gets SIGKILL. Processes that need each other to stop (the nodes of one KRaft quorum)
    thus stop together. Returns the PIDs that were signalled."""
    signalled: list[psutil.Process] = []
    for pid, create_time, sig in targets:
        try:
            proc = psutil.Process(pid)
            if create_time is not None and not _same(proc, create_time):
                continue
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            continue
        signalled.append(proc)
    if not until(lambda: all(_gone(p) for p in signalled), timeout, 0.02):
        for proc in signalled:
            with contextlib.suppress(psutil.NoSuchProcess):
                if not _gone(proc):
                    proc.kill()
        until(lambda: all(_gone(p) for p in signalled), 5.0, 0.02)
    return [proc.pid for proc in signalled]


def _gone(proc: psutil.Process) -> bool:
    # A zombie counts as gone: a detached child's new parent (PID 1) may reap it only seconds
    # later, and waiting for that would make `down` crawl.
    try:
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _same(proc: psutil.Process, create_time: float) -> bool:
    return abs(float(proc.create_time()) - create_time) <= SAME_PROCESS_WITHIN_S


def pid_alive(pid: int, create_time: float | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, given ``create_time``, is that same process."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or _same(proc, create_time)
    except psutil.NoSuchProcess:
        return False


def create_time(pid: int) -> float | None:
    """``pid``'s create time (epoch s, as psutil reports it), None if it does not run."""
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.NoSuchProcess:
        return None
