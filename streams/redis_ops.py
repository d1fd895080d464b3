"""Apply Redis operations: one pipeline per batch, conditional writes done atomically in Lua."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from streams import refresh_ops
from streams.errors import StoreDown, StoreRejected, StoreUnavailable
from streams.lua import HSET_JSON
from streams.operations import (
    RedisHashKeepEarliest,
    RedisHashSet,
    RedisHashSetIfGreater,
    RedisHashSetIfHigher,
    RedisHashSetIfLower,
    RedisJsonFieldSetIfLower,
    RedisOperation,
    RedisSortedSetAdd,
    RedisWindowAdd,
)
from streams.redis_batch import KIND_HSET_IF_LOWER, KIND_ZADD_EXTEND, BatchRun, batch_script
from streams.refresh_ops import RedisRefreshSpend
from streams.unlock_ops import RedisWindowReset

# Compare and write in one script so two projectors (or a replay) racing on one key cannot both
# see "mine is smaller" and leave the larger value.
# The fields travel as one JSON argument: redis-py packs every argument in pure Python, and
# one argument instead of twenty made this the projector's cheapest Redis write.
HSET_IF_LOWER = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and current <= ARGV[2] then return 0 end
local flat = {}
for field, value in pairs(cjson.decode(ARGV[4])) do
  flat[#flat + 1] = field
  flat[#flat + 1] = value
end
redis.call('HSET', KEYS[1], unpack(flat))
if ARGV[3] ~= '' then redis.call('EXPIREAT', KEYS[1], ARGV[3]) end
return 1
"""

JSON_FIELD_SET_IF_LOWER = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' and doc[ARGV[3]] and doc[ARGV[3]] <= ARGV[4] then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# EXPIREAT GT needs Redis 7; this keeps the later expiry on 6.2 too (ZADD LT is 6.2+).
ZADD_EXTEND_EXPIRY = """
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
local ttl = redis.call('TTL', KEYS[1])
local now = tonumber(redis.call('TIME')[1])
local wanted = tonumber(ARGV[3])
if ttl < 0 or now + ttl < wanted then redis.call('EXPIREAT', KEYS[1], wanted) end
return 1
"""

# Expiry only moves later, whichever write wins the fields: the entry must outlive the
# longest-lived credential any of its writers could affect. (EXPIREAT GT needs Redis 7.)
_EXPIRE_LATER = """
local function expire_later(key, at)
  local pttl = redis.call('PTTL', key)
  local now = redis.call('TIME')
  local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  if pttl < 0 or now_ms + pttl < tonumber(at) * 1000 then redis.call('EXPIREAT', key, at) end
end
"""
_LUA_HELPERS = _EXPIRE_LATER + HSET_JSON

HASH_KEEP_EARLIEST = (
    _LUA_HELPERS
    + """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local wrote = 0
if not current or ARGV[2] < current then
  hset_json(KEYS[1], ARGV[4])
  wrote = 1
end
expire_later(KEYS[1], ARGV[3])
return wrote
"""
)

# Numbers, not strings: "999" > "1000" as strings. Epoch milliseconds fit a Lua double exactly.
HASH_SET_IF_HIGHER = (
    _LUA_HELPERS
    + """
local current = redis.call('HMGET', KEYS[1], ARGV[1], ARGV[3])
local have, new = tonumber(current[1]), tonumber(ARGV[2])
local wins = have == nil or new > have
if have ~= nil and new == have then wins = not current[2] or ARGV[4] < current[2] end
if wins then hset_json(KEYS[1], ARGV[6]) end
expire_later(KEYS[1], ARGV[5])
return wins and 1 or 0
"""
)


HSET_IF_GREATER = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and current >= ARGV[2] then return 0 end
local flat = {}
for field, value in pairs(cjson.decode(ARGV[3])) do
  flat[#flat + 1] = field
  flat[#flat + 1] = value
end
redis.call('HSET', KEYS[1], unpack(flat))
return 1
"""

# "Now" is the Redis server's clock, so every projector (and a replay) trims the same way; a
# member re-added after it left the window is skipped rather than resurrected.
WINDOW_ADD = (
    _LUA_HELPERS
    + """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local score, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local floor = now_ms - window
if score <= floor then return 0 end
redis.call('ZADD', KEYS[1], score, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', floor)
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if excess > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1) end
expire_later(KEYS[1], math.ceil((score + window) / 1000))
return 1
"""
)


_REFUSALS = ("WRONGTYPE",)
# Error replies that speak of the server, not the data (also when a script's call hit them).
_OUTAGES = ("OOM", "READONLY", "BUSY", "LOADING", "MASTERDOWN", "NOREPLICAS", "MISCONF", "TRYAGAIN")
PROBE_KEY = "authplane:projector:probe"
PROBE_WRITE = """
redis.call('SET', KEYS[1], '1')
redis.call('DEL', KEYS[1])
return 1
"""


class RedisExecutor:
    def __init__(self, redis: Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._clock = clock
        self._json_set_if_lower = redis.register_script(JSON_FIELD_SET_IF_LOWER)
        self._keep_earliest = redis.register_script(HASH_KEEP_EARLIEST)
        self._set_if_higher = redis.register_script(HASH_SET_IF_HIGHER)
        self._set_if_greater = redis.register_script(HSET_IF_GREATER)
        self._window_add = redis.register_script(WINDOW_ADD)
        self._refresh_spend = redis.register_script(refresh_ops.SPEND_LUA)
        self._probe = redis.register_script(PROBE_WRITE)
        self._batch = redis.register_script(
            batch_script({KIND_HSET_IF_LOWER: HSET_IF_LOWER, KIND_ZADD_EXTEND: ZADD_EXTEND_EXPIRY})
        )

    async def healthy(self) -> bool:
        """True when Redis runs a write within one script (refused when out of memory or on a
        read-only replica); the key is deleted in the same atomic step, so no reader sees it."""
        try:
            return bool(await self._probe(keys=[PROBE_KEY]))
        except (RedisError, OSError):
            return False

    async def apply(self, operations: Sequence[RedisOperation]) -> None:
        if not operations:
            return
        now = self._clock()
        pipe = self._redis.pipeline(transaction=False)
        queued = 0
        run = BatchRun()
        for op in operations:
            if isinstance(op, RedisHashSetIfLower | RedisSortedSetAdd):
                _add_to_run(run, op, now)
                continue
            if run:  # keep the log's order: the run so far goes before this operation
                await self._queue_run(pipe, run)
                queued, run = queued + 1, BatchRun()
            queued += await self._queue(pipe, op, now)
        if run:
            await self._queue_run(pipe, run)
            queued += 1
        if not queued:
            return
        try:
            await pipe.execute()
        except ResponseError as exc:
            # An error reply proves Redis answered; whether the data or the server is at fault
            # (a script tripping over a bad value vs. OOM, a replica, BUSY) the projector
            # decides by evidence: a health probe and the event applied alone.
            message = str(exc)
            if message.startswith(_REFUSALS):
                raise StoreRejected("redis", message) from exc
            if any(marker in message for marker in _OUTAGES):
                raise StoreDown("redis", message) from exc
            raise StoreUnavailable("redis", message) from exc
        except (RedisError, OSError) as exc:
            raise StoreDown("redis", f"{type(exc).__name__}: {exc}") from exc

    async def _queue_run(self, pipe: Pipeline, run: BatchRun) -> None:
        await self._batch(keys=run.keys, args=[run.argument()], client=pipe)

    async def _queue(self, pipe: Pipeline, op: RedisOperation, now: float) -> int:
        if isinstance(op, RedisHashSet):
            if op.expire_at is not None and op.expire_at <= now:
                return 0  # already expired: writing it would only resurrect a dead key briefly
            pipe.hset(op.key, items=[part for item in op.mapping.items() for part in item])
            if op.expire_at is not None:
                pipe.expireat(op.key, op.expire_at)
        elif isinstance(op, RedisJsonFieldSetIfLower):
            document = orjson.dumps(op.document, option=orjson.OPT_UTC_Z).decode()
            args = [op.field, document, op.compare, str(op.document[op.compare])]
            await self._json_set_if_lower(keys=[op.key], args=args, client=pipe)
        elif isinstance(op, RedisHashKeepEarliest | RedisHashSetIfHigher):
            return await self._queue_revocation_hash(pipe, op, now)
        elif isinstance(op, RedisHashSetIfGreater | RedisWindowAdd):
            return await self._queue_latest(pipe, op, now)
        elif isinstance(op, RedisRefreshSpend):
            await refresh_ops.queue_redis(self._refresh_spend, pipe, op)
        elif isinstance(op, RedisWindowReset):
            pipe.delete(op.key)
        else:  # RedisHashSetIfLower, RedisSortedSetAdd
            raise TypeError(f"{type(op).__name__} travels in a batch run, not on its own")
        return 1

    async def _queue_latest(
        self, pipe: Pipeline, op: RedisHashSetIfGreater | RedisWindowAdd, now: float
    ) -> int:
        if isinstance(op, RedisHashSetIfGreater):
            fields = orjson.dumps(op.mapping).decode()
            args = [op.compare_field, op.mapping[op.compare_field], fields]
            await self._set_if_greater(keys=[op.key], args=args, client=pipe)
            return 1
        if op.score + op.window_ms <= now * 1000:
            return 0  # already outside its window: it would be trimmed at once
        window = [op.member, str(op.score), str(op.window_ms), str(op.max_members)]
        await self._window_add(keys=[op.key], args=window, client=pipe)
        return 1

    async def _queue_revocation_hash(
        self, pipe: Pipeline, op: RedisHashKeepEarliest | RedisHashSetIfHigher, now: float
    ) -> int:
        if op.expire_at <= now:
            return 0  # whatever it could affect has expired: nothing left to revoke
        fields = orjson.dumps(op.mapping).decode()
        value = op.mapping[op.compare_field]
        if isinstance(op, RedisHashKeepEarliest):
            args = [op.compare_field, value, str(op.expire_at), fields]
            await self._keep_earliest(keys=[op.key], args=args, client=pipe)
        else:
            tie = op.mapping[op.tie_field]
            args = [op.compare_field, value, op.tie_field, tie, str(op.expire_at), fields]
            await self._set_if_higher(keys=[op.key], args=args, client=pipe)
        return 1


def _add_to_run(run: BatchRun, op: RedisHashSetIfLower | RedisSortedSetAdd, now: float) -> None:
    """Append ``op`` with the same arguments its single script takes; skipped once expired."""
    if op.expire_at is not None and op.expire_at <= now:
        return  # already expired: writing it would only resurrect a dead key briefly
    if isinstance(op, RedisSortedSetAdd):
        run.add(KIND_ZADD_EXTEND, op.key, [op.member, str(op.score), str(op.expire_at)])
        return
    expire_at = "" if op.expire_at is None else str(op.expire_at)
    fields = orjson.dumps(op.mapping).decode()
    args = [op.compare_field, op.mapping[op.compare_field], expire_at, fields]
    run.add(KIND_HSET_IF_LOWER, op.key, args)
