"""Apply Redis operations: one pipeline per batch, conditional writes done atomically in Lua.

Each operation type maps to one handler in ``_SINGLE`` (queued on the pipeline on its own) or
``_RUN`` (consecutive ones travel as one call of the batch script, ``streams.redis_batch``);
the scripts themselves are in ``streams.lua``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from schemas import names
from streams import lua
from streams.errors import StoreDown, StoreRejected, StoreUnavailable
from streams.operations import (
    RedisHashKeepEarliest,
    RedisHashSet,
    RedisHashSetIfGreater,
    RedisHashSetIfHigher,
    RedisHashSetIfLower,
    RedisJsonFieldSetIfLower,
    RedisOperation,
    RedisRefreshSpend,
    RedisSortedSetAdd,
    RedisWindowAdd,
    RedisWindowReset,
)
from streams.redis_batch import BatchRun

_REFUSALS = ("WRONGTYPE",)
# Error replies that speak of the server, not the data (also when a script's call hit them).
_OUTAGES = ("OOM", "READONLY", "BUSY", "LOADING", "MASTERDOWN", "NOREPLICAS", "MISCONF", "TRYAGAIN")
PROBE_KEY = "authplane:projector:probe"

RunEntry = tuple[str, str, list[str]]
"""(batch kind, key, ARGV) of one operation in a batch run."""


class RedisExecutor:
    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._clock = clock
        self._json_set_if_lower = redis.register_script(lua.JSON_FIELD_SET_IF_LOWER)
        self._keep_earliest = redis.register_script(lua.HASH_KEEP_EARLIEST)
        self._set_if_higher = redis.register_script(lua.HASH_SET_IF_HIGHER)
        self._set_if_greater = redis.register_script(lua.HSET_IF_GREATER)
        self._window_add = redis.register_script(lua.WINDOW_ADD)
        self._refresh_spend = redis.register_script(lua.REFRESH_SPEND)
        self._probe = redis.register_script(lua.PROBE_WRITE)
        self._batch = redis.register_script(lua.BATCH)

    async def healthy(self) -> bool:
        """True when Redis runs a write within one script (refused when out of memory or on a
        read-only replica); the key is deleted in the same atomic step, so no reader sees it."""
        try:
            return bool(await self._probe(keys=[PROBE_KEY]))
        except (RedisError, OSError):
            return False

    async def apply(self, operations: Sequence[RedisOperation]) -> None:
        """Queue every operation in order on one pipeline and send it.

        Raises ``StoreRejected`` (a WRONGTYPE reply: the data), ``StoreDown`` (the server or the
        connection) or ``StoreUnavailable`` (an error reply that proves neither), and
        ``TypeError`` for an operation type no handler knows.
        """
        if not operations:
            return
        now = self._clock()
        pipe = self._redis.pipeline(transaction=False)
        queued = 0
        run = BatchRun()
        for op in operations:
            in_run = _RUN.get(type(op))
            if in_run is not None:
                entry = in_run(op, now)
                if entry is not None:
                    run.add(*entry)
                continue
            if run:  # keep the log's order: the run so far goes before this operation
                queued, run = queued + await self._queue_run(pipe, run), BatchRun()
            single = _SINGLE.get(type(op))
            if single is None:
                raise TypeError(f"no Redis handler for {type(op).__name__}")
            queued += await single(self, pipe, op, now)
        if run:
            queued += await self._queue_run(pipe, run)
        if queued:
            await _execute(pipe)

    async def _queue_run(self, pipe: Pipeline, run: BatchRun) -> int:
        await self._batch(keys=run.keys, args=[run.argument()], client=pipe)
        return 1

    async def _hash_set(self, pipe: Pipeline, op: RedisHashSet, now: float) -> int:
        if op.expire_at is not None and op.expire_at <= now:
            return 0  # already expired: writing it would only resurrect a dead key briefly
        pipe.hset(op.key, items=[part for item in op.mapping.items() for part in item])
        if op.expire_at is not None:
            pipe.expireat(op.key, op.expire_at)
        return 1

    async def _json_field(self, pipe: Pipeline, op: RedisJsonFieldSetIfLower, now: float) -> int:
        document = orjson.dumps(op.document, option=orjson.OPT_UTC_Z).decode()
        args = [op.field, document, op.compare, str(op.document[op.compare])]
        await self._json_set_if_lower(keys=[op.key], args=args, client=pipe)
        return 1

    async def _earliest(self, pipe: Pipeline, op: RedisHashKeepEarliest, now: float) -> int:
        if op.expire_at <= now:
            return 0  # whatever it could affect has expired: nothing left to revoke
        value = op.mapping[op.compare_field]
        args = [op.compare_field, value, str(op.expire_at), _json(op.mapping)]
        await self._keep_earliest(keys=[op.key], args=args, client=pipe)
        return 1

    async def _highest(self, pipe: Pipeline, op: RedisHashSetIfHigher, now: float) -> int:
        if op.expire_at <= now:
            return 0  # whatever it could affect has expired: nothing left to revoke
        value, tie = op.mapping[op.compare_field], op.mapping[op.tie_field]
        args = [op.compare_field, value, op.tie_field, tie, str(op.expire_at), _json(op.mapping)]
        await self._set_if_higher(keys=[op.key], args=args, client=pipe)
        return 1

    async def _greatest(self, pipe: Pipeline, op: RedisHashSetIfGreater, now: float) -> int:
        args = [op.compare_field, op.mapping[op.compare_field], _json(op.mapping)]
        await self._set_if_greater(keys=[op.key], args=args, client=pipe)
        return 1

    async def _window(self, pipe: Pipeline, op: RedisWindowAdd, now: float) -> int:
        if op.score + op.window_ms <= now * 1000:
            return 0  # already outside its window: it would be trimmed at once
        window = [op.member, str(op.score), str(op.window_ms), str(op.max_members)]
        await self._window_add(keys=[op.key], args=window, client=pipe)
        return 1

    async def _spend(self, pipe: Pipeline, op: RedisRefreshSpend, now: float) -> int:
        args = [
            op.spent_field,
            op.event_id,
            _json(op.rotation),
            _json(op.audit),
            str(op.fallback_until),
            names.SESSION_EXPIRES_FIELD,
            op.issued_field,
            str(op.event_ms),
            str(op.grace_ms),
        ]
        await self._refresh_spend(keys=[op.session_key, op.revoked_key], args=args, client=pipe)
        return 1

    async def _reset(self, pipe: Pipeline, op: RedisWindowReset, now: float) -> int:
        pipe.delete(op.key)
        return 1


Single = Callable[[RedisExecutor, Pipeline, Any, float], Awaitable[int]]
_SINGLE: dict[type, Single] = {
    RedisHashSet: RedisExecutor._hash_set,
    RedisJsonFieldSetIfLower: RedisExecutor._json_field,
    RedisHashKeepEarliest: RedisExecutor._earliest,
    RedisHashSetIfHigher: RedisExecutor._highest,
    RedisHashSetIfGreater: RedisExecutor._greatest,
    RedisWindowAdd: RedisExecutor._window,
    RedisRefreshSpend: RedisExecutor._spend,
    RedisWindowReset: RedisExecutor._reset,
}
"""Operation type -> handler queuing it on the pipeline; returns how many commands it queued."""


def _lower_entry(op: RedisHashSetIfLower, now: float) -> RunEntry | None:
    if op.expire_at is not None and op.expire_at <= now:
        return None  # already expired: writing it would only resurrect a dead key briefly
    expire_at = "" if op.expire_at is None else str(op.expire_at)
    args = [op.compare_field, op.mapping[op.compare_field], expire_at, _json(op.mapping)]
    return lua.KIND_HSET_IF_LOWER, op.key, args


def _zadd_entry(op: RedisSortedSetAdd, now: float) -> RunEntry | None:
    if op.expire_at <= now:
        return None
    return lua.KIND_ZADD_EXTEND, op.key, [op.member, str(op.score), str(op.expire_at)]


_RUN: dict[type, Callable[[Any, float], RunEntry | None]] = {
    RedisHashSetIfLower: _lower_entry,
    RedisSortedSetAdd: _zadd_entry,
}
"""Operation type -> its entry in a batch run (None: skipped, already expired)."""


def _json(mapping: object) -> str:
    return orjson.dumps(mapping).decode()


async def _execute(pipe: Pipeline) -> None:
    try:
        await pipe.execute()
    except ResponseError as exc:
        # An error reply proves Redis answered; whether the data or the server is at fault (a
        # script tripping over a bad value vs. OOM, a replica, BUSY) the projector decides by
        # evidence: a health probe and the event applied alone.
        message = str(exc)
        if message.startswith(_REFUSALS):
            raise StoreRejected("redis", message) from exc
        if any(marker in message for marker in _OUTAGES):
            raise StoreDown("redis", message) from exc
        raise StoreUnavailable("redis", message) from exc
    except (RedisError, OSError) as exc:
        raise StoreDown("redis", f"{type(exc).__name__}: {exc}") from exc
