"""Every Lua script the projector runs in Redis, in one place (each script is atomic on its own).

Each script is ``HELPERS`` followed by a body. Compare and write happen in one script so two
projectors (or a replay) racing on one key cannot both see "mine is smaller" and leave the larger
value. Fields travel as one JSON argument: redis-py packs every argument in pure Python, and one
argument instead of twenty made these the projector's cheapest Redis writes. ``EXPIREAT GT`` needs
Redis 7; the helpers keep the later expiry on 6.2 too.

Which operation each script applies, and with which KEYS/ARGV, is in ``streams.redis_ops``.
"""

from __future__ import annotations

from collections.abc import Mapping

HELPERS = """
local function hset_json(key, json)
  local flat = {}
  for field, value in pairs(cjson.decode(json)) do
    flat[#flat + 1] = field
    flat[#flat + 1] = value
  end
  redis.call('HSET', key, unpack(flat))
end
local function server_ms()
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end
local function expire_later(key, at)
  local pttl = redis.call('PTTL', key)
  if pttl < 0 or server_ms() + pttl < tonumber(at) * 1000 then redis.call('EXPIREAT', key, at) end
end
"""
"""``hset_json(key, json)``: HSET every field of a JSON object (callers pass an orjson dump);
``server_ms()``: the Redis server's clock in epoch ms; ``expire_later(key, at)``: EXPIREAT ``at``
(epoch s) unless the key already lives longer. The server's clock, not a projector's, so every
projector (and a replay) decides the same way."""

HSET_IF_LOWER_BODY = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and current <= ARGV[2] then return 0 end
hset_json(KEYS[1], ARGV[4])
if ARGV[3] ~= '' then redis.call('EXPIREAT', KEYS[1], ARGV[3]) end
return 1
"""
"""``RedisHashSetIfLower``: ARGV = compare field, new value, expire-at (s or ''), fields JSON."""

ZADD_EXTEND_BODY = """
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
local ttl = redis.call('TTL', KEYS[1])
local now = tonumber(redis.call('TIME')[1])
local wanted = tonumber(ARGV[3])
if ttl < 0 or now + ttl < wanted then redis.call('EXPIREAT', KEYS[1], wanted) end
return 1
"""
"""``RedisSortedSetAdd``: ARGV = member, score, expire-at (s); ZADD LT keeps the lower score."""

JSON_FIELD_SET_IF_LOWER = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' and doc[ARGV[3]] and doc[ARGV[3]] <= ARGV[4] then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
"""``RedisJsonFieldSetIfLower``: ARGV = field, document JSON, compare name, compare value."""

HASH_KEEP_EARLIEST = (
    HELPERS
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
"""``RedisHashKeepEarliest``: ARGV = compare field, its value, expire-at (s), fields JSON. The
expiry moves later whichever write wins the fields: the entry must outlive the longest-lived
credential any of its writers could affect."""

# Numbers, not strings: "999" > "1000" as strings. Epoch milliseconds fit a Lua double exactly.
HASH_SET_IF_HIGHER = (
    HELPERS
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
"""``RedisHashSetIfHigher``: ARGV = compare field, value, tie field, tie value, expire-at, JSON."""

HSET_IF_GREATER = (
    HELPERS
    + """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and current >= ARGV[2] then return 0 end
hset_json(KEYS[1], ARGV[3])
return 1
"""
)
"""``RedisHashSetIfGreater``: ARGV = compare field, its value, fields JSON."""

# A member re-added after it left the window is skipped rather than resurrected.
WINDOW_ADD = (
    HELPERS
    + """
local score, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local floor = server_ms() - window
if score <= floor then return 0 end
redis.call('ZADD', KEYS[1], score, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', floor)
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if excess > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1) end
expire_later(KEYS[1], math.ceil((score + window) / 1000))
return 1
"""
)
"""``RedisWindowAdd``: ARGV = member, score (epoch ms), window (ms), max members."""

REFRESH_SPEND = (
    HELPERS
    + """
local spender = redis.call('HGET', KEYS[1], ARGV[1])
if spender == ARGV[2] then return 0 end
local grace = tonumber(ARGV[9])
if spender and grace > 0 then
  local hex = string.sub((string.gsub(spender, '-', '')), 1, 12)
  local first_ms = tonumber(hex, 16)
  if first_ms and tonumber(ARGV[8]) - first_ms <= grace then
    if redis.call('EXISTS', KEYS[1]) == 0 then return 3 end
    redis.call('HSET', KEYS[1], ARGV[7], ARGV[2])
    return 4
  end
end
if spender then
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[7], ARGV[2]) end
  local current = redis.call('HGET', KEYS[2], 'event_id')
  if not current or ARGV[2] < current then hset_json(KEYS[2], ARGV[4]) end
  expire_later(KEYS[2], tonumber(redis.call('HGET', KEYS[1], ARGV[6])) or tonumber(ARGV[5]))
  return 2
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 3 end
hset_json(KEYS[1], ARGV[3])
return 1
"""
)
"""``RedisRefreshSpend`` (KEYS = session hash, its revocation hash; ARGV = spent field, event id,
rotation JSON, audit JSON, fallback expiry (s), expiry field, issued field, event ms, grace ms).
Returns 0 redelivery, 1 rotated, 2 reuse (session revoked), 3 session not in Redis, 4 a sibling
issued within the grace window."""

PROBE_WRITE = """
redis.call('SET', KEYS[1], '1')
redis.call('DEL', KEYS[1])
return 1
"""
"""The health probe: a write refused when Redis is out of memory or a read-only replica; the key
is deleted in the same atomic step, so no reader sees it."""


def batch_script(bodies: Mapping[str, str]) -> str:
    """A Lua script running ``bodies`` (kind -> a single-key body) per key, in order.

    Called as ``KEYS = [k1, ..., kn]``, ``ARGV[1] = JSON [[kind, arg1, ...], ...]`` with one
    entry per key; returns how many entries wrote (each body's own 1/0 result summed). Each kind
    runs the very body its single-operation script would (wrapped as a function of KEYS and
    ARGV), so conditions, expiry rules and error replies are the same by construction.
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
        HELPERS
        + functions
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


KIND_HSET_IF_LOWER = "l"
KIND_ZADD_EXTEND = "z"
BATCH = batch_script({KIND_HSET_IF_LOWER: HSET_IF_LOWER_BODY, KIND_ZADD_EXTEND: ZADD_EXTEND_BODY})
"""The projector's batch script: runs of ``RedisHashSetIfLower`` and ``RedisSortedSetAdd``."""
