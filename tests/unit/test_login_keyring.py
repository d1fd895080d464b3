"""The in-process key cache: own key always known, bounded refreshes on unknown kids."""

from __future__ import annotations

from pathlib import Path

from services.core.keys import load_or_create
from services.core.readmodel import PublishedKey, StoreUnavailable
from services.login.keyring import Keyring, own_published_key
from services.login.signer import Signer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _published(tmp_path: Path, region: str) -> PublishedKey:
    key = load_or_create(tmp_path, region, "ES256")
    return PublishedKey(key.kid, region, key.alg, key.public_jwk, "2026-01-01T00:00:00Z")


async def test_unknown_kid_refreshes_at_most_once_per_interval(tmp_path: Path) -> None:
    own = own_published_key(load_or_create(tmp_path, "eu", "EdDSA"), "eu", "https://eu.test")
    us = _published(tmp_path, "us")
    projected: list[PublishedKey] = []
    loads = 0

    async def load() -> list[PublishedKey]:
        nonlocal loads
        loads += 1
        return list(projected)

    clock = Clock()
    ring = Keyring(own, load, ttl_s=30, min_refresh_interval_s=1, clock=clock)
    assert (await ring.get(own.kid)) is not None  # own key known before any projection
    for _ in range(5):
        assert await ring.get("made-up") is None
    assert loads == 1  # the flood of unknown kids did not reach the store
    projected.append(us)
    clock.now += 1.0
    found = await ring.get(us.kid)
    assert found is not None
    assert (found.region, found.alg) == ("us", "ES256")
    assert loads == 2


async def test_store_outage_keeps_the_cached_keys(tmp_path: Path) -> None:
    own = own_published_key(load_or_create(tmp_path, "eu", "RS256"), "eu", "https://eu.test")
    us = _published(tmp_path, "us")
    healthy = True

    async def load() -> list[PublishedKey]:
        if not healthy:
            raise StoreUnavailable("down")
        return [us]

    clock = Clock()
    ring = Keyring(own, load, ttl_s=30, clock=clock)
    assert await ring.get(us.kid) is not None
    healthy = False
    clock.now += 60
    assert await ring.get(us.kid) is not None
    assert {k.kid for k in await ring.published()} == {own.kid, us.kid}


async def test_unusable_published_keys_are_skipped(tmp_path: Path) -> None:
    own = own_published_key(load_or_create(tmp_path, "eu", "RS256"), "eu", "https://eu.test")
    us = _published(tmp_path, "us")
    symmetric = PublishedKey("hs", "us", "HS256", {"kty": "oct", "k": "c2VjcmV0"}, "")
    mismatched = PublishedKey("bad", "us", "RS256", dict(us.public_jwk), "")

    async def load() -> list[PublishedKey]:
        return [us, symmetric, mismatched]

    ring = Keyring(own, load)
    assert await ring.get("hs") is None
    assert await ring.get("bad") is None
    assert {k.kid for k in await ring.published()} == {own.kid, us.kid}


async def test_the_signer_alone_owns_the_key_and_its_successor_verifies_at_once(
    tmp_path: Path,
) -> None:
    first = load_or_create(tmp_path / "a", "eu", "ES256")
    second = load_or_create(tmp_path / "b", "eu", "ES256")

    async def load() -> list[PublishedKey]:
        return []

    ring = Keyring(own_published_key(first, "eu", "https://eu.test"), load)
    signer = Signer(first, "eu", "https://eu.test", ring)
    assert signer.key is first
    signer.install(second)
    assert signer.key is second
    # Tokens of the new key verify before any projection lists it; the old key stays until the
    # stores stop listing it (the next refresh from an empty load here).
    assert await ring.get(second.kid) is not None
    assert {k.kid for k in await ring.published()} == {second.kid}
