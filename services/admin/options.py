"""The command-line options several authctl commands share, declared once (name, type, help)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

TIMEOUT_S = 10.0
"""Seconds an authctl command allows the broker or a region's stores (and --wait's default)."""

StackFile = Annotated[
    Path | None, typer.Option("--stack-file", help="Stack file (default: AUTHPLANE_STACK_FILE).")
]
ReadRegion = Annotated[
    str | None, typer.Option("--region", help="Region whose stores to read (default: settings).")
]
OriginRegion = Annotated[str | None, typer.Option(help="Origin region recorded in the event.")]
Reason = Annotated[str, typer.Option(help="Why; kept in the audit record.")]
Operator = Annotated[str | None, typer.Option(help="Who; default: your login name.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin.")
]
Wait = Annotated[bool, typer.Option("--wait", help="Watch every region until it is in effect.")]
Timeout = Annotated[float, typer.Option(min=0.1, help="Seconds --wait allows the regions.")]
