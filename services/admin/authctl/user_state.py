"""authctl commands that show users as every region knows them: ``user show`` and ``user list``,
and the wait behind ``user create --wait``.

Each region is read the way its login endpoint reads it (the account from Redis, else Postgres;
the lockout windows; the sessions read model), so what is shown is what a login there would see.
A region whose stores do not answer is shown with the error instead of failing the command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import orjson
import typer
from redis.asyncio import Redis
from redis.exceptions import RedisError
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from schemas import names, tables, topology
from schemas.envelope import Envelope
from schemas.epoch import epoch_ms, from_epoch_ms
from schemas.identity import user_id_for
from schemas.redis_client import as_text
from schemas.settings import Settings
from services.admin import context, revocation
from services.admin.errors import CliError
from services.admin.options import AsJson, StackFile
from services.core.readmodel import (
    REDIS_ERRORS,
    StoreUnavailable,
    list_sessions,
    make_redis,
)
from services.login.account import Accounts
from services.login.events import EventPublisher
from services.login.lockout import Lockout

READ_TIMEOUT_S = 5.0
LIST_LIMIT = 100
_STORE_ERRORS = (StoreUnavailable, RedisError, SQLAlchemyError, OSError, TimeoutError)


@dataclass(frozen=True)
class RegionUser:
    """One user as one region knows it. ``error`` is set (and the rest meaningless) when the
    region's stores did not answer. ``locked_until`` is when the login lockout ends (UTC)."""

    region: str
    registered: bool = False
    disabled: bool = False
    locked_until: datetime | None = None
    sessions: int = 0
    active_sessions: int = 0
    error: str = ""


def register(user_app: typer.Typer) -> None:
    user_app.command("show")(user_show)
    user_app.command("list")(user_list)


def user_show(username: str, as_json: AsJson = False, stack_file: StackFile = None) -> None:
    """A user's state in every region: registered, disabled, locked out, sessions."""
    settings, topo = context.context(stack_file)
    name = context.username(username)
    states = asyncio.run(user_states(settings, topo, user_id_for(name)))
    _print({name: states}, as_json)
    if not any(s.registered for s in states):
        unread = context.unread_suffix(s.region for s in states if s.error)
        raise CliError(f"no user {name} in any region{unread}")


def user_list(
    limit: Annotated[int, typer.Option(min=1, help="At most this many users.")] = LIST_LIMIT,
    as_json: AsJson = False,
    stack_file: StackFile = None,
) -> None:
    """Users registered in any region (by name), each with its state in every region."""
    settings, topo = context.context(stack_file)
    usernames = asyncio.run(_usernames(topo, limit))
    states = asyncio.run(_all_states(settings, topo, usernames))
    _print(states, as_json)


async def user_states(
    settings: Settings, topo: topology.Topology, user_id: str
) -> list[RegionUser]:
    """The user in each region of ``topo``, sorted by region; never raises for a store error."""
    return list(
        await asyncio.gather(
            *(_region_user(settings, topo.region(r), user_id) for r in sorted(topo.regions))
        )
    )


async def _all_states(
    settings: Settings, topo: topology.Topology, usernames: list[str]
) -> dict[str, list[RegionUser]]:
    return {name: await user_states(settings, topo, user_id_for(name)) for name in usernames}


async def _region_user(
    settings: Settings, stores: topology.RegionEndpoints, user_id: str
) -> RegionUser:
    try:
        async with context.clients(stores) as (redis, engine):
            return await asyncio.wait_for(
                _read_user(settings, stores.name, redis, engine, user_id), READ_TIMEOUT_S
            )
    except _STORE_ERRORS as exc:
        return RegionUser(stores.name, error=f"stores unreachable: {type(exc).__name__}")


async def _read_user(
    settings: Settings, region: str, redis: Redis, engine: Any, user_id: str
) -> RegionUser:
    account = await Accounts(redis, engine).find(user_id)
    # Read-only use: the lockout windows and policy never publish, so no producer is built.
    lockout = Lockout(redis, engine, settings, cast(EventPublisher, None))
    now = datetime.now(UTC)
    now_ms = epoch_ms(now)
    window, _ = await lockout.windows(user_id, "", now_ms)
    policy = lockout.policy
    until_ms = policy.locked_until_ms(window.count, window.latest_ms, policy.max_failures)
    sessions = await list_sessions(engine, user_id)
    return RegionUser(
        region,
        registered=account is not None,
        disabled=account is not None and account.disabled,
        locked_until=from_epoch_ms(until_ms) if until_ms > now_ms else None,
        sessions=len(sessions),
        active_sessions=sum(1 for s in sessions if not s.revoked and s.expires_at > now),
    )


async def _usernames(topo: topology.Topology, limit: int) -> list[str]:
    """The first ``limit`` usernames (sorted) registered in any region that answers."""
    query = select(tables.users.c.username).order_by(tables.users.c.username).limit(limit)
    found = await context.values_in_any_region(topo, query, READ_TIMEOUT_S)
    return sorted(found)[:limit]


# -- user create --wait ---------------------------------------------------------------------


def registered_rule(redis: Redis, envelope: Envelope) -> Callable[[], Awaitable[bool]]:
    """In effect when the region's Redis has the user: what its login endpoint reads first."""
    key = names.redis_user_key(envelope.user_id)

    async def known() -> bool:
        return bool(await redis.exists(key))

    return known


async def registration_winners(topo: topology.Topology, user_id: str) -> dict[str, str]:
    """Per region, the id of the user.registered event its Redis keeps for ``user_id`` (the
    earliest registration wins everywhere), or "" where the region does not answer or holds none.
    """

    async def one(region: str) -> tuple[str, str]:
        redis = make_redis(topo.region(region).redis_url)
        try:
            kept = await redis.hget(names.redis_user_key(user_id), names.USER_REGISTRATION_FIELD)
        except REDIS_ERRORS:
            return region, ""
        finally:
            await redis.aclose()
        return region, as_text(kept)

    return dict(await asyncio.gather(*(one(r) for r in sorted(topo.regions))))


async def wait_registered(
    topo: topology.Topology, envelope: Envelope, written_at: float, timeout_s: float
) -> list[revocation.Confirmation]:
    """Poll every region until it knows the user of ``envelope`` (a user.registered)."""
    return await revocation.confirm_all(topo, envelope, written_at, timeout_s, registered_rule)


def print_confirmations(confirmations: list[revocation.Confirmation]) -> None:
    revocation.console().print(revocation.confirmation_table(confirmations))


# -- output and plumbing --------------------------------------------------------------------


def _region_doc(r: RegionUser) -> dict[str, Any]:
    """A region's JSON entry; a region that did not answer says only that (``registered``
    null: unknown, not "no")."""
    if r.error:
        return {"region": r.region, "registered": None, "error": r.error}
    return asdict(r)


def _print(states: dict[str, list[RegionUser]], as_json: bool) -> None:
    if as_json:
        doc = [
            {
                "username": name,
                "user_id": user_id_for(name),
                "regions": [_region_doc(r) for r in rs],
            }
            for name, rs in states.items()
        ]
        typer.echo(orjson.dumps(doc, option=orjson.OPT_UTC_Z))
        return
    table = Table("user", "region", "registered", "disabled", "locked", "sessions (active)")
    for name, regions in states.items():
        for r in regions:
            table.add_row(name, r.region, *_cells(r))
    revocation.console().print(table if states else "no users")


def _cells(r: RegionUser) -> tuple[str, ...]:
    if r.error:
        return ("?", "?", "?", r.error)
    locked = "no" if r.locked_until is None else f"until {r.locked_until:%Y-%m-%dT%H:%M:%SZ}"
    return (
        "yes" if r.registered else "no",
        "yes" if r.disabled else "no",
        locked,
        f"{r.sessions} ({r.active_sessions})",
    )
