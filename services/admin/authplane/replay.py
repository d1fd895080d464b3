"""``authplane replay|checksum|verify|reseed``: the recovery commands, run by the engine
``python -m streams.replay`` (same options, output and exit codes).

The engine runs as a child process, not an import, because services/ never imports streams/.
The child is this interpreter (``sys.executable``) running ``streams.replay`` from the same
installed distribution as this module, so it needs no path set up: it inherits our environment
unread and reads its own settings. Ctrl-C reaches the child directly (same terminal), which
reports and exits; we wait for it and pass its code on.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from schemas.settings import Settings
from services.admin.authplane.terminal import BaseDirOption, RegionOption

RECOVERY_MODULE = "streams.replay"
BatchSize = Annotated[int, typer.Option(min=1)]


def replay(
    region: RegionOption,
    target: Annotated[str, typer.Option(help="all | redis | postgres")] = "all",
    since: Annotated[
        str | None, typer.Option(help="Only events produced at or after this ISO 8601 time.")
    ] = None,
    batch_size: BatchSize = 5000,
    pause_live: Annotated[
        bool, typer.Option(help="Pause the region's live projector for the replay.")
    ] = False,
    restart: Annotated[bool, typer.Option(help="Ignore an interrupted run's checkpoint.")] = False,
    plain: Annotated[bool, typer.Option(help="Plain progress lines even on a terminal.")] = False,
    base_dir: BaseDirOption = None,
) -> None:
    """Rebuild a region's projections from the event log (resumes an interrupted run)."""
    args = ["replay", "--region", region, "--target", target, "--batch-size", str(batch_size)]
    args += ["--since", since] if since else []
    args += _flags(pause_live=pause_live, restart=restart, plain=plain)
    _run_engine(args, base_dir)


def checksum(
    region: RegionOption,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
    base_dir: BaseDirOption = None,
) -> None:
    """Print a stable digest of a region's projected state, per kind of record and overall."""
    _run_engine(["checksum", "--region", region, *_flags(json=json_output)], base_dir)


def verify(
    region: RegionOption, batch_size: BatchSize = 5000, base_dir: BaseDirOption = None
) -> None:
    """Rebuild a region from the log into scratch stores and compare; exit 2 on drift."""
    _run_engine(["verify", "--region", region, "--batch-size", str(batch_size)], base_dir)


def reseed(
    from_region: Annotated[str, typer.Option(help="Region(s) whose archive to republish: eu,us")],
    force: Annotated[bool, typer.Option(help="Publish even if the topics hold events.")] = False,
    base_dir: BaseDirOption = None,
) -> None:
    """Refill an empty event log from regions' event archives (deduplicated, in order)."""
    _run_engine(["reseed", "--from-region", from_region, *_flags(force=force)], base_dir)


def _flags(**flags: bool) -> list[str]:
    """``--pause-live`` for ``pause_live=True``; nothing for a flag that is off."""
    return ["--" + name.replace("_", "-") for name, on in flags.items() if on]


def _run_engine(args: list[str], base_dir: Path | None) -> None:
    """Run the engine with our stdio on the stack file of ``base_dir`` (default: the settings');
    exit with its code (128 + N when a signal N ended it)."""
    stack_file = base_dir / "stack.json" if base_dir else Settings.from_env().stack_file
    argv = [sys.executable, "-m", RECOVERY_MODULE, "--stack-file", str(stack_file), *args]
    child = subprocess.Popen(argv)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    raise typer.Exit(code if code >= 0 else 128 - code)
