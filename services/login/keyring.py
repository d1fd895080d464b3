"""Every region's public verification keys, cached briefly in-process.

The cache refreshes when it is older than ``ttl_s``, or when a token names an unknown kid (a new
region or a rotated key) but at most once per ``min_refresh_interval_s``, so a flood of tokens
with made-up kids cannot turn into a flood of Redis reads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from services.keys import SigningKey
from services.login.tokens import VerificationKey, verification_key
from services.readmodel import PublishedKey, StoreUnavailable

log = logging.getLogger(__name__)
Loader = Callable[[], Awaitable[list[PublishedKey]]]


def own_published_key(key: SigningKey, region: str) -> PublishedKey:
    return PublishedKey(key.kid, region, key.alg, dict(key.public_jwk), published_at="")


class Keyring:
    def __init__(
        self,
        own: PublishedKey,
        load: Loader,
        ttl_s: float = 30.0,
        min_refresh_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._own = own
        self._load = load
        self._ttl_s = ttl_s
        self._min_interval_s = min_refresh_interval_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._loaded_at: float | None = None
        self._published: dict[str, PublishedKey] = {}
        self._keys: dict[str, VerificationKey] = {}
        self._install([])

    async def get(self, kid: str) -> VerificationKey | None:
        if self._is_stale(self._ttl_s):
            await self.refresh()
        if kid not in self._keys and self._is_stale(self._min_interval_s):
            await self.refresh()
        return self._keys.get(kid)

    async def published(self) -> list[PublishedKey]:
        if self._is_stale(self._ttl_s):
            await self.refresh()
        return sorted(self._published.values(), key=lambda k: (k.region, k.kid))

    async def refresh(self) -> None:
        async with self._lock:
            started = self._clock()
            try:
                records = await self._load()
            except StoreUnavailable:
                log.warning("signing keys unreadable; keeping the cached set")
                records = list(self._published.values())
            self._install(records)
            self._loaded_at = started

    def _is_stale(self, max_age_s: float) -> bool:
        return self._loaded_at is None or self._clock() - self._loaded_at >= max_age_s

    def _install(self, records: list[PublishedKey]) -> None:
        # Our own key is always present, even before the projector has seen its event.
        published = {r.kid: r for r in records} | {self._own.kid: self._own}
        keys: dict[str, VerificationKey] = {}
        for record in published.values():
            try:
                keys[record.kid] = verification_key(
                    record.kid, record.region, record.alg, record.public_jwk
                )
            except ValueError as exc:
                log.warning("ignoring an unusable published key", extra={"reason": str(exc)})
        self._published = {kid: published[kid] for kid in keys}
        self._keys = keys
