"""The one place the login endpoint builds its clients from Settings."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.settings import Settings
from services.core import keys
from services.core.passwords import PasswordVerifier
from services.core.readmodel import ReadModel, make_engine, make_redis
from services.login.account import Accounts
from services.login.clock import Clock, system_clock
from services.login.events import EventPublisher, PublishFailed, make_producer
from services.login.keyring import Keyring, own_published_key
from services.login.lockout import Lockout
from services.login.metrics import Metrics
from services.login.own_writes import OwnWrites
from services.login.rotation import KeyWatcher, published_event
from services.verifier.checks import CheckMetrics, RevocationChecker
from services.verifier.keystatus import active_keys_loader, key_states
from services.verifier.mirror import RevocationMirror
from services.verifier.verifier import Verifier

log = logging.getLogger(__name__)


KEYRING_TTL_S = 5.0


class StartupError(RuntimeError):
    """The endpoint cannot start; the message is one line for the operator."""


@dataclass
class Runtime:
    settings: Settings
    signing_key: keys.SigningKey
    metrics: Metrics
    redis: Redis
    engine: AsyncEngine
    producer: AIOKafkaProducer
    readmodel: ReadModel
    keyring: Keyring
    verifier: PasswordVerifier
    publisher: EventPublisher
    tokens: Verifier
    accounts: Accounts
    lockout: Lockout
    own_writes: OwnWrites
    key_watcher: KeyWatcher | None = None
    clock: Clock = system_clock
    """Wall-clock time for issued tokens and session events (a seam for clock-skew tests)."""


async def build_runtime(settings: Settings) -> Runtime:
    try:
        signing_key = keys.load_or_create(settings.key_dir, settings.region, settings.signing_alg)
    except keys.KeyFileError as exc:
        raise StartupError(str(exc)) from None
    metrics = Metrics()
    producer = await _start_producer(settings)
    redis = make_redis(settings.redis_url)
    engine = make_engine(settings.postgres_dsn)
    readmodel = ReadModel(redis, engine)
    # Refreshed every 5 s (two Redis reads): a retired or revoked key leaves the JWKS soon.
    keyring = Keyring(
        own_published_key(signing_key, settings.region, settings.token_issuer),
        active_keys_loader(redis, engine),
        ttl_s=KEYRING_TTL_S,
    )
    publisher = EventPublisher(producer, settings.produce_timeout_s, metrics)
    runtime = Runtime(
        settings=settings,
        signing_key=signing_key,
        metrics=metrics,
        redis=redis,
        engine=engine,
        producer=producer,
        readmodel=readmodel,
        keyring=keyring,
        verifier=PasswordVerifier(settings),
        publisher=publisher,
        tokens=_token_verifier(settings, keyring, redis, engine, metrics),
        accounts=Accounts(redis, engine),
        lockout=Lockout(redis, engine, settings, publisher),
        own_writes=OwnWrites(redis),
    )
    try:
        await publish_signing_key(runtime)
    except StartupError:
        await close_runtime(runtime)
        raise
    runtime.key_watcher = _key_watcher(runtime)
    runtime.key_watcher.start()
    return runtime


def _key_watcher(runtime: Runtime) -> KeyWatcher:
    def switch(key: keys.SigningKey) -> None:
        # Tokens are signed with runtime.signing_key from the next request on.
        runtime.signing_key = key
        runtime.keyring.set_own(
            own_published_key(key, runtime.settings.region, runtime.settings.token_issuer)
        )

    return KeyWatcher(
        runtime.settings,
        runtime.signing_key,
        runtime.publisher.publish,
        lambda: key_states(runtime.redis, runtime.engine),
        switch,
    )


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


async def _start_producer(settings: Settings) -> AIOKafkaProducer:
    producer = make_producer(settings.kafka_bootstrap, settings.produce_timeout_s, settings.broker)
    try:
        await asyncio.wait_for(producer.start(), settings.produce_timeout_s * 2)
    except (KafkaError, TimeoutError, OSError) as exc:
        await producer.stop()
        raise StartupError(
            f"cannot reach the broker at {settings.kafka_bootstrap}: {exc.__class__.__name__}"
        ) from None
    return producer


async def publish_signing_key(runtime: Runtime) -> None:
    """Every region must learn this key before it can verify our tokens: publish at each start."""
    key = runtime.signing_key
    try:
        await runtime.publisher.publish(
            published_event(key, runtime.settings.region, runtime.settings.token_issuer)
        )
    except PublishFailed:
        raise StartupError(
            f"the broker at {runtime.settings.kafka_bootstrap} did not acknowledge "
            "the signing key event"
        ) from None
    log.info("signing key published", extra={"kid": key.kid, "alg": key.alg})


async def close_runtime(runtime: Runtime) -> None:
    if runtime.key_watcher is not None:
        await runtime.key_watcher.close()
    runtime.verifier.close()
    await runtime.tokens.close()
    await runtime.producer.stop()
    await runtime.redis.aclose()
    await runtime.engine.dispose()
