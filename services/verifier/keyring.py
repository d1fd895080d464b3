"""Every region's public verification keys, cached in-process.

The cache refreshes when it is older than ``ttl_s``, or when a token names an unknown kid (a new
region or a rotated key) but at most once per ``min_refresh_interval_s``, so a flood of tokens
with made-up kids cannot turn into a flood of reads of the key source.

Key sources: the region's Redis hash (``names.redis_signing_keys_key()``, via the read model,
with its Postgres fallback) or a login endpoint's ``/.well-known/jwks.json`` over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from services.core.keys import public_members
from services.core.readmodel import PublishedKey, StoreUnavailable
from services.verifier.signature import VerificationKey, verification_key

log = logging.getLogger(__name__)
Loader = Callable[[], Awaitable[list[PublishedKey]]]


class Keyring:
    def __init__(
        self,
        own: PublishedKey | None,
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

    def set_own(self, own: PublishedKey) -> None:
        """A rotated own key: usable at once. The previous one stays until a refresh from the
        stores no longer lists it (retired or revoked)."""
        self._own = own
        self._install(list(self._published.values()))

    async def published(self) -> list[PublishedKey]:
        if self._is_stale(self._ttl_s):
            await self.refresh()
        return sorted(self._published.values(), key=lambda k: (k.region, k.kid))

    async def refresh(self) -> None:
        async with self._lock:
            started = self._clock()
            try:
                records = await self._load()
            except (StoreUnavailable, httpx.HTTPError, ValueError) as exc:
                log.warning(
                    "signing keys unreadable; keeping the cached set", extra={"err": repr(exc)}
                )
                records = list(self._published.values())
            self._install(records)
            self._loaded_at = started

    def _is_stale(self, max_age_s: float) -> bool:
        return self._loaded_at is None or self._clock() - self._loaded_at >= max_age_s

    def _install(self, records: list[PublishedKey]) -> None:
        # The caller's own key is always present, even before the projector has seen its event.
        published = {r.kid: r for r in records}
        if self._own is not None:
            published[self._own.kid] = self._own
        keys: dict[str, VerificationKey] = {}
        for record in published.values():
            try:
                keys[record.kid] = verification_key(
                    record.kid, record.region, record.alg, record.public_jwk, record.issuer
                )
            except ValueError as exc:
                log.warning("ignoring an unusable published key", extra={"reason": str(exc)})
        self._published = {kid: published[kid] for kid in keys}
        self._keys = keys


def jwks_loader(client: httpx.AsyncClient, url: str) -> Loader:
    """Keys from a login endpoint's JWKS; entries without ``region`` or ``alg`` are skipped
    (the algorithm must come from the key record, never from a token)."""

    async def load() -> list[PublishedKey]:
        response = await client.get(url)
        response.raise_for_status()
        entries = response.json().get("keys", [])
        return [k for k in map(_jwks_entry, entries if isinstance(entries, list) else []) if k]

    return load


def _jwks_entry(entry: Any) -> PublishedKey | None:
    if not isinstance(entry, dict):
        return None
    kid, region, alg = entry.get("kid"), entry.get("region"), entry.get("alg")
    if not all(isinstance(v, str) and v for v in (kid, region, alg)):
        log.warning("skipping a JWKS entry without kid, region or alg")
        return None
    try:
        jwk = public_members(entry)
    except KeyError:
        log.warning("skipping a JWKS entry without its key parameters")
        return None
    issuer = entry.get("iss")
    issuer = issuer if isinstance(issuer, str) else ""
    return PublishedKey(str(kid), str(region), str(alg), jwk, published_at="", issuer=issuer)
