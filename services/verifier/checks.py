"""Where a token's revocation state comes from, in order, and what happens when nobody knows.

1. the local mirror of the region's ``rev:v1:*`` keys, while it is proven fresh;
2. the region's Redis, one round trip (``services.verifier.store``);
3. the region's Postgres ``revocations_v1`` (Redis unreachable or unreadable);
4. nobody answered: fail closed (revoked), unless the deployment set fail-open.
Every answer is counted by source in ``authplane_revocation_checks{outcome}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.readmodel import POSTGRES_ERRORS, REDIS_ERRORS
from services.verifier.mirror import RevocationMirror
from services.verifier.rule import RevocationState, session_is_revoked, token_is_revoked
from services.verifier.store import RedisStateReader, postgres_state

log = logging.getLogger(__name__)
OUTCOMES = ("mirror", "redis", "postgres_fallback", "failed_closed", "failed_open")
LOG_EVERY_S = 5.0


class CheckMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        counter = Counter(
            "authplane_revocation_checks",
            "Revocation checks by where the answer came from (or that none did)",
            ["outcome"],
            registry=self.registry,
        )
        # Children bound once: labels() costs more than the mirror lookup it would count.
        self.by_outcome = {outcome: counter.labels(outcome) for outcome in OUTCOMES}


class RevocationChecker:
    def __init__(
        self,
        redis: Redis,
        engine: AsyncEngine | None,
        *,
        fail_open: bool = False,
        mirror: RevocationMirror | None = None,
        metrics: CheckMetrics | None = None,
    ) -> None:
        self._redis = RedisStateReader(redis)
        self._engine = engine
        self._fail_open = fail_open
        self._mirror = mirror
        self.metrics = metrics or CheckMetrics()
        self._count = {k: c.inc for k, c in self.metrics.by_outcome.items()}
        self._last_logged: dict[str, float] = {}

    async def why_revoked(self, claims: Mapping[str, Any], kid: str = "") -> str | None:
        """None if the token may be used; "revoked", or "state_unknown" when failing closed.
        ``kid`` (the key that signed the token) adds the revoked-key check."""
        state = await self.state(claims["sub"], claims["sid"], claims["jti"], kid)
        if state is None:
            return self._unknown(f"token {claims['jti']}")
        return "revoked" if token_is_revoked(claims, state) else None

    async def session_revoked(
        self, user_id: str, session_id: str, started_at_ms: int, revocation_seen: str = ""
    ) -> bool:
        """The refresh path's rule (``revocation_seen``: the session's recorded evidence, "" if
        none); unknown state answers revoked unless fail-open."""
        state = await self.state(user_id, session_id, jti="")
        if state is None:
            return self._unknown(f"session {session_id}") is not None
        return session_is_revoked(started_at_ms, state, revocation_seen)

    async def state(
        self, user_id: str, session_id: str, jti: str, kid: str = ""
    ) -> RevocationState | None:
        if self._mirror is not None:
            mirrored = self._mirror.state(user_id, session_id, jti, kid)
            if mirrored is not None:
                self._count["mirror"]()
                return mirrored
        try:
            state = await self._redis.state(user_id, session_id, jti, kid)
        except (*REDIS_ERRORS, ValueError) as exc:
            self._warn("redis", "revocation state unreadable in redis; asking postgres", exc)
        else:
            self._count["redis"]()
            return state
        return await self._from_postgres(user_id, session_id, jti, kid)

    async def _from_postgres(
        self, user_id: str, session_id: str, jti: str, kid: str
    ) -> RevocationState | None:
        if self._engine is None:
            return None
        try:
            state = await postgres_state(self._engine, user_id, session_id, jti, kid)
        except POSTGRES_ERRORS as exc:
            self._warn("postgres", "revocation state unreadable in postgres too", exc)
            return None
        self._count["postgres_fallback"]()
        return state

    def _unknown(self, what: str) -> str | None:
        outcome = "failed_open" if self._fail_open else "failed_closed"
        self._count[outcome]()
        # Identifiers only, never the token itself.
        self._warn(outcome, f"revocation state unknown; check {outcome}", None, subject=what)
        return None if self._fail_open else "state_unknown"

    def _warn(self, key: str, message: str, exc: BaseException | None, **extra: str) -> None:
        # Throttled: with a store down every request would otherwise log the same line.
        now = time.monotonic()
        if now - self._last_logged.get(key, float("-inf")) < LOG_EVERY_S:
            return
        self._last_logged[key] = now
        err = {"err": exc.__class__.__name__} if exc is not None else {}
        log.warning(message, extra={**err, **extra})
