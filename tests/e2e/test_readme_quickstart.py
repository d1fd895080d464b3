"""The README's quickstart, run verbatim in bash on a fresh stack, so the README cannot drift.

Every fenced block preceded by ``<!-- quickstart -->`` is run, in order, in one bash with
``set -euo pipefail``. The only differences from a newcomer's shell: the stack lives in a temp
directory (``AUTHPLANE_STACK_FILE``) and its ports are shifted (``AUTHPLANE_DEV_PORT_OFFSET``)
so that it cannot collide with a developer's own stack; the README's commands read both.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from services.devstack import ports
from services.devstack.apps import REPO_ROOT
from tests.launcher import free_offset, run_module

MARKED_BLOCK = re.compile(r"^<!-- quickstart -->\n```(?:sh|bash)\n(.*?)^```$", re.M | re.S)


def quickstart_blocks(readme: str) -> list[str]:
    return MARKED_BLOCK.findall(readme)


def test_the_readme_quickstart_marks_every_step() -> None:
    script = "\n".join(quickstart_blocks((REPO_ROOT / "README.md").read_text()))
    # Dropping a marker must not silently drop a step from the test below.
    for step in (
        "authplane up --detach",
        'eval "$(authplane env)"',
        "authctl user create alice",
        "$AUTHPLANE_EU_URL/oauth2/token",
        "grant_type=refresh_token",
        "authctl revoke session",
        "--wait",
        "/metrics",
        "authplane down",
    ):
        assert step in script, step


def test_the_readme_quickstart_runs_verbatim_on_a_fresh_stack(tmp_path: Path) -> None:
    script = "\n".join(quickstart_blocks((REPO_ROOT / "README.md").read_text()))
    offset = free_offset(["eu", "us"])
    env = {
        **os.environ,
        "AUTHPLANE_STACK_FILE": str(tmp_path / "stack.json"),
        "AUTHPLANE_DEV_PORT_OFFSET": str(offset),
    }
    try:
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + script],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        if (tmp_path / "stack.json").exists():
            run_module("services.admin.authplane", "down", env=env)
    output = done.stdout
    assert done.returncode == 0, output + done.stderr
    plan = ports.stable_plan(["eu", "us"], offset)
    eu, us = plan.regions["eu"].login, plan.regions["us"].login
    assert f"http://127.0.0.1:{eu} http://127.0.0.1:{us}" in output
    answers = [json.loads(line) for line in output.splitlines() if line.startswith('{"active"')]
    # Introspected in us after the eu login; then, after the revocation, in eu and in us.
    assert [a["active"] for a in answers] == [True, False, False]
    assert answers[0]["region"] == "eu"
    assert 'authplane_logins_total{outcome="success"} 1.0' in output
    assert 'authplane_projector_events_applied_total{type="session.revoked"} 1.0' in output
    assert not (tmp_path / "stack.json").exists()  # the quickstart's own `authplane down`
