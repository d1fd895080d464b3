"""Seeding a region's read model for the login tests through the real projection: an event is
reduced by ``streams.projection.reduce`` and written by the projector's own executors, so the
Redis and Postgres layout is never copied here (the projector tests pin that layout)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from redis.asyncio import Redis

from schemas import names
from schemas.codec import encode
from schemas.envelope import Envelope, Payload, utc_now, wrap
from schemas.events import SessionStarted, SigningKeyPublished, UserRegistered
from schemas.identity import normalize_username, user_id_for
from schemas.settings import Settings
from services.core.keys import SigningKey
from services.core.passwords import hash_password
from services.core.readmodel import make_engine
from services.login.tokens import refresh_token_hash
from streams import projection
from streams.operations import PgOperation, RedisOperation
from streams.postgres import PostgresExecutor
from streams.record import LogPosition, Record
from streams.redis_ops import RedisExecutor


async def project(
    envelopes: Sequence[Envelope], *, redis_url: str | None = None, dsn: str | None = None
) -> None:
    """Apply what the projector would for ``envelopes``: to Redis at ``redis_url`` and/or to
    Postgres at ``dsn`` (a store left out is not written, e.g. to play one that lags)."""
    records = [
        Record(e, LogPosition(names.TOPIC_EVENTS, 0, offset), encode(e))
        for offset, e in enumerate(envelopes)
    ]
    to_postgres: list[PgOperation] = []
    to_redis: list[RedisOperation] = []
    for record in records:
        for op in projection.reduce(record):
            if isinstance(op, PgOperation):
                to_postgres.append(op)
            else:
                to_redis.append(op)
    if dsn is not None:
        engine = make_engine(dsn)
        try:
            await PostgresExecutor(engine).apply(to_postgres)
        finally:
            await engine.dispose()
    if redis_url is not None:
        redis = Redis.from_url(redis_url)
        try:
            await RedisExecutor(redis).apply(to_redis)
        finally:
            await redis.aclose()


def event(payload: Payload, user_id: str | None, region: str = "eu") -> Envelope:
    return wrap(payload, user_id=user_id, origin_region=region, correlation_id="seed")


def registration(settings: Settings, username: str, password: str) -> Envelope:
    """``user.registered`` of ``username`` with ``password`` hashed at ``settings``' cost."""
    return registered_hash(settings, username, hash_password(settings, password))


def registered_hash(settings: Settings, username: str, password_hash: str) -> Envelope:
    """``user.registered`` of ``username`` (normalized) carrying ``password_hash`` as is."""
    name = normalize_username(username)
    payload = UserRegistered(username=name, password_hash=password_hash)
    return event(payload, user_id_for(name), settings.region)


async def seed_user_redis(settings: Settings, username: str, password: str) -> str:
    """Register the user in the region's Redis only (as if Postgres lagged); its user id."""
    envelope = registration(settings, username, password)
    await project([envelope], redis_url=settings.redis_url)
    return str(envelope.user_id)


async def seed_user_postgres(settings: Settings, dsn: str, username: str, password: str) -> str:
    """Register the user in the Postgres at ``dsn`` only; its user id."""
    envelope = registration(settings, username, password)
    await project([envelope], dsn=dsn)
    return str(envelope.user_id)


async def project_signing_key(
    redis_url: str, key: SigningKey, region: str, issuer: str | None = None
) -> None:
    """What a region's projector writes once ``region``'s signing_key.published arrives."""
    payload = SigningKeyPublished(
        kid=key.kid,
        region=region,
        alg=key.alg,
        public_jwk=dict(key.public_jwk),
        issuer=issuer or "",
    )
    await project([event(payload, None, region)], redis_url=redis_url)


async def project_session(
    settings: Settings, refresh_token: str, user_id: str, client_id: str = "test-app"
) -> str:
    """A session of ``client_id`` (default: the harness's public test client) whose current
    refresh token is ``refresh_token``, started now for an hour, in the region's Redis; its
    session id."""
    session_id = refresh_token.partition(".")[0]
    started = event(
        SessionStarted(
            session_id=session_id,
            client_id=client_id,
            access_jti=f"jti-{session_id}",
            refresh_token_hash=refresh_token_hash(refresh_token),
            signing_kid="seed",
            expires_at=utc_now() + timedelta(hours=1),
        ),
        user_id,
        settings.region,
    )
    await project([started], redis_url=settings.redis_url)
    return session_id
