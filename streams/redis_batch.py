"""Many conditional Redis writes in one script call: the projector's batch in one EVALSHA.

redis-py spends more Python time queuing a command (script lookup, argument packing, reply
parsing) than Redis spends running it, so a batch of a thousand events sent as thousands of
EVALSHAs was bound by the client. Here a run of consecutive operations of the kinds below
travels as one EVALSHA: every key in KEYS (declared, as Redis asks of scripts), and one JSON
argument holding, per key, the operation's kind and its arguments.

Each kind runs the very Lua body its single-operation script runs (wrapped as a function of
KEYS and ARGV), so the conditions, the expiry rules and the error replies are the same by
construction, and the operations run in the order given. Effects of the run's operations
before one that fails stay applied, as they did in a pipeline; every operation is idempotent,
so the projector's retry (whole batch, then event by event) converges to the same state.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

KIND_HSET_IF_LOWER = "l"
KIND_ZADD_EXTEND = "z"


def batch_script(bodies: Mapping[str, str]) -> str:
    """A Lua script running ``bodies`` (kind -> a single-key script's text) per key, in order.

    Called as ``KEYS = [k1, ..., kn]``, ``ARGV[1] = JSON [[kind, arg1, ...], ...]`` with one
    entry per key; returns how many entries wrote (each body's own 1/0 result summed).
    """
    functions = "".join(
        f"local function op_{kind}(KEYS, ARGV)\n{body}\nend\n" for kind, body in bodies.items()
    )
    dispatch = "\n".join(
        f"  {'if' if i == 0 else 'elseif'} kind == '{kind}' then "
        f"wrote = wrote + op_{kind}(key, entry)"
        for i, kind in enumerate(bodies)
    )
    return (
        functions
        + "local entries = cjson.decode(ARGV[1])\n"
        + "local wrote = 0\n"
        + "for i, entry in ipairs(entries) do\n"
        + "  local kind = table.remove(entry, 1)\n"
        + "  local key = {KEYS[i]}\n"
        + dispatch
        + "\n  else return redis.error_reply('unknown batch operation ' .. tostring(kind)) end\n"
        + "end\n"
        + "return wrote\n"
    )


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
