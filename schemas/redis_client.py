"""The one way every authplane process builds a Redis client (login endpoint, projector, verifier
and its mirror, authctl, replay).

Why one factory: Redis closes connections on its own terms (``timeout``, ``CLIENT KILL``, a
failover, an idle-timeout proxy). ``Redis.from_url`` without a ``retry`` gives connections that
never retry, so the first command on a connection the server closed fails as if Redis were down:
readiness flaps and reads fall back to Postgres. Here that command is retried once on a fresh
connection, using redis-py's own ``Retry``; a second failure is a real outage and reaches the
caller (who falls back or fails closed as before).

Only ``ConnectionError`` is retried, not timeouts: a timeout means a slow or hung server, and a
retry would double the time before the caller's fallback. The commands authplane sends are
idempotent writes or reads, so the one retry cannot apply a change twice in a way that matters.

This module depends on redis-py only (already a dependency of every process), like
``schemas.topics`` depends on aiokafka: the connection policy is part of the contract between
the processes and the region's Redis.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry as SyncRetry

RETRIES = 1
"""Transparent retries of a command whose connection turned out closed."""
RETRY_BACKOFF_BASE_S = 0.005
RETRY_BACKOFF_CAP_S = 0.05
HEALTH_CHECK_INTERVAL_S = 30
"""A connection idle this long is PINGed before reuse, so one a proxy dropped is replaced first."""


def retry_policy() -> Retry:
    """One retry after a short jittered pause (at most ``RETRY_BACKOFF_CAP_S`` seconds), on
    ``redis.exceptions.ConnectionError`` only (closed or reset connections)."""
    return Retry(_backoff(), RETRIES, supported_errors=(RedisConnectionError,))


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=RETRY_BACKOFF_BASE_S, cap=RETRY_BACKOFF_CAP_S)


def _options(timeout_s: float) -> dict[str, Any]:
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "retry_on_error": [RedisConnectionError],
    }


def make_redis(url: str, timeout_s: float = 1.0) -> Redis:
    """An asyncio client of the Redis at ``url`` (``redis://host:port/db``), answering bytes.

    ``timeout_s`` (seconds) bounds connecting and each socket read or write; a timeout raises
    ``redis.exceptions.TimeoutError`` at once (not retried). A command on a connection the server
    closed is retried once on a new connection; if that fails too, ``ConnectionError`` is raised.
    Pub/sub objects made from the client (``client.pubsub()``) reconnect and re-subscribe the same
    way. The caller closes the client with ``await client.aclose()``.
    """
    return Redis.from_url(url, retry=retry_policy(), **_options(timeout_s))


def make_sync_redis(url: str, timeout_s: float = 1.0) -> redis.Redis:
    """The blocking client with the same policy, for tools without an event loop (the dev
    launcher's readiness probe); the caller closes it with ``client.close()``."""
    retry = SyncRetry(_backoff(), RETRIES, supported_errors=(RedisConnectionError,))
    return redis.Redis.from_url(url, retry=retry, **_options(timeout_s))


def as_text(value: Any) -> str:
    """A reply value as text: clients answer bytes (UTF-8 decoded here); None becomes ``""``."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)
