"""``authctl``: the operator's CLI for users, sessions, revocations, signing keys and lockouts.

Every failure is one line on stderr and a non-zero exit (1 for what the operator can fix, 2 for
usage, 130 when aborted); passwords are never echoed or logged, client secrets printed once.
The command groups live in their own modules (``users``, ``user_state``, ``sessions``,
``revoke_commands``, ``keys``, ``ip``, ``clients``, ``client_state``); this module only
assembles them and runs the CLI.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import typer

from services.admin.authctl import (
    client_state,
    clients,
    ip,
    keys,
    revoke_commands,
    sessions,
    user_state,
    users,
)
from services.admin.cliargs import non_utf8_argument
from services.admin.errors import CliError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
user_app = typer.Typer(no_args_is_help=True, help="Manage users.")
app.add_typer(user_app, name="user")
app.add_typer(sessions.app, name="sessions")
app.add_typer(revoke_commands.app, name="revoke")
app.add_typer(keys.app, name="keys")
app.add_typer(ip.app, name="ip")
# The order `authctl user --help` has always listed them in.
user_app.command("set-password")(users.user_set_password)
user_app.command("disable")(users.user_disable)
user_app.command("enable")(users.user_enable)
user_app.command("unlock")(users.user_unlock)
user_app.command("show")(user_state.user_show)
user_app.command("list")(user_state.user_list)
user_app.command("create")(users.user_create)
# issue 12: OAuth clients
client_app = typer.Typer(no_args_is_help=True, help="Manage OAuth clients.")
app.add_typer(client_app, name="client")
client_app.command("create")(clients.client_create)
client_app.command("list")(client_state.client_list)
client_app.command("show")(client_state.client_show)
client_app.command("update")(clients.client_update)
client_app.command("disable")(clients.client_disable)
client_app.command("enable")(clients.client_enable)
client_app.command("rotate-secret")(clients.client_rotate_secret)


def main() -> None:
    """Run authctl on ``sys.argv``; exits 0, or 1/2/130 after one line on stderr."""
    # Libraries (aiokafka) log connection failures on their own; the CLI reports one line itself.
    logging.getLogger().addHandler(logging.NullHandler())
    not_text = non_utf8_argument(sys.argv[1:])
    if not_text is not None:
        _fail(not_text, 2)
    try:
        result = app(standalone_mode=False)
    except CliError as exc:
        _fail(str(exc), 1)
    except typer.Abort:
        _fail("aborted", 130)
    except typer.TyperException as exc:  # usage errors: one line instead of a help panel
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        _fail(message, int(getattr(exc, "exit_code", 2)))
    sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    if message.strip():  # a bare group prints its help (no message) and exits non-zero
        print(f"authctl: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(code)
