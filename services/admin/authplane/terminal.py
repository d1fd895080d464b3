"""What every ``authplane`` command shares: the console, the one-line failure and the
``--base-dir`` option with its default (the directory of AUTHPLANE_STACK_FILE)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from schemas.settings import Settings

console = Console()

BaseDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Holds stack.json, logs, keys, data [default: AUTHPLANE_STACK_FILE's directory]"
    ),
]
RegionOption = Annotated[str, typer.Option(help="Region name as in the stack file.")]


def fail(message: str) -> typer.Exit:
    """Print ``error: <first line of message>`` on stderr; returns the exit (code 1) to raise."""
    # Expected failures are one line, never a traceback; details are in the log it names.
    Console(stderr=True, soft_wrap=True).print(
        f"[red]error:[/red] {message.splitlines()[0]}", highlight=False
    )
    return typer.Exit(1)


def base_dir(option: Path | None) -> Path:
    """``--base-dir``, or the directory of the stack file the settings name."""
    return option if option is not None else Settings.from_env().stack_file.parent
