"""authctl: the operator's CLI for users and sessions.

Every failure is one line on stderr and a non-zero exit; passwords are never echoed or logged.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from aiokafka.errors import KafkaError
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from schemas import names, topology
from schemas.codec import encode
from schemas.envelope import Envelope, wrap
from schemas.events import UserRegistered
from schemas.identity import InvalidUsername, normalize_username, user_id_for
from schemas.settings import Settings, SettingsError
from services.admin import authctl_accounts, authctl_users, revocation
from services.admin.cliargs import non_utf8_argument
from services.admin.errors import CliError
from services.core.passwords import hash_password
from services.core.readmodel import SessionRow, list_sessions, make_engine

TIMEOUT_S = 10.0

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
user_app = typer.Typer(no_args_is_help=True, help="Manage users.")
sessions_app = typer.Typer(no_args_is_help=True, help="Inspect sessions.")
app.add_typer(user_app, name="user")
app.add_typer(sessions_app, name="sessions")
revoke_app = typer.Typer(no_args_is_help=True, help="Revoke sessions, tokens or users everywhere.")
app.add_typer(revoke_app, name="revoke")
authctl_accounts.register(app, user_app)
authctl_users.register(user_app)

StackFile = Annotated[
    Path | None, typer.Option("--stack-file", help="Stack file (default: AUTHPLANE_STACK_FILE).")
]


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from None


def _topology(settings: Settings, stack_file: Path | None) -> topology.Topology:
    try:
        return topology.load(stack_file or settings.stack_file)
    except topology.TopologyError as exc:
        raise CliError(str(exc)) from None


def _username(raw: str) -> str:
    try:
        return normalize_username(raw)
    except InvalidUsername as exc:
        raise CliError(f"invalid username: {exc}") from None


@user_app.command("create")
def user_create(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
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
    settings = _settings()
    name = _username(username)
    password = authctl_accounts.read_password(password_stdin, prompt="Password")
    cluster = _topology(settings, stack_file)
    _refuse_existing(cluster, name)
    servers = bootstrap or cluster.kafka_bootstrap
    event = UserRegistered(username=name, password_hash=hash_password(settings, password))
    user_id = user_id_for(name)
    envelope = wrap(
        event,
        user_id=user_id,
        origin_region=region or settings.region,
        correlation_id=f"authctl:{uuid.uuid4()}",
    )
    asyncio.run(_produce(cluster, servers, envelope.partition_key, encode(envelope)))
    typer.echo(f"registered {name} (user id {user_id})")
    if wait:
        _wait_registered(cluster, envelope, time.monotonic(), timeout)


def _wait_registered(
    cluster: topology.Topology, envelope: Envelope, written_at: float, timeout_s: float
) -> None:
    confirmations = asyncio.run(
        authctl_users.wait_registered(cluster, envelope, written_at, timeout_s)
    )
    authctl_users.print_confirmations(confirmations)
    failed = [c for c in confirmations if not c.confirmed]
    if failed:
        names_ = "; ".join(f"{c.region} ({c.error})" for c in failed)
        raise CliError(f"not known within {timeout_s:g}s in: {names_}")
    # _refuse_existing reads before this write: another registration of the same name written
    # meanwhile (two operators at once) is ordered by the log, and the earliest one wins in every
    # region. Say so rather than leave an operator with a password that does not work.
    winners = asyncio.run(authctl_users.registration_winners(cluster, envelope.user_id))
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


async def _produce(
    topo: topology.Topology,
    bootstrap: str,
    key: bytes,
    value: bytes,
    topic: str = names.TOPIC_EVENTS,
) -> None:
    producer = authctl_accounts.make_producer(topo, bootstrap)
    try:
        await asyncio.wait_for(producer.start(), TIMEOUT_S)
        await asyncio.wait_for(producer.send_and_wait(topic, value=value, key=key), TIMEOUT_S)
    except (KafkaError, TimeoutError, OSError) as exc:
        raise CliError(f"cannot reach the broker at {bootstrap}: {type(exc).__name__}") from None
    finally:
        await producer.stop()


@sessions_app.command("list")
def sessions_list(
    username: str,
    region: Annotated[str, typer.Option(help="Region whose read model to query.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    stack_file: StackFile = None,
) -> None:
    """List a user's sessions as one region's Postgres read model knows them."""
    settings = _settings()
    user_id = user_id_for(_username(username))
    try:
        dsn = _topology(settings, stack_file).region(region).postgres_dsn
    except topology.TopologyError as exc:
        raise CliError(str(exc)) from None
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
    return {
        "session_id": row.session_id,
        "user_id": row.user_id,
        "client_id": row.client_id,
        "origin_region": row.origin_region,
        "started_at": row.started_at.isoformat(),
        "expires_at": row.expires_at.isoformat(),
        "revoked": row.revoked,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "revoke_reason": row.revoke_reason,
        "revoked_by": row.revoked_by,
        "revoke_region": row.revoke_region,
    }


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


# -- revoke ----------------------------------------------------------------------------------------
Reason = Annotated[str, typer.Option(help="Why; kept in the audit record.")]
Operator = Annotated[str | None, typer.Option(help="Who; default: your login name.")]
Wait = Annotated[bool, typer.Option("--wait", help="Watch every region until it is in effect.")]
Timeout = Annotated[float, typer.Option(min=0.1, help="Seconds --wait allows the regions.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Region = Annotated[str | None, typer.Option(help="Origin region recorded in the event.")]


@revoke_app.command("session")
def revoke_session(
    session_id: str, reason: Reason = "", operator: Operator = None, wait: Wait = False,
    timeout: Timeout = TIMEOUT_S, as_json: AsJson = False, region: Region = None,
    stack_file: StackFile = None,
) -> None:  # fmt: skip
    """Revoke a session and every token of it, in every region."""
    sid = _checked(lambda: revocation.canonical_id("session", session_id))
    _revoke("session", sid, sid, locals())


@revoke_app.command("token")
def revoke_token(
    jti: str, reason: Reason = "", operator: Operator = None, wait: Wait = False,
    timeout: Timeout = TIMEOUT_S, as_json: AsJson = False, region: Region = None,
    stack_file: StackFile = None,
) -> None:  # fmt: skip
    """Revoke one access token (by its jti), in every region."""
    token_id = _checked(lambda: revocation.canonical_id("token", jti))
    _revoke("token", token_id, token_id, locals())


@revoke_app.command("user")
def revoke_user(
    username: str, reason: Reason = "", operator: Operator = None, wait: Wait = False,
    timeout: Timeout = TIMEOUT_S, as_json: AsJson = False, region: Region = None,
    stack_file: StackFile = None,
) -> None:  # fmt: skip
    """Revoke every session and token of a user issued before now, in every region."""
    name = _username(username)
    _revoke("user", name, user_id_for(name), locals())


def _checked(build: Any) -> str:
    try:
        return str(build())
    except revocation.RevokeError as exc:
        raise CliError(str(exc)) from None


def _revoke(kind: str, lookup: str, subject: str, opts: dict[str, Any]) -> None:
    settings = _settings()
    topo = _topology(settings, opts["stack_file"])
    try:
        origin = topo.region(opts["region"]).name if opts["region"] else settings.region
    except topology.TopologyError as exc:
        raise CliError(str(exc)) from None
    revoked_by = f"operator:{opts['operator'] or _login_name()}"
    envelope, confirmations = asyncio.run(
        _revoke_async(settings, topo, kind, lookup, subject, opts, revoked_by, origin)
    )
    revocation.report(envelope, confirmations, opts["as_json"])
    failed = [c for c in confirmations or () if not c.confirmed]
    if failed:
        names_ = "; ".join(f"{c.region} ({c.error})" for c in failed)
        raise CliError(f"not in effect within {opts['timeout']:g}s in: {names_}")


async def _revoke_async(
    settings: Settings, topo: topology.Topology, kind: str, lookup: str, subject: str,
    opts: dict[str, Any], revoked_by: str, origin: str,
) -> tuple[Any, list[revocation.Confirmation] | None]:  # fmt: skip
    try:
        found = await revocation.find(topo, kind, lookup)
    except revocation.RevokeError as exc:
        raise CliError(str(exc)) from None
    envelope = revocation.revocation(
        settings, kind, subject, found, opts["reason"], revoked_by, origin
    )
    await _produce(
        topo,
        topo.kafka_bootstrap,
        envelope.partition_key,
        encode(envelope),
        names.TOPIC_REVOCATIONS,
    )
    if not opts["wait"]:
        return envelope, None
    written_at = time.monotonic()
    return envelope, await revocation.confirm_all(topo, envelope, written_at, opts["timeout"])


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


def main() -> None:
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


if __name__ == "__main__":
    main()
