"""How applying operations can fail, split by what the projector must do about it."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The store could not be reached or is not ready: retry the same batch until it works."""

    def __init__(self, store: str, detail: str) -> None:
        super().__init__(f"{store} unavailable: {detail}")
        self.store = store
        self.detail = detail


class StoreRejected(Exception):
    """The store refused the data itself (a constraint, a bad value): retrying cannot help, so
    the offending event is found and dead-lettered."""

    def __init__(self, store: str, detail: str) -> None:
        super().__init__(f"{store} rejected the batch: {detail}")
        self.store = store
        self.detail = detail


class StoreDown(StoreUnavailable):
    """Proof of an outage, not of a bad event: no connection, out of memory or disk, read-only,
    shutting down. Waited out without asking for further evidence."""
