"""`authplane replay|checksum|verify|reseed` run the engine (`python -m streams.replay`) as a
child of the installed package: from any directory, with no PYTHONPATH, its one error line and
exit code reach the operator unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_authplane_runs_the_engine_from_any_directory_without_pythonpath(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    argv = [sys.executable, "-m", "services.admin.authplane", "checksum", "--region", "eu"]
    result = subprocess.run(
        [*argv, "--base-dir", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"error: no stack file at {tmp_path / 'stack.json'} "
        "(start one with `make dev`, or set AUTHPLANE_STACK_FILE)"
    ]
