"""``authctl sessions list``: a user's sessions as one region's Postgres read model knows them,
with who revoked each one, when and why."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from schemas.identity import user_id_for
from services.admin import context, revocation
from services.admin.errors import CliError
from services.admin.options import TIMEOUT_S, StackFile
from services.core.readmodel import SessionRow, list_sessions, make_engine

app = typer.Typer(no_args_is_help=True, help="Inspect sessions.")

_JSON_FIELDS = (
    "session_id",
    "user_id",
    "client_id",
    "origin_region",
    "started_at",
    "expires_at",
    "revoked",
    "revoked_at",
    "revoke_reason",
    "revoked_by",
    "revoke_region",
)
"""The keys of ``sessions list --json``, in the order it prints them."""


@app.command("list")
def sessions_list(
    username: str,
    region: Annotated[str, typer.Option(help="Region whose read model to query.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    stack_file: StackFile = None,
) -> None:
    """List a user's sessions as one region's Postgres read model knows them."""
    settings = context.settings()
    user_id = user_id_for(context.username(username))
    dsn = context.region(context.topology_of(settings, stack_file), region).postgres_dsn
    rows = asyncio.run(_sessions(dsn, region, user_id))
    if as_json:
        typer.echo(orjson.dumps([_session_dict(r) for r in rows], option=orjson.OPT_UTC_Z))
    else:
        _print_table(rows)


async def _sessions(dsn: str, region: str, user_id: str) -> list[SessionRow]:
    engine = make_engine(dsn)
    try:
        return await asyncio.wait_for(list_sessions(engine, user_id), TIMEOUT_S)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise CliError(
            f"cannot read sessions from {region}'s Postgres: {type(exc).__name__}"
        ) from None
    finally:
        await engine.dispose()


def _session_dict(row: SessionRow) -> dict[str, Any]:
    """The row as ``--json`` prints it: times in ISO 8601, ``revoked_at`` null while active."""
    return {name: _json_value(getattr(row, name)) for name in _JSON_FIELDS}


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _print_table(rows: list[SessionRow]) -> None:
    columns = ("session_id", "client_id", "origin_region", "started_at", "expires_at")
    table = Table(*columns, "status")
    table.columns[0].no_wrap = True
    for row in rows:
        data = _session_dict(row)
        table.add_row(*(data[c] for c in columns), "revoked" if row.revoked else "active")
    console = revocation.console()
    console.print(table if rows else "no sessions")
    # Audit details on their own lines: as table columns they would not fit a terminal.
    for row in rows:
        if row.revoked_at is not None:
            why = f": {row.revoke_reason}" if row.revoke_reason else ""
            when = row.revoked_at.isoformat(timespec="seconds")
            console.print(
                f"{row.session_id} revoked {when} by {row.revoked_by} in {row.revoke_region}{why}",
                highlight=False,
                soft_wrap=True,
            )
