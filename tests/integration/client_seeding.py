"""The OAuth clients every login test endpoint is registered with (issue 12), and how a test
registers more.

``register(login, *clients)`` writes each client's ``client.registered`` (and ``client.disabled``
for a disabled one) through the real projection into the endpoint's Redis and Postgres, as the
projector would (``login_seeding.project``): the login endpoint reads them with the real
``services.core.clients.ClientRegistry``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from schemas import names
from schemas.client_events import ClientDisabled
from schemas.client_secrets import hash_client_secret
from schemas.envelope import Envelope
from schemas.settings import Settings
from services.core.client_config import registered_event, spec_of
from services.core.clients import ClientRecord
from streams.errors import StoreDown
from tests.integration.login_seeding import event, project

AUDIENCE = "https://api.test.authplane"
OTHER_AUDIENCE = "https://other.test.authplane"
APP_ID = "test-app"
"""Public, first-party: password and refresh_token grants; what most login tests log in as."""
APP_SCOPES = ("openid", "profile", "email", "offline_access")
RS_ID = "rs1"
RS_SECRET = "rs1-secret-value"
"""Confidential resource server allowed to introspect (client_secret_basic)."""
SERVICE_ID = "test-service"
SERVICE_SECRET = "test-service-secret"
"""Confidential service: client_credentials (and password+refresh for the secret-method tests)."""


def client(client_id: str, **fields: Any) -> ClientRecord:
    """A client record: public, password+refresh_token, ``APP_SCOPES``, ``AUDIENCE`` unless
    ``fields`` say otherwise (``secret`` is hashed into ``secret_hash``)."""
    secret = fields.pop("secret", "")
    values: dict[str, Any] = {
        "client_id": client_id,
        "name": client_id,
        "client_type": "public",
        "token_endpoint_auth_method": "none",
        "grant_types": frozenset({"password", "refresh_token"}),
        "scopes": frozenset(APP_SCOPES),
        "default_scopes": ("openid",),
        "audiences": frozenset({AUDIENCE, OTHER_AUDIENCE}),
        "default_audience": AUDIENCE,
        "can_introspect": False,
        "secret_hash": hash_client_secret(secret) if secret else "",
        "jwks": {},
        "disabled": False,
    }
    values.update(fields)
    for name in ("grant_types", "scopes", "audiences"):
        values[name] = frozenset(values[name])
    values["default_scopes"] = tuple(values["default_scopes"])
    return ClientRecord(**values)


def confidential(client_id: str, secret: str, **fields: Any) -> ClientRecord:
    """A confidential client authenticating with ``secret`` (client_secret_basic)."""
    base: dict[str, Any] = {
        "client_type": "confidential",
        "token_endpoint_auth_method": "client_secret_basic",
        "secret": secret,
    }
    return client(client_id, **(base | fields))


STANDARD_CLIENTS = (
    client(APP_ID),
    confidential(RS_ID, RS_SECRET, grant_types=(), can_introspect=True),
    confidential(
        SERVICE_ID,
        SERVICE_SECRET,
        grant_types=("client_credentials", "password", "refresh_token"),
    ),
)


def client_events(record: ClientRecord, region: str = "eu") -> list[Envelope]:
    """The events that register ``record`` (and disable it when it is disabled)."""
    key = names.client_partition_key(record.client_id)
    registered = registered_event(spec_of(record), record.secret_hash)
    events = [event(registered, key, region)]
    if record.disabled:
        events.append(event(ClientDisabled(client_id=record.client_id, reason="test"), key, region))
    return events


async def register(login: Any, *records: ClientRecord) -> None:
    """Register ``records`` (default: ``STANDARD_CLIENTS``) in ``login``'s region (Redis and
    Postgres, through the real projection)."""
    await register_in(login.settings, *records)


async def register_in(settings: Settings, *records: ClientRecord) -> None:
    """Register ``records`` (default: ``STANDARD_CLIENTS``) in the stores ``settings`` name."""
    envelopes = [e for r in records or STANDARD_CLIENTS for e in client_events(r)]
    # A store a test has taken down holds no clients, as in production; the other one does.
    with contextlib.suppress(StoreDown):
        await project(envelopes, dsn=settings.postgres_dsn)
    with contextlib.suppress(StoreDown):
        await project(envelopes, redis_url=settings.redis_url)
