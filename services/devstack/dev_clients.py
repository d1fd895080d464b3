"""The dev stack's OAuth clients (issue 12): registered on the log at every start, listed with
their credentials under ``"clients"`` in stack.json (mode 0600).

- ``authplane-cli``: first-party public client, password + refresh_token grants (RFC 9700 §2.4
  allows the password grant only for such explicitly registered clients);
- ``authplane-service``: confidential service client, ``client_secret_basic``,
  client_credentials;
- ``authplane-api``: the resource server, confidential, allowed to introspect (RFC 7662 §2.1);
  its identifier is every dev client's default audience.

Each start begins with an empty log (the broker is memory-only, data is wiped), so fresh secrets
are generated every time and the registrations are never ignored as duplicates.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas import names
from schemas.client_events import AUTH_CLIENT_SECRET_BASIC, AUTH_NONE
from schemas.client_secrets import hash_client_secret, new_client_secret
from schemas.codec import encode
from schemas.envelope import wrap
from schemas.settings import Settings
from services.core.client_config import ClientSpec, normalized, registered_event
from services.devstack.process import run_in_thread

SEND_TIMEOUT_S = 30.0

DEV_CLIENTS = (
    ClientSpec(
        client_id=names.DEV_PUBLIC_CLIENT_ID,
        client_type="public",
        token_endpoint_auth_method=AUTH_NONE,
        grant_types=("password", "refresh_token"),
        scopes=("openid", "profile", "offline_access"),
        default_scopes=("openid",),
        audiences=(names.DEV_AUDIENCE,),
        default_audience=names.DEV_AUDIENCE,
    ),
    ClientSpec(
        client_id=names.DEV_SERVICE_CLIENT_ID,
        client_type="confidential",
        token_endpoint_auth_method=AUTH_CLIENT_SECRET_BASIC,
        grant_types=("client_credentials",),
        scopes=("api:read", "api:write"),
        default_scopes=("api:read",),
        audiences=(names.DEV_AUDIENCE,),
        default_audience=names.DEV_AUDIENCE,
    ),
    ClientSpec(
        client_id=names.DEV_RESOURCE_SERVER_ID,
        client_type="confidential",
        token_endpoint_auth_method=AUTH_CLIENT_SECRET_BASIC,
        grant_types=(),
        audiences=(names.DEV_AUDIENCE,),
        default_audience=names.DEV_AUDIENCE,
        can_introspect=True,
    ),
)


def register_dev_clients(bootstrap: str, settings: Settings, region: str) -> dict[str, Any]:
    """Write a ``client.registered`` for each dev client (origin ``region``) and wait for the
    broker's acknowledgements; returns stack.json's ``"clients"`` section: client id -> its
    configuration and, for a confidential client, its ``client_secret`` (the only copy).

    Raises the producer's error (KafkaError, TimeoutError) when the broker does not take them.
    """
    section: dict[str, Any] = {}
    envelopes = []
    for spec in map(normalized, DEV_CLIENTS):
        secret = new_client_secret() if spec.needs_secret else ""
        event = registered_event(spec, hash_client_secret(secret) if secret else "")
        key = names.client_partition_key(spec.client_id)
        envelopes.append(wrap(event, user_id=key, origin_region=region, correlation_id="devstack"))
        section[spec.client_id] = _entry(spec, secret)
    # On its own thread: the caller may be inside a running event loop (an async test starting
    # an infra-only stack), where asyncio.run refuses to start.
    run_in_thread(
        lambda: asyncio.run(asyncio.wait_for(_send(bootstrap, settings, envelopes), SEND_TIMEOUT_S))
    )
    return section


async def _send(bootstrap: str, settings: Settings, envelopes: list[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **settings.broker.producer_options())
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(
                names.TOPIC_EVENTS, encode(envelope), key=envelope.partition_key
            )
    finally:
        await producer.stop()


def _entry(spec: ClientSpec, secret: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "client_id": spec.client_id,
        "client_type": spec.client_type,
        "token_endpoint_auth_method": spec.token_endpoint_auth_method,
        "grant_types": list(spec.grant_types),
        "scopes": list(spec.scopes),
        "default_scopes": list(spec.default_scopes),
        "audience": spec.default_audience,
        "can_introspect": spec.can_introspect,
    }
    if secret:
        entry["client_secret"] = secret
    return entry
