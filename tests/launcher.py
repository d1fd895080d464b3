"""Driving the ``authplane`` launcher as a user would: its CLI in a child process, on stable
ports shifted to an offset that is free right now.

Offsets keep every port below 32768, where Linux hands out ephemeral ports, so stacks other
tests start on "any free port" cannot take one of ours between the pick and the start.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Sequence

from services.devstack import ports
from services.devstack.apps import REPO_ROOT
from services.devstack.process import InfraError

LOWEST, HIGHEST = 1000, 32767 - ports.BROKER_PORT


def free_offset(regions: Sequence[str]) -> int:
    rng = random.Random()
    for _ in range(200):
        offset = rng.randrange(LOWEST, HIGHEST)
        try:
            ports.check_free(ports.stable_plan(regions, offset))
        except InfraError:
            continue
        return offset
    raise AssertionError("no port offset with every stable port free")


def run_module(
    *args: str, env: dict[str, str], stdin: str = "", timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    """``python -m args...`` from the repository root, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        input=stdin,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
