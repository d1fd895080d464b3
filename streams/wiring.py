"""The one place the projector's clients are built from Settings (worker and replay tool)."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.postgres_client import make_engine
from schemas.redis_client import make_redis
from schemas.settings import Settings
from streams.deadletter import DeadLetterPublisher, KafkaDeadLetterPublisher
from streams.executor import StoreExecutor
from streams.postgres import PostgresExecutor
from streams.projector import Projector
from streams.redis_ops import RedisExecutor


def create_engine(dsn: str) -> AsyncEngine:
    # No statement timeout: a batch may take longer than a service's read (SQLAlchemy's default
    # overflow of 10).
    return make_engine(dsn, timeout_s=None, pool_size=2, max_overflow=10)


PROJECTOR_REDIS_TIMEOUT_S = 5.0
"""Longer than the services' 1 s: a projector batch pipeline carries up to 1,000 events."""


def create_redis(url: str) -> Redis:
    return make_redis(url, timeout_s=PROJECTOR_REDIS_TIMEOUT_S)


@dataclass
class ProjectorRuntime:
    """Everything a running projector holds open, so one call can close it all."""

    projector: Projector
    """Projects the event topic: Postgres, then Redis."""
    revocation_projector: Projector
    """Projects the revocation topic: Redis (what checks read) first, then Postgres."""
    engine: AsyncEngine
    redis: Redis
    producer: AIOKafkaProducer

    async def close(self) -> None:
        await self.producer.stop()
        await self.redis.aclose()
        await self.engine.dispose()


async def start_projector(settings: Settings) -> ProjectorRuntime:
    engine = create_engine(settings.postgres_dsn)
    redis = create_redis(settings.redis_url)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **settings.broker.producer_options()
    )
    await producer.start()
    publisher = KafkaDeadLetterPublisher(producer, settings.region)
    projector, revocations = build_projectors(engine, redis, publisher, settings.max_event_skew_s)
    return ProjectorRuntime(projector, revocations, engine, redis, producer)


def build_projectors(
    engine: AsyncEngine, redis: Redis, deadletters: DeadLetterPublisher, max_skew_s: float
) -> tuple[Projector, Projector]:
    """The projector of the event topic (Postgres, then Redis) and the one of the revocation
    topic (Redis, what every check reads, then Postgres), over the same clients. ``max_skew_s``
    (s): see ``Projector``."""
    postgres, redis_executor = PostgresExecutor(engine), RedisExecutor(redis)
    events = StoreExecutor(postgres, redis_executor)
    revocations = StoreExecutor(postgres, redis_executor, redis_first=True)
    return (
        Projector(events, deadletters, max_skew_s=max_skew_s),
        Projector(revocations, deadletters, max_skew_s=max_skew_s),
    )
