"""``authplane drill NAME``: a disaster drill on a fresh 3-region Kafka stack under load."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.admin.authplane.terminal import console, fail
from services.devstack.process import InfraError


def drill(
    name: Annotated[
        str,
        typer.Argument(
            help="region-crash | region-partition | wan-latency | rolling-restart | "
            "broker-outage | relay-crash | "
            "region-down-behind-front-door"
        ),
    ],
    rate: Annotated[float, typer.Option(min=0.5, help="Operations per second (load).")] = 6.0,
    fault_s: Annotated[
        float | None,
        typer.Option(min=1.0, help="Seconds the fault lasts (30 for broker-outage, else 20)."),
    ] = None,
    base_dir: Annotated[Path | None, typer.Option(help="[default: a new temp directory]")] = None,
) -> None:
    """Run a disaster drill on a fresh 3-region Kafka stack under load and print its figures."""
    # Imported when the command runs: the other commands and `--help` do not load the drills.
    from services.devstack.drill.runner import DRILLS, run_and_print

    if name not in DRILLS:
        raise fail(f"unknown drill {name!r} (one of: {', '.join(DRILLS)})")
    try:
        run_and_print(name, rate, fault_s, base_dir, console)
    except InfraError as exc:
        raise fail(str(exc)) from None
