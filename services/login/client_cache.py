"""A short-lived in-process copy of client registrations for the login endpoint.

Every token, introspection and revocation request looks its client up; introspection in
particular is a hot path (one Redis read per request would be a large share of its CPU). So a
registration read from the stores (``services.core.clients.ClientRegistry``) is reused for
``FRESH_S`` seconds: a client update, disable or secret rotation takes effect here at most that
long after this region projected it. An unknown client is not remembered (a client registered a
moment ago works at once).

When the stores do not answer (``StoreUnavailable``), a registration read no more than
``STALE_IF_ERROR_S`` seconds ago is still used, so a resource server stays authenticated through
a store outage and its token checks fail closed (or open, per AUTHPLANE_FAIL_OPEN) as before;
past that, or for a client never read, the outage is raised (503: fail closed).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from services.core.clients import ClientRecord
from services.core.readmodel import StoreUnavailable
from services.login.client_auth import ClientLookup

FRESH_S = 5.0
"""How long a registration is reused without reading the stores again, seconds."""
STALE_IF_ERROR_S = 60.0
"""How old a registration may be and still be used while the stores do not answer, seconds."""
MAX_ENTRIES = 10_000
"""At most this many registrations are kept (the oldest read is dropped first)."""


class CachedClients:
    """``ClientLookup`` over ``source`` with the reuse rules above; ``clock`` is monotonic s."""

    def __init__(self, source: ClientLookup, clock: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._clock = clock
        self._entries: dict[str, tuple[float, ClientRecord]] = {}

    async def get(self, client_id: str) -> ClientRecord | None:
        """The registration, or None for an unknown client. Raises ``StoreUnavailable`` when
        the stores do not answer and no recent enough copy is held."""
        now = self._clock()
        held = self._entries.get(client_id)
        if held is not None and now - held[0] <= FRESH_S:
            return held[1]
        try:
            record = await self._source.get(client_id)
        except StoreUnavailable:
            if held is not None and now - held[0] <= STALE_IF_ERROR_S:
                return held[1]
            raise
        if record is None:
            self._entries.pop(client_id, None)
            return None
        if len(self._entries) >= MAX_ENTRIES and client_id not in self._entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[client_id] = (now, record)
        return record
