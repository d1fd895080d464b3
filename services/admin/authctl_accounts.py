"""authctl commands for signing keys and accounts: ``keys rotate|revoke|list`` and
``user set-password|disable|enable|unlock`` and ``ip unlock``.

Kept apart from services/admin/authctl.py (which registers them with ``register``) and
independent of it, so ``python -m services.admin.authctl`` does not import that module twice.
"""

from __future__ import annotations

import asyncio
import getpass
import ipaddress
import sys
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from schemas import topology
from schemas.broker import BrokerProfile, broker_profile
from schemas.codec import encode
from schemas.envelope import Envelope, Payload, wrap
from schemas.events import (
    IpLockoutLifted,
    LockoutLifted,
    PasswordChanged,
    SigningKeyRevoked,
    UserDisabled,
    UserEnabled,
)
from schemas.identity import InvalidUsername, ip_subject_id, normalize_username, user_id_for
from schemas.settings import SIGNING_ALGS, Settings, SettingsError, default_issuer
from services.admin.cliargs import stdin_text
from services.admin.errors import CliError
from services.core import keys
from services.core.passwords import PasswordRejected, hash_password, prepare_password
from services.core.readmodel import StoreUnavailable, make_engine, make_redis
from services.login.account import Account, Accounts
from services.login.events import topic_of
from services.login.rotation import published_event
from services.verifier.keystatus import KeyStatus, key_statuses

TIMEOUT_S = 10.0
T = TypeVar("T")

keys_app = typer.Typer(no_args_is_help=True, help="Rotate, revoke and list signing keys.")
ip_app = typer.Typer(no_args_is_help=True, help="Manage client IP lockouts.")

StackFile = Annotated[
    Path | None, typer.Option("--stack-file", help="Stack file (default: AUTHPLANE_STACK_FILE).")
]
ReadRegion = Annotated[
    str | None, typer.Option("--region", help="Region whose stores to read (default: settings).")
]
Reason = Annotated[str, typer.Option(help="Why; kept in the audit record.")]
Operator = Annotated[str | None, typer.Option(help="Who; default: your login name.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer, user_app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(ip_app, name="ip")
    user_app.command("set-password")(user_set_password)
    user_app.command("disable")(user_disable)
    user_app.command("enable")(user_enable)
    user_app.command("unlock")(user_unlock)


# -- keys --------------------------------------------------------------------------------------


@keys_app.command("rotate")
def keys_rotate(
    region: Annotated[str, typer.Option("--region", help="Region whose key to rotate.")],
    key_dir: Annotated[
        Path | None,
        typer.Option(help="The region's key directory (default: <stack dir>/keys/<region>)."),
    ] = None,
    stack_file: StackFile = None,
) -> None:
    """Publish a new signing key for a region, then install it in the region's key directory.

    The region's login endpoints sign with it within AUTHPLANE_KEY_WATCH_INTERVAL_S; the old key
    keeps verifying and is retired once its tokens have expired."""
    settings, topo = _context(stack_file)
    directory = key_dir or _key_dir(settings, stack_file, region)
    alg = _key_alg(directory, region)
    old = _checked_key(lambda: keys.load(directory, region, alg))
    new = keys.signing_key(keys.generate_private_key(alg), alg)
    # Published (acknowledged) before the file exists, so no endpoint can sign with a key the
    # log has not got.
    issuer = settings.token_issuer if settings.region == region else default_issuer(region)
    _run(_produce(topo, published_event(new, region, issuer)))
    _checked_key(lambda: keys.install(directory, region, new))
    typer.echo(f"{region}: signing key {new.kid} published and installed (replaces {old.kid})")


@keys_app.command("revoke")
def keys_revoke(
    kid: str, reason: Reason = "", operator: Operator = None, stack_file: StackFile = None
) -> None:
    """Revoke a (compromised) signing key: every token it signed is inactive everywhere."""
    settings, topo = _context(stack_file)
    known = {s.key.kid: s for s in _statuses(settings, topo, None)}
    if kid not in known:
        raise CliError(f"no published signing key {kid!r} (see `authctl keys list`)")
    event = SigningKeyRevoked(kid=kid, reason=reason, revoked_by=_operator(operator))
    _run(_produce(topo, _wrap(event, None, settings.region)))
    typer.echo(f"revoked signing key {kid} (region {known[kid].key.region})")


@keys_app.command("list")
def keys_list(
    region: ReadRegion = None, as_json: AsJson = False, stack_file: StackFile = None
) -> None:
    """Every published signing key and whether it is active, retired or revoked."""
    settings, topo = _context(stack_file)
    rows = [_key_row(s) for s in _statuses(settings, topo, region)]
    rows.sort(key=lambda r: (r["region"], r["published_at"]))
    if as_json:
        typer.echo(orjson.dumps(rows))
        return
    for r in rows:
        typer.echo(
            f"{r['kid']}  {r['region']:<6} {r['alg']:<6} {r['status']:<8} {r['published_at']}"
        )


def _key_row(s: KeyStatus) -> dict[str, Any]:
    status = "revoked" if s.revoked else "retired" if s.retired else "active"
    k = s.key
    return {
        "kid": k.kid,
        "region": k.region,
        "alg": k.alg,
        "status": status,
        "published_at": k.published_at,
    }


def _key_dir(settings: Settings, stack_file: Path | None, region: str) -> Path:
    # The dev launcher keeps each region's keys under the stack file's directory.
    launched = (stack_file or settings.stack_file).parent / "keys" / region
    return launched if launched.is_dir() else settings.key_dir


def _key_alg(directory: Path, region: str) -> str:
    for alg in SIGNING_ALGS:
        if keys.key_path(directory, region, alg).exists():
            return alg
    raise CliError(
        f"no signing key of region {region} in {directory} "
        "(start its login endpoint first, or pass --key-dir)"
    )


def _checked_key(action: Any) -> Any:
    try:
        return action()
    except keys.KeyFileError as exc:
        raise CliError(str(exc)) from None


def _statuses(settings: Settings, topo: topology.Topology, region: str | None) -> list[KeyStatus]:
    stores = _region(topo, region or settings.region)

    async def read() -> list[KeyStatus]:
        redis, engine = make_redis(stores.redis_url), make_engine(stores.postgres_dsn)
        try:
            return await key_statuses(redis, engine)
        finally:
            await redis.aclose()
            await engine.dispose()

    return _run(_stores(read(), stores.name))


# -- users -------------------------------------------------------------------------------------


def user_set_password(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    operator: Operator = None,
    region: ReadRegion = None,
    stack_file: StackFile = None,
) -> None:
    """Set a user's password; every session and token of the user issued before is revoked in
    every region."""
    settings, topo = _context(stack_file)
    name, user_id = _existing_user(settings, topo, username, region)
    password = read_password(password_stdin)
    event = PasswordChanged(
        password_hash=hash_password(settings, password), changed_by=_operator(operator)
    )
    _run(_produce(topo, _wrap(event, user_id, settings.region)))
    typer.echo(f"password of {name} changed; its earlier sessions are revoked everywhere")


def user_disable(
    username: str,
    reason: Reason = "",
    operator: Operator = None,
    region: ReadRegion = None,
    stack_file: StackFile = None,
) -> None:
    """Disable a user: no login or refresh anywhere; its sessions are revoked."""
    settings, topo = _context(stack_file)
    name, user_id = _existing_user(settings, topo, username, region)
    event = UserDisabled(reason=reason, changed_by=_operator(operator))
    _run(_produce(topo, _wrap(event, user_id, settings.region)))
    typer.echo(f"disabled {name}")


def user_enable(
    username: str,
    operator: Operator = None,
    region: ReadRegion = None,
    stack_file: StackFile = None,
) -> None:
    """Enable a disabled user again (it logs in anew; revoked sessions stay revoked)."""
    settings, topo = _context(stack_file)
    name, user_id = _existing_user(settings, topo, username, region)
    event = UserEnabled(changed_by=_operator(operator))
    _run(_produce(topo, _wrap(event, user_id, settings.region)))
    typer.echo(f"enabled {name}")


def user_unlock(username: str, operator: Operator = None, stack_file: StackFile = None) -> None:
    """Lift a login lockout: the username's earlier failed logins stop counting everywhere."""
    settings, topo = _context(stack_file)
    name = _username(username)
    event = LockoutLifted(unlocked_by=_operator(operator))
    _run(_produce(topo, _wrap(event, user_id_for(name), settings.region)))
    typer.echo(f"unlocked {name}")


@ip_app.command("unlock")
def ip_unlock(address: str, operator: Operator = None, stack_file: StackFile = None) -> None:
    """Lift a client IP's login lockout: its earlier failed logins stop counting everywhere."""
    settings, topo = _context(stack_file)
    try:
        ip = str(ipaddress.ip_address(address.strip()))  # the form the endpoint counts under
    except ValueError:
        raise CliError(f"not an IP address: {address!r}") from None
    event = IpLockoutLifted(client_ip=ip, unlocked_by=_operator(operator))
    _run(_produce(topo, _wrap(event, ip_subject_id(ip), settings.region)))
    typer.echo(f"unlocked {ip}")


def _existing_user(
    settings: Settings, topo: topology.Topology, raw: str, region: str | None
) -> tuple[str, str]:
    name = _username(raw)
    user_id = user_id_for(name)
    stores = _region(topo, region or settings.region)

    async def find() -> Account | None:
        redis, engine = make_redis(stores.redis_url), make_engine(stores.postgres_dsn)
        try:
            return await Accounts(redis, engine).find(user_id)
        finally:
            await redis.aclose()
            await engine.dispose()

    if _run(_stores(find(), stores.name)) is None:
        raise CliError(f"no user {name} in region {stores.name}")
    return name, user_id


def read_password(from_stdin: bool, prompt: str = "New password") -> str:
    """The password from stdin (``--password-stdin``; only a trailing line ending is stripped)
    or a hidden prompt, checked to be preparable per RFC 8265 §4.2 (OpaqueString). Raises
    CliError with one line (never the password) when it is empty, not UTF-8 or disallowed."""
    if not from_stdin:
        if not sys.stdin.isatty():
            raise CliError("stdin is not a terminal: pass --password-stdin to read the password")
        password = str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))
    else:
        # Strip only the line ending a pipe or heredoc adds; other whitespace is the password's.
        password = stdin_text("the password").removesuffix("\n").removesuffix("\r")
    if not password:
        raise CliError("the password is empty")
    try:
        prepare_password(password)
    except PasswordRejected as exc:
        raise CliError(f"{exc}: choose another password") from None
    return password


# -- plumbing ----------------------------------------------------------------------------------


def _context(stack_file: Path | None) -> tuple[Settings, topology.Topology]:
    try:
        settings = Settings.from_env()
        return settings, topology.load(stack_file or settings.stack_file)
    except (SettingsError, topology.TopologyError) as exc:
        raise CliError(str(exc)) from None


def _region(topo: topology.Topology, name: str) -> topology.RegionEndpoints:
    try:
        return topo.region(name)
    except topology.TopologyError as exc:
        raise CliError(str(exc)) from None


def _username(raw: str) -> str:
    try:
        return normalize_username(raw)
    except InvalidUsername as exc:
        raise CliError(f"invalid username: {exc}") from None


def _operator(name: str | None) -> str:
    if name:
        return f"operator:{name}"
    try:
        return f"operator:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "operator:unknown"


def _wrap(event: Payload, user_id: str | None, region: str) -> Envelope:
    return wrap(
        event, user_id=user_id, origin_region=region, correlation_id=f"authctl:{uuid.uuid4()}"
    )


def _run(awaitable: Awaitable[T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(awaitable, TIMEOUT_S)

    return asyncio.run(bounded())


async def _stores(awaitable: Awaitable[T], region: str) -> T:
    try:
        return await awaitable
    except (StoreUnavailable, RedisError, SQLAlchemyError, OSError, TimeoutError) as exc:
        raise CliError(f"cannot read region {region}'s stores: {type(exc).__name__}") from None


def broker_of(topo: topology.Topology) -> BrokerProfile:
    """The profile of the broker the stack file names (``tansu`` | ``kafka``); without one, the
    ``AUTHPLANE_BROKER_KIND`` setting. CliError for an unknown kind."""
    kind = topo.extra.get("broker", {}).get("kind")
    try:
        return broker_profile(str(kind)) if kind else Settings.from_env().broker
    except (ValueError, SettingsError) as exc:
        raise CliError(str(exc)) from None


def make_producer(topo: topology.Topology, bootstrap: str | None = None) -> AIOKafkaProducer:
    """An authctl producer for ``bootstrap`` (default: the stack file's) with the broker
    profile's options: ``acks=all``, idempotent where the broker supports it (Kafka)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap or topo.kafka_bootstrap,
        request_timeout_ms=int(TIMEOUT_S * 1000),
        **broker_of(topo).producer_options(),
    )


async def _produce(topo: topology.Topology, envelope: Envelope) -> None:
    producer = make_producer(topo)
    bootstrap = topo.kafka_bootstrap
    try:
        await producer.start()
        await producer.send_and_wait(
            topic_of(envelope), value=encode(envelope), key=envelope.partition_key
        )
    except (KafkaError, TimeoutError, OSError) as exc:
        raise CliError(f"cannot reach the broker at {bootstrap}: {type(exc).__name__}") from None
    finally:
        await producer.stop()
