"""Many conditional Redis writes in one script call: the projector's batch in one EVALSHA.

redis-py spends more Python time queuing a command (script lookup, argument packing, reply
parsing) than Redis spends running it, so a batch of a thousand events sent as thousands of
EVALSHAs was bound by the client. Here a run of consecutive batchable operations travels as one
EVALSHA of ``streams.lua.BATCH``: every key in KEYS (declared, as Redis asks of scripts), and one
JSON argument holding, per key, the operation's kind and its arguments.

The operations run in the order given. Effects of the run's operations before one that fails
stay applied, as they did in a pipeline; every operation is idempotent, so the projector's retry
(whole batch, then event by event) converges to the same state.
"""

from __future__ import annotations

import orjson


class BatchRun:
    """The keys and entries of one run of batchable operations, in order."""

    __slots__ = ("entries", "keys")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.entries: list[list[str]] = []

    def add(self, kind: str, key: str, args: list[str]) -> None:
        """Append one operation on ``key``; ``args`` are its script's ARGV, all strings."""
        self.keys.append(key)
        self.entries.append([kind, *args])

    def argument(self) -> bytes:
        """The script's single ARGV: the entries as one JSON array."""
        return orjson.dumps(self.entries)

    def __len__(self) -> int:
        return len(self.keys)
