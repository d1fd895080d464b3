"""``authctl client create|update|disable|enable|rotate-secret`` (issue 12): the commands that
write a client's events (``client show|list`` are in ``client_state``).

A client secret is generated here (``schemas.client_secrets``: 256 random bits), printed once,
and only its hash goes on the log; nothing can print it again (``rotate-secret`` makes a new
one). Each command reads the region first (``--region``, default: the settings') and refuses what
would be ignored or meaningless there: creating a client that exists, changing one that does not.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from schemas import names, topology
from schemas.client_events import (
    AUTH_CLIENT_SECRET_BASIC,
    AUTH_NONE,
    ClientDisabled,
    ClientEnabled,
    ClientSecretRotated,
)
from schemas.client_secrets import hash_client_secret, new_client_secret
from schemas.envelope import Envelope, Payload
from services.admin import context
from services.admin.authctl import client_state
from services.admin.errors import CliError
from services.admin.options import TIMEOUT_S, AsJson, ReadRegion, StackFile, Timeout, Wait
from services.admin.publish import envelope_of, produce
from services.core.client_config import (
    ClientSpec,
    InvalidClient,
    normalized,
    registered_event,
    spec_of,
    updated_event,
)
from services.core.clients import ClientRecord


def _many(flag: str, help_text: str) -> Any:
    return typer.Option(flag, help=help_text + " Repeat it, or separate values by spaces.")


Grants = Annotated[list[str] | None, _many("--grant", "Allowed grant type.")]
Scopes = Annotated[list[str] | None, _many("--scope", "Allowed scope.")]
DefaultScopes = Annotated[
    list[str] | None, _many("--default-scope", "Scope granted when none is asked for.")
]
Audiences = Annotated[list[str] | None, _many("--audience", "Allowed audience (RFC 8707).")]
DefaultAudience = Annotated[
    str | None, typer.Option(help="Audience of tokens when no resource is asked for.")
]
AuthMethod = Annotated[
    str | None,
    typer.Option(help="client_secret_basic | client_secret_post | private_key_jwt | none."),
]
Jwks = Annotated[
    Path | None, typer.Option("--jwks", help="JWK Set file (RFC 7517) for private_key_jwt.")
]
Introspect = Annotated[
    bool | None, typer.Option("--introspect/--no-introspect", help="May call introspection.")
]
ClientType = Annotated[str, typer.Option("--type", help="confidential | public.")]
Reason = Annotated[str, typer.Option(help="Why; kept in the event.")]


def client_create(
    name: str,
    client_type: ClientType = "confidential",
    grant: Grants = None,
    scope: Scopes = None,
    default_scope: DefaultScopes = None,
    audience: Audiences = None,
    default_audience: DefaultAudience = None,
    auth_method: AuthMethod = None,
    jwks: Jwks = None,
    introspect: Introspect = None,
    as_json: AsJson = False,
    region: ReadRegion = None,
    stack_file: StackFile = None,
    wait: Wait = False,
    timeout: Timeout = TIMEOUT_S,
) -> None:
    """Register a client (its id is NAME) and print its secret once, if it has one."""
    settings, topo = context.context(stack_file)
    method = auth_method or (AUTH_NONE if client_type == "public" else AUTH_CLIENT_SECRET_BASIC)
    spec = _checked(
        ClientSpec(
            client_id=name,
            client_type=client_type,
            token_endpoint_auth_method=method,
            grant_types=_split(grant),
            scopes=_split(scope),
            default_scopes=_split(default_scope),
            audiences=_split(audience),
            default_audience=default_audience or "",
            can_introspect=bool(introspect),
            jwks=_read_jwks(jwks),
        )
    )
    stores = context.region(topo, region or settings.region)
    if _read(stores, name).client is not None:
        raise CliError(f"client {name} already exists in region {stores.name}")
    secret = new_client_secret() if spec.needs_secret else ""
    envelope = _publish(topo, registered_event(spec, _hash(secret)), name, settings.region)
    _report("registered", envelope, secret, as_json)
    if wait:
        client_state.wait_applied(topo, envelope, time.monotonic(), timeout, as_json)
        _check_winner(topo, envelope)


def client_update(
    name: str,
    grant: Grants = None,
    scope: Scopes = None,
    default_scope: DefaultScopes = None,
    audience: Audiences = None,
    default_audience: DefaultAudience = None,
    jwks: Jwks = None,
    introspect: Introspect = None,
    display_name: Annotated[str | None, typer.Option(help="The client's display name.")] = None,
    as_json: AsJson = False,
    region: ReadRegion = None,
    stack_file: StackFile = None,
    wait: Wait = False,
    timeout: Timeout = TIMEOUT_S,
) -> None:
    """Change a client's configuration: each option given replaces that whole setting."""
    settings, topo = context.context(stack_file)
    spec = spec_of(_existing(topo, region or settings.region, name))
    changes: dict[str, Any] = {
        "grant_types": _split(grant) if grant else None,
        "scopes": _split(scope) if scope else None,
        "default_scopes": _split(default_scope) if default_scope else None,
        "audiences": _split(audience) if audience else None,
        "default_audience": default_audience,
        "jwks": _read_jwks(jwks) if jwks else None,
        "can_introspect": introspect,
        "name": display_name,
    }
    if audience and default_audience is None and spec.default_audience not in _split(audience):
        changes["default_audience"] = ""  # replaced audiences drop a default they no longer hold
    spec = _checked(replace(spec, **{k: v for k, v in changes.items() if v is not None}))
    envelope = _publish(topo, updated_event(spec), name, settings.region)
    _report("updated", envelope, "", as_json)
    if wait:
        client_state.wait_applied(topo, envelope, time.monotonic(), timeout, as_json)


def _state_command(disabled: bool) -> Any:
    """``client disable`` or ``client enable``: the same options, one event each."""

    def command(
        name: str,
        reason: Reason = "",
        as_json: AsJson = False,
        region: ReadRegion = None,
        stack_file: StackFile = None,
        wait: Wait = False,
        timeout: Timeout = TIMEOUT_S,
    ) -> None:
        settings, topo = context.context(stack_file)
        _existing(topo, region or settings.region, name)
        kind = ClientDisabled if disabled else ClientEnabled
        envelope = _publish(topo, kind(client_id=name, reason=reason), name, settings.region)
        _report("disabled" if disabled else "enabled", envelope, "", as_json)
        if wait:
            client_state.wait_applied(topo, envelope, time.monotonic(), timeout, as_json)

    command.__doc__ = (
        "Disable a client in every region: it can no longer authenticate or refresh."
        if disabled
        else "Enable a disabled client again."
    )
    return command


client_disable = _state_command(disabled=True)
client_enable = _state_command(disabled=False)


def client_rotate_secret(
    name: str,
    as_json: AsJson = False,
    region: ReadRegion = None,
    stack_file: StackFile = None,
    wait: Wait = False,
    timeout: Timeout = TIMEOUT_S,
) -> None:
    """Give a secret client a new secret, printed once; the old one stops working as each region
    applies the change."""
    settings, topo = context.context(stack_file)
    client = _existing(topo, region or settings.region, name)
    if not spec_of(client).needs_secret:
        raise CliError(f"client {name} authenticates with {client.token_endpoint_auth_method}, "
                       "not a secret")  # fmt: skip
    secret = new_client_secret()
    event = ClientSecretRotated(client_id=name, secret_hash=_hash(secret))
    envelope = _publish(topo, event, name, settings.region)
    _report("rotated the secret of", envelope, secret, as_json)
    if wait:
        client_state.wait_applied(topo, envelope, time.monotonic(), timeout, as_json)


def _existing(topo: topology.Topology, region: str, name: str) -> ClientRecord:
    found = _read(context.region(topo, region), name)
    if found.client is None:
        raise CliError(f"no client {name} in region {region}")
    return found.client


def _read(stores: topology.RegionEndpoints, name: str) -> client_state.RegionClient:
    found = asyncio.run(client_state.region_client(stores, name))
    if found.error:
        raise CliError(f"cannot read region {stores.name}'s stores: {found.error}")
    return found


def _publish(topo: topology.Topology, event: Payload, client_id: str, region: str) -> Envelope:
    envelope = envelope_of(event, names.client_partition_key(client_id), region)
    context.run(produce(topo, envelope))
    return envelope


def _report(verb: str, envelope: Envelope, secret: str, as_json: bool) -> None:
    client_id = envelope.payload.client_id
    if as_json:
        doc = {"client_id": client_id, "event_id": envelope.event_id}
        if secret:
            doc["client_secret"] = secret
        typer.echo(orjson.dumps(doc))
        return
    typer.echo(f"{verb} client {client_id} (event {envelope.event_id})")
    if secret:
        typer.echo(f"client_secret: {secret}")
        typer.echo("the secret is shown only now: store it; only its hash is kept")


def _check_winner(topo: topology.Topology, envelope: Envelope) -> None:
    # The existence check reads before this write: a registration of the same id written
    # meanwhile (another operator, another region) is ordered by the log and the earliest one
    # wins everywhere. Say so rather than leave the operator with a secret that does not work.
    winners = asyncio.run(client_state.registration_winners(topo, envelope.payload.client_id))
    lost = sorted({w for w in winners.values() if w and w != envelope.event_id})
    if lost:
        raise CliError(
            f"another registration of this client (event {lost[0]}) came first and is the one "
            f"every region keeps; this one (event {envelope.event_id}) is ignored"
        )


def _checked(spec: ClientSpec) -> ClientSpec:
    try:
        return normalized(spec)
    except InvalidClient as exc:
        raise CliError(str(exc)) from None


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(word for value in values or () for word in value.split())


def _hash(secret: str) -> str:
    return hash_client_secret(secret) if secret else ""


def _read_jwks(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise CliError(f"cannot read the JWK Set {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise CliError(f"{path} is not a JWK Set object")
    return doc
