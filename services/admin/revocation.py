"""What ``authctl revoke`` does besides talking to the operator: find the revoked subject in the
regions' read models, build the one revocation event, and watch each region's Redis until the
revocation is in effect there (the same rule the token checks apply)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, tables
from schemas.envelope import Envelope, Payload, new_event_id, utc_now, wrap
from schemas.epoch import epoch_ms, from_epoch_ms
from schemas.events import SessionRevoked, TokenRevoked, UserRevoked
from schemas.redis_client import as_text
from schemas.settings import Settings
from schemas.topology import Topology
from services.admin.publish import correlation_id
from services.core.readmodel import POSTGRES_ERRORS, REDIS_ERRORS, make_engine, make_redis

KINDS = ("session", "token", "user")
POLL_S = 0.005
LOOKUP_TIMEOUT_S = 5.0


class RevokeError(Exception):
    """Nothing to revoke, or no region could be asked; the message is one line for the operator."""


@dataclass(frozen=True)
class Found:
    """The subject as a region's read model knows it."""

    user_id: str
    session_id: str = ""
    started_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Confirmation:
    region: str
    confirmed: bool
    ms: float | None
    error: str = ""


def canonical_id(kind: str, raw: str) -> str:
    """Session ids and jtis are UUIDs: anything else is a typo, rejected before any lookup."""
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        raise RevokeError(f"malformed {_noun(kind)} {raw!r}: expected a UUID") from None


def _noun(kind: str) -> str:
    return {"session": "session id", "token": "token id (jti)", "user": "username"}[kind]


# -- finding the subject -----------------------------------------------------------------------
async def find(topology: Topology, kind: str, subject: str) -> Found:
    """Ask every region's Postgres at once; any region that knows the subject is enough."""
    names_ = sorted(topology.regions)
    answers = await asyncio.gather(
        *(_find_in(topology.region(r).postgres_dsn, kind, subject) for r in names_)
    )
    unreachable = [f"{r}: {a}" for r, a in zip(names_, answers, strict=True) if isinstance(a, str)]
    for answer in answers:
        if isinstance(answer, Found):
            return answer
    if len(unreachable) == len(names_):
        raise RevokeError(f"cannot look up {kind} {subject}: no region's Postgres answered "
                          f"({'; '.join(unreachable)})")  # fmt: skip
    also = f" (not reachable: {'; '.join(unreachable)})" if unreachable else ""
    raise RevokeError(f"nothing matched: no {kind} {subject} in any region{also}")


async def _find_in(dsn: str, kind: str, subject: str) -> Found | str | None:
    """The subject, None if this region does not know it, or why the region could not answer."""
    engine = make_engine(dsn)
    try:
        return await asyncio.wait_for(_query(engine, kind, subject), LOOKUP_TIMEOUT_S)
    except POSTGRES_ERRORS as exc:
        return type(exc).__name__
    finally:
        await engine.dispose()


async def _query(engine: AsyncEngine, kind: str, subject: str) -> Found | None:
    s, u = tables.sessions, tables.users
    if kind == "user":
        query = select(u.c.user_id).where(u.c.username == subject)
    else:
        column = s.c.session_id if kind == "session" else s.c.access_jti
        query = select(s.c.user_id, s.c.session_id, s.c.started_at, s.c.expires_at)
        query = query.where(column == subject).order_by(s.c.start_event_id).limit(1)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else Found(*row)


# -- the event ---------------------------------------------------------------------------------
def revocation(
    settings: Settings, kind: str, subject: str, found: Found, reason: str, revoked_by: str,
    origin_region: str,
) -> Envelope:  # fmt: skip
    # Whole milliseconds: the Redis entry holds not_before in ms, and --wait compares with it.
    now = from_epoch_ms(epoch_ms(utc_now()))
    payload: Payload
    if kind == "session":
        until = found.expires_at or now + timedelta(seconds=settings.session_ttl_s)
        payload = SessionRevoked(subject, reason, revoked_by, until)
    elif kind == "token":
        # Only a session's first access token is on record; it expires one access TTL after start.
        started = found.started_at or now
        until = started + timedelta(seconds=settings.access_token_ttl_s)
        payload = TokenRevoked(subject, found.session_id, reason, revoked_by, until)
    else:
        until = now + timedelta(seconds=settings.session_ttl_s)
        payload = UserRevoked(now, reason, revoked_by, until)
    return wrap(
        payload,
        user_id=found.user_id,
        origin_region=origin_region,
        correlation_id=correlation_id(),
        occurred_at=now,
        event_id=new_event_id(epoch_ms(now)),
    )


# -- waiting until every region has it in effect ------------------------------------------------
Rule = Callable[[Redis, Envelope], Callable[[], Awaitable[bool]]]


async def confirm_all(
    topology: Topology,
    envelope: Envelope,
    written_at: float,
    timeout_s: float,
    rule: Rule | None = None,
) -> list[Confirmation]:
    """Poll each region's Redis until ``envelope`` is in effect there (``rule``; by default the
    revocation check rule, ``in_effect``), or the timeout passes."""
    deadline = written_at + timeout_s
    regions = sorted(topology.regions)
    check = rule or in_effect
    return list(
        await asyncio.gather(
            *(
                _confirm(r, topology.region(r).redis_url, envelope, written_at, deadline, check)
                for r in regions
            )
        )
    )


async def _confirm(
    region: str, url: str, envelope: Envelope, written_at: float, deadline: float, rule: Rule
) -> Confirmation:
    redis = make_redis(url)
    check = rule(redis, envelope)
    error = ""
    try:
        while True:
            try:
                if await check():
                    return Confirmation(region, True, (time.monotonic() - written_at) * 1000)
                error = ""
            except REDIS_ERRORS as exc:
                error = f"redis unreachable: {type(exc).__name__}"
            if time.monotonic() >= deadline:
                return Confirmation(region, False, None, error or "not applied yet")
            await asyncio.sleep(POLL_S)
    finally:
        await redis.aclose()


def in_effect(redis: Redis, envelope: Envelope) -> Callable[[], Awaitable[bool]]:
    """The contract's check rule, for the one revocation just written."""
    payload = envelope.payload

    async def exists(key: str) -> bool:
        return bool(await redis.exists(key))

    if isinstance(payload, SessionRevoked):
        return lambda: exists(names.redis_revoked_session_key(payload.session_id))
    if isinstance(payload, TokenRevoked):
        return lambda: exists(names.redis_revoked_token_key(payload.jti))
    key = names.redis_user_not_before_key(envelope.user_id)

    async def revocation_applied() -> bool:
        # Sessions are compared with the greatest revocation id (services.verifier.rule): in
        # effect once the region holds this id or a greater one.
        field = names.USER_REVOCATION_LATEST_FIELD
        raw: Any = await cast(Awaitable[Any], redis.hget(key, field))
        latest = as_text(raw)
        return bool(latest) and latest >= envelope.event_id

    return revocation_applied


def unconfirmed(confirmations: list[Confirmation]) -> str:
    """``region (why); ...`` for each region that did not confirm, or "" when all did."""
    return "; ".join(f"{c.region} ({c.error})" for c in confirmations if not c.confirmed)


# -- what the operator sees ----------------------------------------------------------------------
def report(envelope: Envelope, confirmations: list[Confirmation] | None, as_json: bool) -> None:
    if as_json:
        print(orjson.dumps(_summary(envelope, confirmations), option=orjson.OPT_UTC_Z).decode())
        return
    payload = envelope.payload
    out = console()
    out.print(
        f"revoked {_what(envelope)} (event {envelope.event_id}; credentials it affects expire by "
        f"{payload.affects_until.isoformat(timespec='seconds')})",
        highlight=False,
        soft_wrap=True,
    )
    if confirmations is not None:
        out.print(confirmation_table(confirmations))


def confirmation_table(confirmations: list[Confirmation]) -> Table:
    """One row per region: confirmed or not, how soon after the write, and why not."""
    table = Table("region", "confirmed", "ms after the event was written", "detail")
    for c in confirmations:
        ms = "-" if c.ms is None else f"{c.ms:.1f}"
        table.add_row(c.region, "yes" if c.confirmed else "NO", ms, c.error)
    return table


def console() -> Console:
    # Piped output keeps whole cells (ids, times) instead of squeezing them to 80 columns.
    return Console() if sys.stdout.isatty() else Console(width=200)


def _what(envelope: Envelope) -> str:
    payload = envelope.payload
    if isinstance(payload, SessionRevoked):
        return f"session {payload.session_id} of user {envelope.user_id}"
    if isinstance(payload, TokenRevoked):
        return f"token {payload.jti} of user {envelope.user_id}"
    before = payload.not_before.isoformat(timespec="milliseconds")
    return f"every session and token of user {envelope.user_id} issued before {before}"


def _summary(envelope: Envelope, confirmations: list[Confirmation] | None) -> dict[str, Any]:
    payload = envelope.payload
    doc: dict[str, Any] = {
        "kind": envelope.type.split(".")[0],
        "event_id": envelope.event_id,
        "user_id": envelope.user_id,
        "origin_region": envelope.origin_region,
        "revoked_at": envelope.occurred_at,
        "revoked_by": payload.revoked_by,
        "reason": payload.reason,
        "affects_until": payload.affects_until,
        "session_id": getattr(payload, "session_id", None),
        "jti": getattr(payload, "jti", None),
        "not_before": getattr(payload, "not_before", None),
    }
    if confirmations is not None:
        doc["regions"] = [
            {
                "region": c.region,
                "confirmed": c.confirmed,
                "ms": None if c.ms is None else round(c.ms, 1),
                "error": c.error or None,
            }
            for c in confirmations
        ]
    return doc
