"""``authplane``: the dev launcher (up / down / status) and database migrations.

authplane up [--regions eu,us] [--detach] [--no-wait] [--port-offset N | --free-ports]
authplane status | down | env [--region R]
authplane db upgrade [--dsn DSN]
authplane replay --region R [--target all|redis|postgres] [--since T] [--pause-live] [--restart]
authplane checksum --region R [--json] | verify --region R | reseed --from-region eu[,us] [--force]
"""

from __future__ import annotations

import sys

import typer

from services.admin.authplane import db, drill, replay, stack
from services.admin.authplane.terminal import fail
from services.admin.cliargs import non_utf8_argument

# The command modules hold the commands; this module only lists them (in `--help` order).
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.add_typer(db.app, name="db")
app.command()(stack.up)
app.command()(stack.status)
app.command()(stack.down)
app.command("env")(stack.env_exports)
app.command()(replay.replay)
app.command()(replay.checksum)
app.command()(replay.verify)
app.command()(replay.reseed)
app.command()(drill.drill)


def main() -> None:
    """Run authplane on ``sys.argv``; an argument that is not UTF-8 is one line and exit 1."""
    not_text = non_utf8_argument(sys.argv[1:])
    if not_text is not None:
        raise SystemExit(fail(not_text).exit_code)
    app()
