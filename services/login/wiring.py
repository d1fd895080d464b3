"""The composition root of the login endpoint: the one place that builds its clients from
Settings and hands each use case only the ports it needs.

Only ``services.login.app`` and ``services.login.__main__`` import this module; everything else
under ``services.login`` is built here and never reaches back (routes receive their part through
``services.login.deps``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.settings import Settings
from services.core import keys
from services.core.clients import ClientRegistry
from services.core.passwords import PasswordVerifier
from services.core.readmodel import make_engine, make_redis
from services.login.account import Accounts
from services.login.client_assertion import AssertionVerifier
from services.login.client_auth import ClientAuthenticator
from services.login.client_cache import CachedClients
from services.login.client_credentials import ClientCredentialsGrant
from services.login.events import EventPublisher, Fallback, LogLink, PublishFailed
from services.login.grant import PasswordGrant
from services.login.health import Readiness
from services.login.introspect import Introspection
from services.login.keyring import Keyring, own_published_key
from services.login.lockout import Lockout
from services.login.metadata import public_base
from services.login.metrics import Metrics
from services.login.outbox import Channel, Outbox
from services.login.own_writes import OwnWrites
from services.login.password_change import PasswordChange
from services.login.refresh import RefreshGrant
from services.login.refresh_state import RefreshStates
from services.login.rehash import Rehasher
from services.login.relay import Relay
from services.login.revoke import Revocation
from services.login.rotation import KeyWatcher, published_event
from services.login.sessions import Sessions
from services.login.signer import Signer
from services.login.token_endpoint import TokenEndpoint
from services.verifier.checks import CheckMetrics, RevocationChecker
from services.verifier.keystatus import active_keys_loader, key_states
from services.verifier.mirror import RevocationMirror
from services.verifier.verifier import Verifier

log = logging.getLogger(__name__)
KEYRING_TTL_S = 5.0


class StartupError(RuntimeError):
    """The endpoint cannot start; the message is one line for the operator."""


@dataclass
class Clients:
    """The process's connections: one Redis pool, one Postgres engine, one producer (``log``)."""

    redis: Redis
    engine: AsyncEngine
    log: LogLink

    async def close(self) -> None:
        await self.log.close()
        await self.redis.aclose()
        await self.engine.dispose()


@dataclass
class LoginWiring:
    """Everything one login endpoint process built, owned here and closed by ``close``."""

    settings: Settings
    clients: Clients
    metrics: Metrics
    keyring: Keyring
    signer: Signer
    passwords: PasswordVerifier
    tokens: Verifier
    publisher: EventPublisher
    accounts: Accounts
    password_grant: PasswordGrant
    refresh_grant: RefreshGrant
    revocation: Revocation
    password_change: PasswordChange
    introspection: Introspection
    readiness: Readiness
    token_endpoint: TokenEndpoint
    client_auth: ClientAuthenticator
    relay: Relay
    channel: Channel
    key_watcher: KeyWatcher | None = field(default=None)

    def parts(self) -> dict[type, object]:
        """What routes may ask for (``services.login.deps.provide``), by type."""
        provided: list[object] = [self.settings, self.metrics, self.keyring]
        provided += [self.token_endpoint, self.client_auth, self.revocation]
        provided += [self.password_change, self.introspection, self.readiness]
        return {type(part): part for part in provided}

    async def close(self) -> None:
        if self.key_watcher is not None:
            await self.key_watcher.close()
        await self.relay.close()
        self.passwords.close()
        await self.tokens.close()
        await self.clients.close()


async def build_wiring(settings: Settings) -> LoginWiring:
    """Connect, publish this region's signing key and start the key watcher. Raises
    ``StartupError`` (one line for the operator) when the key file or the broker is unusable."""
    try:
        signing_key = keys.load_or_create(settings.key_dir, settings.region, settings.signing_alg)
    except keys.KeyFileError as exc:
        raise StartupError(str(exc)) from None
    link = await _connect_log(settings)
    clients = Clients(make_redis(settings.redis_url), make_engine(settings.postgres_dsn), link)
    wiring = _wire(settings, clients, signing_key)
    try:
        await publish_signing_key(wiring)
    except StartupError:
        await wiring.close()
        raise
    wiring.key_watcher = KeyWatcher(
        settings,
        wiring.signer,
        wiring.publisher.publish,
        lambda: key_states(clients.redis, clients.engine),
    )
    wiring.key_watcher.start()
    wiring.relay.start()
    return wiring


def _wire(settings: Settings, clients: Clients, signing_key: keys.SigningKey) -> LoginWiring:
    redis, engine = clients.redis, clients.engine
    region, issuer = settings.region, settings.token_issuer
    metrics = Metrics()
    # Refreshed every 5 s (two Redis reads): a retired or revoked key leaves the JWKS soon.
    keyring = Keyring(
        own_published_key(signing_key, region, issuer),
        active_keys_loader(redis, engine),
        ttl_s=KEYRING_TTL_S,
    )
    signer = Signer(signing_key, region, issuer, keyring)
    own_writes = OwnWrites(redis)
    outbox = Outbox(engine, settings.outbox_max_rows, settings.outbox_max_age_s)
    channel = Channel(metrics, settings.emergency_channel)
    fallback = Fallback(outbox, channel, own_writes.queued)
    publisher = EventPublisher(clients.log, settings.produce_timeout_s, metrics, fallback)
    passwords = PasswordVerifier(settings)
    rehasher = Rehasher(passwords, publisher, region)
    tokens = _token_verifier(settings, keyring, redis, engine, metrics)
    accounts = Accounts(redis, engine)
    lockout = Lockout(redis, engine, settings, publisher)
    states = RefreshStates(redis, engine)
    grant = PasswordGrant(
        settings, passwords, rehasher, accounts, lockout, publisher, own_writes, signer, metrics
    )
    refresh = RefreshGrant(
        settings, states, tokens.revocations, accounts, publisher, own_writes, signer, metrics
    )
    revocation = Revocation(settings, tokens, Sessions(redis, engine), states, publisher)
    change = PasswordChange(region, tokens, passwords, rehasher, accounts, lockout, publisher)
    ports = (settings, clients, metrics, keyring, signer, passwords, tokens, publisher, accounts)
    readiness = Readiness(clients.log, redis, engine, region, outbox, channel)
    interval_s = settings.outbox_relay_interval_ms / 1000
    relay = Relay(engine, outbox, clients.log, channel, interval_s, settings.produce_timeout_s)
    client_auth = ClientAuthenticator(
        CachedClients(ClientRegistry(redis, engine)),
        AssertionVerifier(redis, issuer, token_url(issuer), public_base(settings)),
    )
    endpoint = TokenEndpoint(
        client_auth, grant, refresh, ClientCredentialsGrant(settings, signer, metrics), metrics
    )
    introspection = Introspection(tokens, metrics)
    parts = (grant, refresh, revocation, change, introspection, readiness, endpoint, client_auth)
    return LoginWiring(*ports, *parts, relay, channel)


def token_url(issuer: str) -> str:
    """The token endpoint of ``issuer`` (RFC 8414 ``token_endpoint``)."""
    return issuer.rstrip("/") + "/oauth2/token"


def _token_verifier(
    settings: Settings, keyring: Keyring, redis: Redis, engine: AsyncEngine, metrics: Metrics
) -> Verifier:
    # By default no local mirror: introspection reads Redis per request, so an answer never lags
    # a revocation the projector has applied. AUTHPLANE_INTROSPECTION_MIRROR trades that for
    # the mirror's proven 1 s bound (the Redis read was ~17% of an introspection's CPU); when
    # the mirror cannot prove freshness the checker reads Redis, then Postgres, then fails
    # closed exactly as without it.
    mirror_redis = make_redis(settings.redis_url) if settings.introspection_mirror else None
    mirror = RevocationMirror(mirror_redis) if mirror_redis is not None else None
    checks = RevocationChecker(
        redis,
        engine,
        fail_open=settings.fail_open,
        mirror=mirror,
        metrics=CheckMetrics(metrics.registry),
    )
    verifier = Verifier(keyring, checks, region=settings.region, issuer=settings.token_issuer)
    if mirror is not None and mirror_redis is not None:
        # Its own client: the subscription holds a connection for good; closed with the verifier.
        verifier.own(mirror, mirror_redis)
        mirror.start()
    return verifier


async def _connect_log(settings: Settings) -> LogLink:
    """The producer, started; with the emergency channel on, a log that does not answer yet is
    no reason to refuse logins: the relay connects once it does."""
    link = LogLink(settings.kafka_bootstrap, settings.produce_timeout_s, settings.broker)
    if await link.connect():
        return link
    if not settings.emergency_channel:
        raise StartupError(
            f"cannot reach the broker at {settings.kafka_bootstrap}: {link.last_error}"
        )
    log.warning(
        "the log is unreachable at start: answering through the emergency channel",
        extra={"bootstrap": settings.kafka_bootstrap, "err": link.last_error},
    )
    return link


async def publish_signing_key(wiring: LoginWiring) -> None:
    """Every region must learn this key before it can verify our tokens: publish at each start.
    Raises ``StartupError`` when the broker does not acknowledge it."""
    key, settings = wiring.signer.key, wiring.settings
    try:
        await wiring.publisher.publish(published_event(key, settings.region, settings.token_issuer))
    except PublishFailed:
        raise StartupError(
            f"the broker at {settings.kafka_bootstrap} did not acknowledge the signing key event"
        ) from None
    log.info("signing key published", extra={"kid": key.kid, "alg": key.alg})
