"""A worker started while the broker is unreachable waits for it (with backoff) instead of dying.

Topics are created before faust starts (an unknown topic would be auto-created with the broker's
default partition count), so the first thing a worker needs is a broker that answers. A region
coming back before its Kafka node, or a stack whose broker is still electing a controller, must
not turn into a crashed projector that a supervisor then has to restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaError

from schemas.settings import Settings
from schemas.topics import TopicError, ensure_topics

log = logging.getLogger("authplane.worker")
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0


async def retry_with_backoff(
    attempt: Callable[[], Awaitable[None]],
    what: str,
    *,
    first_s: float = FIRST_BACKOFF_S,
    max_s: float = MAX_BACKOFF_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Run ``attempt`` until it returns; after each broker failure wait, doubling up to ``max_s``.

    Returns how many attempts failed. Errors other than KafkaError/OSError/TimeoutError and
    TopicError (a broker that answers but refuses, e.g. fewer live nodes than the replication
    factor during an election) propagate: they are not "unreachable".
    """
    delay, failures = first_s, 0
    while True:
        try:
            await attempt()
            return failures
        except (KafkaError, OSError, TimeoutError, TopicError) as exc:
            failures += 1
            log.warning(
                "%s failed; retrying",
                what,
                extra={"error": f"{type(exc).__name__}: {exc}", "retry_in_s": delay},
            )
            await sleep(delay)
            delay = min(max_s, delay * 2)


async def wait_for_topics(settings: Settings) -> int:
    """Create the topics once the broker answers; returns the failed attempts before that."""

    async def attempt() -> None:
        await ensure_topics(
            settings.kafka_bootstrap, settings.topic_partitions, settings.topic_replication
        )

    return await retry_with_backoff(attempt, f"reaching the broker at {settings.kafka_bootstrap}")
