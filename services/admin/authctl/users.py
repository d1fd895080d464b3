"""``authctl user create|set-password|disable|enable|unlock``: the commands that write a user's
events (``user show|list`` are in ``user_state``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from schemas import topology
from schemas.envelope import Envelope, Payload
from schemas.events import (
    LockoutLifted,
    PasswordChanged,
    UserDisabled,
    UserEnabled,
    UserRegistered,
)
from schemas.identity import user_id_for
from schemas.settings import Settings
from services.admin import context, revocation
from services.admin.authctl import user_state
from services.admin.errors import CliError
from services.admin.options import (
    TIMEOUT_S,
    Operator,
    PasswordStdin,
    ReadRegion,
    Reason,
    StackFile,
)
from services.admin.publish import envelope_of, produce
from services.core.passwords import hash_password
from services.login.account import Accounts


def user_create(
    username: str,
    password_stdin: PasswordStdin = False,
    region: Annotated[
        str | None, typer.Option(help="Origin region recorded in the event (default: settings).")
    ] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="Broker bootstrap servers (default: the stack file's).")
    ] = None,
    stack_file: StackFile = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Watch every region until it knows the user.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds --wait allows the regions.")
    ] = TIMEOUT_S,
) -> None:
    """Register a user: hash the password (argon2id) and log a user.registered event.

    With --wait, watch every region until its login endpoint can see the user; a region that
    does not within --timeout is named and the exit code is non-zero."""
    settings = context.settings()
    name = context.username(username)
    password = context.read_password(password_stdin, prompt="Password")
    cluster = context.topology_of(settings, stack_file)
    _refuse_existing(cluster, name)
    event = UserRegistered(username=name, password_hash=hash_password(settings, password))
    envelope = envelope_of(event, user_id_for(name), region or settings.region)
    asyncio.run(produce(cluster, envelope, bootstrap))
    typer.echo(f"registered {name} (user id {envelope.user_id})")
    if wait:
        _wait_registered(cluster, envelope, time.monotonic(), timeout)


def _wait_registered(
    cluster: topology.Topology, envelope: Envelope, written_at: float, timeout_s: float
) -> None:
    confirmations = asyncio.run(
        user_state.wait_registered(cluster, envelope, written_at, timeout_s)
    )
    user_state.print_confirmations(confirmations)
    missing = revocation.unconfirmed(confirmations)
    if missing:
        raise CliError(f"not known within {timeout_s:g}s in: {missing}")
    # _refuse_existing reads before this write: another registration of the same name written
    # meanwhile (two operators at once) is ordered by the log, and the earliest one wins in every
    # region. Say so rather than leave an operator with a password that does not work.
    winners = asyncio.run(user_state.registration_winners(cluster, envelope.user_id))
    lost = sorted({w for w in winners.values() if w and w != envelope.event_id})
    if lost:
        raise CliError(
            f"another registration of this user (event {lost[0]}) came first and is the one "
            f"every region keeps; this one (event {envelope.event_id}) is ignored: its password "
            "will not log in"
        )


def _refuse_existing(cluster: topology.Topology, name: str) -> None:
    """A second registration would be silently ignored everywhere (the earliest one wins), so
    say so instead of printing "registered". When no region can be asked, or two operators
    race, the registration goes ahead and the log resolves it the same way in every region."""
    try:
        asyncio.run(revocation.find(cluster, "user", name))
    except revocation.RevokeError:
        return  # unknown everywhere we could ask
    raise CliError(f"user {name} already exists")


def user_set_password(
    username: str,
    password_stdin: PasswordStdin = False,
    operator: Operator = None,
    region: ReadRegion = None,
    stack_file: StackFile = None,
) -> None:
    """Set a user's password; every session and token of the user issued before is revoked in
    every region."""

    def changed(settings: Settings) -> Payload:
        password = context.read_password(password_stdin)
        return PasswordChanged(
            password_hash=hash_password(settings, password),
            changed_by=context.operator(operator),
        )

    name = _write_existing(stack_file, username, region, changed)
    typer.echo(f"password of {name} changed; its earlier sessions are revoked everywhere")


def user_disable(
    username: str,
    reason: Reason = "",
    operator: Operator = None,
    region: ReadRegion = None,
    stack_file: StackFile = None,
) -> None:
    """Disable a user: no login or refresh anywhere; its sessions are revoked."""
    by = context.operator(operator)
    name = _write_existing(
        stack_file, username, region, lambda _: UserDisabled(reason=reason, changed_by=by)
    )
    typer.echo(f"disabled {name}")


def user_enable(
    username: str,
    operator: Operator = None,
    region: ReadRegion = None,
    stack_file: StackFile = None,
) -> None:
    """Enable a disabled user again (it logs in anew; revoked sessions stay revoked)."""
    by = context.operator(operator)
    name = _write_existing(stack_file, username, region, lambda _: UserEnabled(changed_by=by))
    typer.echo(f"enabled {name}")


def user_unlock(username: str, operator: Operator = None, stack_file: StackFile = None) -> None:
    """Lift a login lockout: the username's earlier failed logins stop counting everywhere."""
    settings, topo = context.context(stack_file)
    name = context.username(username)
    event = LockoutLifted(unlocked_by=context.operator(operator))
    context.run(produce(topo, envelope_of(event, user_id_for(name), settings.region)))
    typer.echo(f"unlocked {name}")


def _write_existing(
    stack_file: Path | None,
    raw: str,
    region: str | None,
    event_of: Callable[[Settings], Payload],
) -> str:
    """Write ``event_of(settings)`` for the user named ``raw`` once ``region`` (default: the
    settings') knows it; returns the normalized name. CliError when no such user is there."""
    settings, topo = context.context(stack_file)
    name = context.username(raw)
    user_id = user_id_for(name)
    stores = context.region(topo, region or settings.region)
    account = context.read_region(stores, lambda redis, pg: Accounts(redis, pg).find(user_id))
    if account is None:
        raise CliError(f"no user {name} in region {stores.name}")
    event = event_of(settings)
    context.run(produce(topo, envelope_of(event, user_id, settings.region)))
    return name
