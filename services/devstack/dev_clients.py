"""The OAuth clients every dev stack registers (issue 12), written to the log like any client.

- ``names.DEV_PUBLIC_CLIENT_ID`` (``authplane-cli``): public, first-party, the password and
  refresh_token grants (RFC 9700 §2.4 forbids the password grant to anyone else), scopes
  ``openid profile offline_access`` (default ``openid``);
- ``names.DEV_SERVICE_CLIENT_ID`` (``authplane-service``): confidential, client_secret_basic,
  client_credentials, scope ``api:read``;
- ``names.DEV_RESOURCE_SERVER_ID`` (``authplane-api``): confidential, allowed to introspect.

Every one of them may ask for ``names.DEV_AUDIENCE`` only, its default. Secrets are generated per
stack start (``schemas.client_secrets``), written to ``stack.json`` (mode 0600) under
``"clients"``, and only their hashes go on the log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from schemas import names
from schemas.client_events import ClientRegistered
from schemas.client_secrets import hash_client_secret, new_client_secret
from schemas.codec import encode
from schemas.envelope import wrap
from schemas.redis_client import make_sync_redis
from schemas.settings import Settings
from services.devstack.process import InfraError, run_in_thread

PUBLISH_TIMEOUT_S = 10.0
API_SCOPES = ("api:read",)


@dataclass(frozen=True)
class DevClient:
    """One registered dev client and its secret ("" for a public client)."""

    registration: ClientRegistered
    secret: str

    def summary(self) -> dict[str, object]:
        """What ``stack.json`` lists under ``"clients"``: id, type, method, grants, scopes,
        audience, introspection permission and, for a confidential client, the secret (shown nowhere
        else; a public client has none, so none is listed)."""
        r = self.registration
        return {
            "client_id": r.client_id,
            "client_type": r.client_type,
            "token_endpoint_auth_method": r.token_endpoint_auth_method,
            "grant_types": list(r.grant_types),
            "scopes": list(r.scopes),
            "default_audience": r.default_audience,
            "can_introspect": r.can_introspect,
            **({"client_secret": self.secret} if self.secret else {}),
        }


def _client(
    client_id: str, secret: str, grants: tuple[str, ...], scopes: tuple[str, ...], **kw: object
) -> DevClient:
    public = not secret
    registration = ClientRegistered(
        client_id=client_id,
        name=client_id,
        client_type="public" if public else "confidential",
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        grant_types=grants,
        scopes=scopes,
        default_scopes=scopes[:1],
        audiences=(names.DEV_AUDIENCE,),
        default_audience=names.DEV_AUDIENCE,
        can_introspect=bool(kw.get("can_introspect", False)),
        secret_hash=hash_client_secret(secret) if secret else "",
        jwks={},
    )
    return DevClient(registration, secret)


def dev_clients() -> dict[str, DevClient]:
    """The three dev clients with fresh secrets, by client id."""
    clients = (
        _client(
            names.DEV_PUBLIC_CLIENT_ID,
            "",
            ("password", "refresh_token"),
            ("openid", "profile", "offline_access"),
        ),
        _client(
            names.DEV_SERVICE_CLIENT_ID, new_client_secret(), ("client_credentials",), API_SCOPES
        ),
        _client(
            names.DEV_RESOURCE_SERVER_ID, new_client_secret(), (), API_SCOPES, can_introspect=True
        ),
    )
    return {c.registration.client_id: c for c in clients}


def publish(clients: Mapping[str, DevClient], settings: Settings) -> None:
    """Write each client's ``client.registered`` (acks=all) to the broker of ``settings``.
    Raises ``InfraError`` when the broker does not acknowledge them."""

    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, **settings.broker.producer_options()
        )
        await asyncio.wait_for(producer.start(), PUBLISH_TIMEOUT_S)
        try:
            for client in clients.values():
                key = names.client_partition_key(client.registration.client_id)
                envelope = wrap(
                    client.registration,
                    user_id=key,
                    origin_region=settings.region,
                    correlation_id="authplane-up",
                )
                sent = producer.send_and_wait(
                    names.TOPIC_EVENTS, value=encode(envelope), key=envelope.partition_key
                )
                await asyncio.wait_for(sent, PUBLISH_TIMEOUT_S)
        finally:
            await producer.stop()

    try:
        run_in_thread(lambda: asyncio.run(send()))
    except Exception as exc:
        raise InfraError(f"the dev clients were not registered: {type(exc).__name__}") from None


def wait_projected(client_ids: list[str], redis_urls: list[str], timeout_s: float) -> None:
    """Wait until every region's Redis holds every client (its projector applied them).
    Raises ``InfraError`` after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    for url in redis_urls:
        redis = make_sync_redis(url)
        try:
            keys = [names.redis_client_key(c) for c in client_ids]
            while redis.exists(*keys) < len(keys):
                if time.monotonic() > deadline:
                    raise InfraError(f"the dev clients did not reach {url} in {timeout_s:.0f} s")
                time.sleep(0.1)
        finally:
            redis.close()
