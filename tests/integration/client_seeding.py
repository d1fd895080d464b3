"""The OAuth clients every login test endpoint is registered with (issue 12), and how a test
registers more.

``register(login, *records)`` makes clients known to the endpoint's client registry.
"""

from __future__ import annotations

from typing import Any

from services.login.client_scratch import ClientRecord, ClientRegistry, hash_client_secret

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


async def register(login: Any, *records: ClientRecord) -> None:
    """Make ``records`` (default: ``STANDARD_CLIENTS``) known to ``login``'s endpoint."""
    for record in records or STANDARD_CLIENTS:
        ClientRegistry.records[record.client_id] = record
