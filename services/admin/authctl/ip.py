"""``authctl ip unlock``: lift a client IP's login lockout in every region."""

from __future__ import annotations

import ipaddress

import typer

from schemas.events import IpLockoutLifted
from schemas.identity import ip_subject_id
from services.admin import context
from services.admin.errors import CliError
from services.admin.options import Operator, StackFile
from services.admin.publish import envelope_of, produce

app = typer.Typer(no_args_is_help=True, help="Manage client IP lockouts.")


@app.command("unlock")
def ip_unlock(address: str, operator: Operator = None, stack_file: StackFile = None) -> None:
    """Lift a client IP's login lockout: its earlier failed logins stop counting everywhere."""
    settings, topo = context.context(stack_file)
    try:
        ip = str(ipaddress.ip_address(address.strip()))  # the form the endpoint counts under
    except ValueError:
        raise CliError(f"not an IP address: {address!r}") from None
    event = IpLockoutLifted(client_ip=ip, unlocked_by=context.operator(operator))
    context.run(produce(topo, envelope_of(event, ip_subject_id(ip), settings.region)))
    typer.echo(f"unlocked {ip}")
