"""services.login.client_cache: registrations reused briefly, and through a store outage."""

from __future__ import annotations

from services.core.clients import ClientRecord
from services.core.readmodel import StoreUnavailable
from services.login.client_cache import FRESH_S, STALE_IF_ERROR_S, CachedClients


def _record(name: str = "app", disabled: bool = False) -> ClientRecord:
    return ClientRecord(
        client_id="app",
        name=name,
        client_type="public",
        token_endpoint_auth_method="none",
        grant_types=frozenset({"password"}),
        scopes=frozenset(),
        default_scopes=(),
        audiences=frozenset(),
        default_audience="",
        can_introspect=False,
        secret_hash="",
        jwks={},
        disabled=disabled,
    )


class Source:
    def __init__(self) -> None:
        self.record: ClientRecord | None = _record()
        self.down = False
        self.reads = 0

    async def get(self, client_id: str) -> ClientRecord | None:
        self.reads += 1
        if self.down:
            raise StoreUnavailable("both stores")
        return self.record


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_registration_is_reused_while_fresh_then_read_again() -> None:
    source, clock = Source(), Clock()
    cached = CachedClients(source, clock)
    assert await cached.get("app") == _record()
    source.record = _record(disabled=True)
    clock.now += FRESH_S
    assert (await cached.get("app")) == _record()  # still fresh: no read
    assert source.reads == 1
    clock.now += 0.1
    assert (await cached.get("app")) == _record(disabled=True)  # a disable takes effect
    assert source.reads == 2


async def test_an_unknown_client_is_not_remembered() -> None:
    source, clock = Source(), Clock()
    source.record = None
    cached = CachedClients(source, clock)
    assert await cached.get("app") is None
    source.record = _record()
    assert await cached.get("app") == _record()  # registered a moment later: known at once


async def test_an_outage_uses_a_recent_copy_then_fails_closed() -> None:
    source, clock = Source(), Clock()
    cached = CachedClients(source, clock)
    await cached.get("app")
    source.down = True
    clock.now += STALE_IF_ERROR_S
    assert await cached.get("app") == _record()
    clock.now += 0.1
    try:
        await cached.get("app")
    except StoreUnavailable:
        pass
    else:
        raise AssertionError("a copy older than STALE_IF_ERROR_S was used")
    assert not await _answers_a_never_read_client(cached)


async def _answers_a_never_read_client(cached: CachedClients) -> bool:
    try:
        await cached.get("never-read")
    except StoreUnavailable:
        return False
    return True
