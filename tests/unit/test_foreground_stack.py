"""`make dev` (the foreground stack) outlives one region's login endpoint, so a front door can
be seen failing over; it stops once no login endpoint is left. A newcomer killed eu's login
under `make dev` and lost both regions and the front door at once."""

from __future__ import annotations

import sys
from pathlib import Path

from services.admin.authplane.stack import no_login_left
from services.devstack.process import ManagedProcess, spawn

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def _started(tmp_path: Path, name: str, service: str) -> ManagedProcess:
    proc = spawn(name, SLEEPER, log_path=tmp_path / f"{name}.log")
    proc.details.update(service=service)
    return proc


def test_one_dead_login_endpoint_does_not_stop_the_stack_the_last_one_does(
    tmp_path: Path,
) -> None:
    eu = _started(tmp_path, "eu-login", "login")
    us = _started(tmp_path, "us-login", "login")
    worker = _started(tmp_path, "eu-worker", "worker")
    processes = [eu, us, worker]
    try:
        assert not no_login_left(processes)
        eu.stop()
        assert not no_login_left(processes)  # us still answers (through the front door too)
        us.stop()
        assert no_login_left(processes)
    finally:
        for proc in processes:
            proc.stop()


def test_a_stack_without_login_endpoints_is_not_stopped_for_lacking_them(tmp_path: Path) -> None:
    broker = _started(tmp_path, "broker", "broker")
    try:
        assert not no_login_left([broker])  # `up --infra-only` style: nothing to wait for
    finally:
        broker.stop()
