"""``authctl revoke session|token|user``: one revocation event, written once, in effect in every
region (``--wait`` watches each region until it is). The finding, the event and the watching are
in ``services.admin.revocation``; this module is the operator's side of it."""

# No `from __future__ import annotations` here: typer reads the annotations of the commands
# `_revoke_command` builds, and a postponed annotation could not see the closure's `argument`.
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from schemas import topology
from schemas.envelope import Envelope
from schemas.identity import user_id_for
from schemas.settings import Settings
from services.admin import context, revocation
from services.admin.errors import CliError
from services.admin.options import (
    TIMEOUT_S,
    AsJson,
    Operator,
    OriginRegion,
    Reason,
    StackFile,
    Timeout,
    Wait,
)
from services.admin.publish import produce

app = typer.Typer(no_args_is_help=True, help="Revoke sessions, tokens or users everywhere.")


@dataclass(frozen=True)
class RevokeOptions:
    """What every revoke command takes besides its subject.

    ``timeout_s`` bounds ``--wait`` (seconds); ``region`` is the origin region recorded in the
    event (default: the settings'); ``operator`` the audit actor (default: the login name)."""

    reason: str = ""
    operator: str | None = None
    wait: bool = False
    timeout_s: float = TIMEOUT_S
    as_json: bool = False
    region: str | None = None
    stack_file: Path | None = None


@dataclass(frozen=True)
class RevokeSubject:
    """What is revoked: ``lookup`` is what the read models are searched by (a session id, a
    jti or a username), ``subject`` what the event names (the same id, or the user id)."""

    kind: str
    lookup: str
    subject: str


def _revoke_command(
    kind: str, argument: str, subject_of: Callable[[str], RevokeSubject], summary: str
) -> Callable[..., None]:
    """The typer command ``authctl revoke <kind> <ARGUMENT>`` with the shared options."""

    def command(
        subject: Annotated[str, typer.Argument(metavar=argument, show_default=False)],
        reason: Reason = "",
        operator: Operator = None,
        wait: Wait = False,
        timeout: Timeout = TIMEOUT_S,
        as_json: AsJson = False,
        region: OriginRegion = None,
        stack_file: StackFile = None,
    ) -> None:
        revoked = subject_of(subject)
        revoke(revoked, RevokeOptions(reason, operator, wait, timeout, as_json, region, stack_file))

    command.__doc__ = summary
    command.__name__ = f"revoke_{kind}"
    return command


def _uuid_subject(kind: str) -> Callable[[str], RevokeSubject]:
    def subject_of(raw: str) -> RevokeSubject:
        try:
            canonical = revocation.canonical_id(kind, raw)
        except revocation.RevokeError as exc:
            raise CliError(str(exc)) from None
        return RevokeSubject(kind, canonical, canonical)

    return subject_of


def _user_subject(raw: str) -> RevokeSubject:
    name = context.username(raw)
    return RevokeSubject("user", name, user_id_for(name))


revoke_session = _revoke_command(
    "session",
    "session_id",
    _uuid_subject("session"),
    "Revoke a session and every token of it, in every region.",
)
revoke_token = _revoke_command(
    "token", "jti", _uuid_subject("token"), "Revoke one access token (by its jti), in every region."
)
revoke_user = _revoke_command(
    "user",
    "username",
    _user_subject,
    "Revoke every session and token of a user issued before now, in every region.",
)
app.command("session")(revoke_session)
app.command("token")(revoke_token)
app.command("user")(revoke_user)


def revoke(revoked: RevokeSubject, options: RevokeOptions) -> None:
    """Write the revocation of ``revoked`` and report it (with ``--wait``, once every region has
    it in effect). CliError when the subject is unknown, the broker or stores fail, or a region
    does not confirm within ``options.timeout_s``."""
    settings, topo = context.context(options.stack_file)
    origin = context.region(topo, options.region).name if options.region else settings.region
    revoked_by = context.operator(options.operator)
    envelope, confirmations = asyncio.run(
        _write(settings, topo, revoked, options, revoked_by, origin)
    )
    revocation.report(envelope, confirmations, options.as_json)
    missing = revocation.unconfirmed(confirmations or [])
    if missing:
        raise CliError(f"not in effect within {options.timeout_s:g}s in: {missing}")


async def _write(
    settings: Settings,
    topo: topology.Topology,
    revoked: RevokeSubject,
    options: RevokeOptions,
    revoked_by: str,
    origin: str,
) -> tuple[Envelope, list[revocation.Confirmation] | None]:
    try:
        found = await revocation.find(topo, revoked.kind, revoked.lookup)
    except revocation.RevokeError as exc:
        raise CliError(str(exc)) from None
    envelope = revocation.revocation(
        settings, revoked.kind, revoked.subject, found, options.reason, revoked_by, origin
    )
    await produce(topo, envelope)
    if not options.wait:
        return envelope, None
    written_at = time.monotonic()
    return envelope, await revocation.confirm_all(topo, envelope, written_at, options.timeout_s)
