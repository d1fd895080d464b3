"""authctl commands that show OAuth clients as every region knows them (``client show|list``),
and the wait behind ``client ... --wait`` (issue 12).

Each region is read the way its token endpoint reads it (``services.core.clients``: Redis, else
Postgres); a region whose stores do not answer is shown with the error instead of failing the
command. Secret hashes are never printed, only whether the client has a secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

import orjson
import typer
from redis.asyncio import Redis
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from schemas import names, tables, topology
from schemas.client_events import update_order
from schemas.envelope import Envelope
from schemas.redis_client import as_text
from services.admin import context, revocation
from services.admin.errors import CliError
from services.admin.options import AsJson, StackFile
from services.core.clients import ClientRecord, ClientRegistry
from services.core.readmodel import REDIS_ERRORS, StoreUnavailable, make_redis

READ_TIMEOUT_S = 5.0
LIST_LIMIT = 100
_STORE_ERRORS = (StoreUnavailable, RedisError, SQLAlchemyError, OSError, TimeoutError)


@dataclass(frozen=True)
class RegionClient:
    """One client as one region knows it: ``client`` None when unknown there; ``error`` set
    (and ``client`` meaningless) when the region's stores did not answer."""

    region: str
    client: ClientRecord | None = None
    error: str = ""


def client_show(client_id: str, as_json: AsJson = False, stack_file: StackFile = None) -> None:
    """A client's configuration and state in every region (never its secret)."""
    _, topo = context.context(stack_file)
    states = asyncio.run(client_states(topo, client_id))
    print_clients({client_id: states}, as_json)
    if not any(s.client for s in states):
        unread = context.unread_suffix(s.region for s in states if s.error)
        raise CliError(f"no client {client_id} in any region{unread}")


def client_list(
    limit: Annotated[int, typer.Option(min=1, help="At most this many clients.")] = LIST_LIMIT,
    as_json: AsJson = False,
    stack_file: StackFile = None,
) -> None:
    """Clients registered in any region (by id), each with its state in every region."""
    _, topo = context.context(stack_file)
    print_clients(asyncio.run(_listed(topo, limit)), as_json)


async def _listed(topo: topology.Topology, limit: int) -> dict[str, list[RegionClient]]:
    ids = await _client_ids(topo, limit)
    regions = sorted(topo.regions)
    per_region = await asyncio.gather(*(region_clients(topo.region(r), ids) for r in regions))
    return {cid: [found[cid] for found in per_region] for cid in ids}


async def client_states(topo: topology.Topology, client_id: str) -> list[RegionClient]:
    """The client in each region of ``topo``, sorted by region; never raises for a store error."""
    regions = sorted(topo.regions)
    return list(await asyncio.gather(*(region_client(topo.region(r), client_id) for r in regions)))


async def region_client(stores: topology.RegionEndpoints, client_id: str) -> RegionClient:
    """The client as ``stores``' region reads it, or the error that kept it from answering."""
    return (await region_clients(stores, [client_id]))[client_id]


async def region_clients(
    stores: topology.RegionEndpoints, client_ids: list[str]
) -> dict[str, RegionClient]:
    """Each of ``client_ids`` as ``stores``' region reads it (one connection to its stores for
    all of them), or the error that kept the region from answering."""
    try:
        async with context.clients(stores) as (redis, engine):
            registry = ClientRegistry(redis, engine)
            found: dict[str, RegionClient] = {}
            for client_id in client_ids:
                record = await asyncio.wait_for(registry.get(client_id), READ_TIMEOUT_S)
                found[client_id] = RegionClient(stores.name, record)
            return found
    except _STORE_ERRORS as exc:
        failed = RegionClient(stores.name, error=f"stores unreachable: {type(exc).__name__}")
        return dict.fromkeys(client_ids, failed)


async def _client_ids(topo: topology.Topology, limit: int) -> list[str]:
    """The first ``limit`` client ids (sorted) registered in any region that answers."""
    t = tables.oauth_clients
    query = (
        select(t.c.client_id)
        .where(t.c.registration_event_id.is_not(None))
        .order_by(t.c.client_id)
        .limit(limit)
    )
    found = await context.values_in_any_region(topo, query, READ_TIMEOUT_S)
    return sorted(found)[:limit]


# -- --wait ----------------------------------------------------------------------------------
_GROUP_OF = {
    "client.updated": "config_order",
    "client.secret_rotated": "secret_order",
}


def applied_rule(redis: Redis, envelope: Envelope) -> Callable[[], Awaitable[bool]]:
    """In effect once the region's Redis holds this event's result or a later one in the
    event's group (a registration: any registration of the client)."""
    key = names.redis_client_key(envelope.payload.client_id)
    if envelope.type == "client.registered":
        field, least = "registration_event_id", ""
    elif envelope.type in _GROUP_OF:
        field, least = _GROUP_OF[envelope.type], update_order(envelope.event_id)
    else:  # client.disabled / client.enabled
        field, least = "state_event_id", envelope.event_id

    async def applied() -> bool:
        held = as_text(await cast(Awaitable[Any], redis.hget(key, field)))
        return bool(held) and held >= least

    return applied


async def registration_winners(topo: topology.Topology, client_id: str) -> dict[str, str]:
    """Per region, the id of the client.registered its Redis keeps (the earliest wins), or ""
    where the region does not answer or holds none."""

    async def one(region: str) -> tuple[str, str]:
        redis = make_redis(topo.region(region).redis_url)
        try:
            kept = await redis.hget(names.redis_client_key(client_id), "registration_event_id")
        except REDIS_ERRORS:
            return region, ""
        finally:
            await redis.aclose()
        return region, as_text(kept)

    return dict(await asyncio.gather(*(one(r) for r in sorted(topo.regions))))


def wait_applied(
    topo: topology.Topology,
    envelope: Envelope,
    written_at: float,
    timeout_s: float,
    as_json: bool = False,
) -> None:
    """Poll every region until ``envelope`` is in effect there; prints the confirmations (to
    stderr with ``as_json``, so stdout stays one JSON document a script can read).
    CliError naming the regions that did not apply it within ``timeout_s``."""
    confirmations = asyncio.run(
        revocation.confirm_all(topo, envelope, written_at, timeout_s, applied_rule)
    )
    out = Console(stderr=True) if as_json else revocation.console()
    out.print(revocation.confirmation_table(confirmations))
    missing = revocation.unconfirmed(confirmations)
    if missing:
        raise CliError(f"not applied within {timeout_s:g}s in: {missing}")


# -- output ----------------------------------------------------------------------------------
def client_doc(client: ClientRecord) -> dict[str, Any]:
    """A client as JSON-ready data: sets sorted, the secret reduced to whether there is one."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "client_type": client.client_type,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": sorted(client.grant_types),
        "scopes": sorted(client.scopes),
        "default_scopes": list(client.default_scopes),
        "audiences": sorted(client.audiences),
        "default_audience": client.default_audience,
        "can_introspect": client.can_introspect,
        "has_secret": bool(client.secret_hash),
        "jwks_keys": len(client.jwks.get("keys", []) or []),
        "disabled": client.disabled,
    }


def print_clients(states: dict[str, list[RegionClient]], as_json: bool) -> None:
    if as_json:
        doc = [
            {"client_id": cid, "regions": [_region_doc(r) for r in regions]}
            for cid, regions in states.items()
        ]
        typer.echo(orjson.dumps(doc))
        return
    table = Table("client", "region", "registered", "disabled", "type / auth", "grants", "scopes",
                  "audiences", "introspect")  # fmt: skip
    for cid, regions in states.items():
        for r in regions:
            table.add_row(cid, r.region, *_cells(r))
    revocation.console().print(table if states else "no clients")


def _region_doc(r: RegionClient) -> dict[str, Any]:
    if r.error:  # unknown, not "no"
        return {"region": r.region, "registered": None, "error": r.error}
    doc: dict[str, Any] = {"region": r.region, "registered": r.client is not None}
    if r.client is not None:
        doc.update(client_doc(r.client))
    return doc


def _cells(r: RegionClient) -> tuple[str, ...]:
    if r.error:
        return ("?", "?", r.error, "", "", "", "")
    c = r.client
    if c is None:
        return ("no", "", "", "", "", "", "")
    audiences = " ".join(sorted(c.audiences))
    if c.default_audience:
        audiences += f" (default {c.default_audience})"
    scopes = " ".join(sorted(c.scopes))
    if c.default_scopes:
        scopes += f" (default {' '.join(sorted(c.default_scopes))})"
    return (
        "yes",
        "yes" if c.disabled else "no",
        f"{c.client_type} / {c.token_endpoint_auth_method}",
        " ".join(sorted(c.grant_types)),
        scopes,
        audiences,
        "yes" if c.can_introspect else "no",
    )
