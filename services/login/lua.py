"""Every Lua script the login endpoint runs on its region's Redis, in one module.

The projector's scripts are in ``streams/lua.py`` (services and streams never import each other).
These are the login endpoint's own: the atomic lockout reservation (its bookkeeping of password
checks in flight, never projected) and the read-your-own-writes copies of a session it has just
started or rotated, written so that they never overwrite what the projector wrote.
"""

from __future__ import annotations

# KEYS per window (user, then IP): failures zset, reservations zset, unlock hash.
# ARGV: now_ms, since_ms, reservation id, reservation expiry ms, lock_ms, growth, max_lock_ms,
#       unlock field, then per window: threshold.
RESERVE_LUA = """
local now = tonumber(ARGV[1])
local since = tonumber(ARGV[2])
local lock_ms, growth, max_lock = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local windows = #KEYS / 3
local function locked_until(count, latest, threshold)
  if count < threshold then return 0 end
  local factor = growth ^ math.min(count - threshold, 64)
  return latest + math.floor(math.min(lock_ms * factor, max_lock))
end
local busy = false
for w = 0, windows - 1 do
  local fails, held, unlock = KEYS[w * 3 + 1], KEYS[w * 3 + 2], KEYS[w * 3 + 3]
  local threshold = tonumber(ARGV[9 + w])
  redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
  local floor = tonumber(redis.call('HGET', unlock, ARGV[8])) or 0
  local lower = math.max(since, floor)
  local count = redis.call('ZCOUNT', fails, '(' .. lower, '+inf')
  local latest = redis.call('ZREVRANGEBYSCORE', fails, '+inf', '(' .. lower,
                            'WITHSCORES', 'LIMIT', 0, 1)
  local until_ms = 0
  if latest[2] then until_ms = locked_until(count, tonumber(latest[2]), threshold) end
  if until_ms > now then return {1, until_ms} end
  if count + redis.call('ZCARD', held) >= threshold then busy = true end
end
if busy then return {2, 0} end
for w = 0, windows - 1 do
  local held = KEYS[w * 3 + 2]
  redis.call('ZADD', held, tonumber(ARGV[4]), ARGV[3])
  redis.call('PEXPIREAT', held, tonumber(ARGV[4]))
end
return {0, 0}
"""

REFRESH_STATE_LUA = """
local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 3))
local disabled = false
if values[1] then disabled = redis.call('HGET', ARGV[1] .. values[1], ARGV[2]) end
values[#values + 1] = disabled
return values
"""
"""The refresh grant's one read: the session's fields (ARGV[3..], the first one ``user_id``) and
then, in the same atomic step, the user's disabled flag (field ARGV[2] of the account hash whose
key is ARGV[1] followed by the user id), appended last. The account key is derived from the
session, so it cannot be passed in KEYS; a single Redis (not a cluster) is what the login
endpoint uses."""

SESSION_LUA = """
for i = 2, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return 1
"""
"""ARGV: expiry (epoch s), then field/value pairs; each field set only if absent."""

ISSUED_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

REVOKED_LUA = """
local current = redis.call('HGET', KEYS[1], 'event_id')
if not current or ARGV[2] < current then
  redis.call('HSET', KEYS[1], 'event_id', ARGV[2])
  for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
local clock = redis.call('TIME')
local ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local pttl = redis.call('PTTL', KEYS[1])
if pttl < 0 or ms + pttl < tonumber(ARGV[1]) * 1000 then
  redis.call('EXPIREAT', KEYS[1], ARGV[1])
end
return 1
"""
"""A revocation queued in the outbox, applied here before it is forwarded. ARGV: expiry (epoch
s), event id, then field/value pairs. The projector's rule for ``rev:v1:*`` hashes: the earliest
event id keeps its fields, the expiry only moves later; so the projector's write of the same
event, when it is forwarded, changes nothing."""
