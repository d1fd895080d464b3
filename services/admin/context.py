"""What authctl commands read before they act, one place each: the settings, the stack file's
topology, a region of it, a username, the operator's name and a password.

Every failure is a CliError with one line for the operator (never the password).
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import typer
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import Select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import topology
from schemas.identity import InvalidUsername, normalize_username
from schemas.settings import Settings, SettingsError
from services.admin.cliargs import stdin_text
from services.admin.errors import CliError
from services.admin.options import TIMEOUT_S
from services.core.passwords import PasswordRejected, prepare_password
from services.core.readmodel import StoreUnavailable, make_engine, make_redis

T = TypeVar("T")


def settings() -> Settings:
    """The settings from the environment; CliError when one is invalid."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from None


def topology_of(current: Settings, stack_file: Path | None) -> topology.Topology:
    """The stack file's topology (default: the settings' file); CliError when unreadable."""
    try:
        return topology.load(stack_file or current.stack_file)
    except topology.TopologyError as exc:
        raise CliError(str(exc)) from None


def context(stack_file: Path | None) -> tuple[Settings, topology.Topology]:
    """The settings and the stack file's topology, in that order of checking."""
    current = settings()
    return current, topology_of(current, stack_file)


def region(topo: topology.Topology, name: str) -> topology.RegionEndpoints:
    """One region of ``topo``; CliError naming the known ones when it has no ``name``."""
    try:
        return topo.region(name)
    except topology.TopologyError as exc:
        raise CliError(str(exc)) from None


def username(raw: str) -> str:
    """``raw`` normalized as the login endpoint does; CliError when it is not a username."""
    try:
        return normalize_username(raw)
    except InvalidUsername as exc:
        raise CliError(f"invalid username: {exc}") from None


def operator(name: str | None) -> str:
    """The audit actor: ``operator:<name>``, by default the login name (else ``unknown``)."""
    if name:
        return f"operator:{name}"
    try:
        return f"operator:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "operator:unknown"


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


def run(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to completion within TIMEOUT_S (TimeoutError after)."""

    async def bounded() -> T:
        return await asyncio.wait_for(awaitable, TIMEOUT_S)

    return asyncio.run(bounded())


async def stores(awaitable: Awaitable[T], region_name: str) -> T:
    """``awaitable``'s result; CliError naming the region when its Redis or Postgres fails."""
    try:
        return await awaitable
    except (StoreUnavailable, RedisError, SQLAlchemyError, OSError, TimeoutError) as exc:
        raise CliError(f"cannot read region {region_name}'s stores: {type(exc).__name__}") from None


@asynccontextmanager
async def clients(endpoints: topology.RegionEndpoints) -> AsyncIterator[tuple[Redis, AsyncEngine]]:
    """A Redis client and a Postgres engine for one region, closed on leaving."""
    redis, engine = make_redis(endpoints.redis_url), make_engine(endpoints.postgres_dsn)
    try:
        yield redis, engine
    finally:
        await redis.aclose()
        await engine.dispose()


def read_region(
    endpoints: topology.RegionEndpoints, use: Callable[[Redis, AsyncEngine], Awaitable[T]]
) -> T:
    """``use(redis, engine)`` on one region's stores within TIMEOUT_S; CliError naming the
    region when its stores fail."""

    async def read() -> T:
        async with clients(endpoints) as (redis, engine):
            return await use(redis, engine)

    return run(stores(read(), endpoints.name))


async def values_in_any_region(
    topo: topology.Topology, query: Select[tuple[str]], timeout_s: float
) -> set[str]:
    """The union of ``query``'s single column over every region whose Postgres answers within
    ``timeout_s`` (each); CliError when none does."""
    found: set[str] = set()
    answered = 0
    for name in sorted(topo.regions):
        engine = make_engine(topo.region(name).postgres_dsn)
        try:
            async with engine.connect() as conn:
                found.update(await asyncio.wait_for(conn.scalars(query), timeout_s))
            answered += 1
        except (SQLAlchemyError, OSError, TimeoutError):
            pass
        finally:
            await engine.dispose()
    if not answered:
        raise CliError("no region's Postgres answered")
    return found


def unread_suffix(unread: Iterable[str]) -> str:
    """``" that answered (not read: ap, us)"`` when some regions' stores could not be read,
    else "": appended to a "not found in any region" error, which is then only as sure as the
    regions that answered."""
    regions = sorted(unread)
    return f" that answered (not read: {', '.join(regions)})" if regions else ""
