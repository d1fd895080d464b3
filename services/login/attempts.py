"""Password checks reserved atomically before argon2, so concurrency cannot outrun the lockout.

Reading the failure windows and only later counting a failure (after argon2 and the log write)
let every request that arrived in the same instant see the same low count: 30 parallel guesses
all got checked. Now one Lua script, atomic in the region's Redis, reads both windows (per
attempted user and per client IP) together with the checks still in flight, and either refuses
or reserves one check in each window. A reservation counts as a failure until it is settled:
replaced by the logged failure (in the same MULTI, so no instant counts neither), or dropped on
success. At most ``max_failures`` checks per user (``ip_max_failures`` per IP) run in one
region per window, whatever the concurrency; once a lockout has lapsed, one check at a time.

Reservations are this endpoint's own bookkeeping, not projected state: they expire by
themselves (``ttl_ms``) should a process die between reserving and settling.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

from schemas import names
from services.login.lua import RESERVE_LUA

"""Returns {0, 0} reserved, {1, locked-until ms} locked out, {2, 0} refused: the checks in
flight would reach the threshold (each counts as a failure now until it is settled)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """The lockout rule, in ms: ``threshold`` failures within ``window_ms`` lock for ``lock_ms``
    times ``growth`` per further failure, at most ``max_lock_ms``."""

    max_failures: int
    ip_max_failures: int
    window_ms: int
    lock_ms: int
    growth: float
    max_lock_ms: int

    def locked_until_ms(self, count: int, latest_ms: int, threshold: int) -> int:
        """When a lockout over ``count`` failures (the latest at ``latest_ms``) ends; 0 if none."""
        if count < threshold:
            return 0
        # Exponent capped: growth ** 1000 would overflow a float long before the cap matters.
        factor = self.growth ** min(count - threshold, 64)
        return latest_ms + int(min(self.lock_ms * factor, self.max_lock_ms))


@dataclass(frozen=True, slots=True)
class Reservation:
    """One reserved password check: its member id and, per window, the (failures key,
    reservations key) pair it sits in."""

    member: str
    windows: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Refused:
    """No check may run now: ``until_ms`` a lockout's end (epoch ms), or 0 when only checks in
    flight stand in the way (they settle within about one argon2 verification)."""

    until_ms: int


def window_keys(user_id: str, ip: str) -> list[str]:
    """The Lua script's KEYS: per window its failures, reservations and unlock hash."""
    keys = [
        names.redis_login_failures_user_key(user_id),
        names.redis_login_attempts_user_key(user_id),
        names.redis_account_key(user_id),
    ]
    if ip:
        keys += [
            names.redis_login_failures_ip_key(ip),
            names.redis_login_attempts_ip_key(ip),
            names.redis_ip_unlock_key(ip),
        ]
    return keys


class Attempts:
    """Reserves and settles password checks in the region's Redis (errors propagate: the
    caller falls back to reading the windows elsewhere)."""

    def __init__(self, redis: Redis, policy: Policy, ttl_ms: int) -> None:
        self._redis = redis
        self._policy = policy
        self._ttl_ms = ttl_ms
        self._script = redis.register_script(RESERVE_LUA)

    async def reserve(self, user_id: str, ip: str, now_ms: int) -> Reservation | Refused:
        """Reserve one check in the user's (and the IP's) window, or say why not."""
        p = self._policy
        keys = window_keys(user_id, ip)
        member = str(uuid.uuid4())
        thresholds = [p.max_failures] + ([p.ip_max_failures] if ip else [])
        args: list[str | int] = [
            now_ms,
            now_ms - p.window_ms,
            member,
            now_ms + self._ttl_ms,
            p.lock_ms,
            repr(p.growth),
            p.max_lock_ms,
            names.UNLOCKED_AT_FIELD,
            *thresholds,
        ]
        outcome, until_ms = await self._script(keys=keys, args=args)
        if int(outcome) == 0:
            return Reservation(member, tuple(zip(keys[0::3], keys[1::3], strict=True)))
        return Refused(int(until_ms))

    async def settle(self, reservation: Reservation, failure: tuple[str, int] | None) -> None:
        """Drop the reservation; with ``failure`` (event id, epoch ms) count that failure in the
        same windows in the same MULTI, the member and score the projector will write too.
        Without ``failure`` the removals need no MULTI: each only drops this check's own hold."""
        pipe = self._redis.pipeline(transaction=failure is not None)
        for failures_key, held_key in reservation.windows:
            if failure is not None:
                # No expiry here: the projector's write of the same event sets it.
                pipe.zadd(failures_key, {failure[0]: failure[1]})
            pipe.zrem(held_key, reservation.member)
        await pipe.execute()
