"""Brute-force protection: failed logins counted per attempted username and per client IP.

Every failed password check is a login.failed event (acknowledged before the client hears
"wrong password"), keyed by the user id derived from the attempted username whether or not such a
user exists, so every region projects every failure and the counts agree everywhere. Before
verifying a password the endpoint reserves the check in both windows of its own region's Redis
(atomically, see services.login.attempts: concurrent guesses cannot all pass); at
``login_max_failures`` (or ``login_ip_max_failures``) failures within the window, attempts are
refused with 429 for ``login_lockout_s``, multiplied by ``login_lockout_growth`` for each failure
beyond the threshold (capped at ``login_lockout_max_s``), counted from the latest failure: the
lockout ends by itself. ``user.unlocked`` makes the user's earlier failures stop counting,
``ip.unlocked`` an IP's.

Across regions each region reserves on its own and learns the others' failures through the log,
so within one propagation delay at most ``login_max_failures`` x regions checks run per user.

The answer is the same for existing and unknown users: the windows exist for any username.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import unicodedata
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, tables
from schemas.envelope import Envelope, wrap
from schemas.epoch import epoch_ms, from_epoch_ms
from schemas.events import IpLockoutLifted, LoginFailed
from schemas.identity import InvalidUsername, ip_subject_id, normalize_username, user_id_for
from schemas.settings import Settings
from services.core.readmodel import REDIS_ERRORS, StoreUnavailable, read_with_fallback
from services.login.attempts import Attempts, Refused, Reservation
from services.login.attempts import Policy as Policy  # re-exported: the lockout rule
from services.login.clock import now_ms
from services.login.errors import LockedOut as LockedOut  # re-exported: the 429 it raises
from services.login.errors import Unavailable
from services.login.events import EventPublisher, PublishFailed

log = logging.getLogger(__name__)
RESERVATION_SLACK_S = 30.0
"""How long past the produce timeout a reserved check may take (argon2 queueing included)."""
IN_FLIGHT_RETRY_MS = 1000
"""Retry-After when only checks in flight refuse a new one: they settle within about that."""


def policy_from_settings(s: Settings) -> Policy:
    """The lockout rule in ms from the ``login_*`` settings."""
    return Policy(
        s.login_max_failures,
        s.login_ip_max_failures,
        s.login_failure_window_s * 1000,
        s.login_lockout_s * 1000,
        s.login_lockout_growth,
        s.login_lockout_max_s * 1000,
    )


@dataclass(frozen=True)
class Window:
    count: int = 0
    latest_ms: int = 0


def attempted_user_id(raw_username: str) -> str:
    """The user id failures of this username count against; an invalid username (which can never
    log in) still gets a stable id of its own, so it is throttled like any other."""
    try:
        return user_id_for(normalize_username(raw_username))
    except InvalidUsername:
        return user_id_for(unicodedata.normalize("NFKC", raw_username).strip().casefold())


def client_ip(peer: str | None, forwarded_for: str | None, trusted_hops: int) -> str:
    """The client address: the TCP peer, or with ``trusted_hops`` proxies in front the entry that
    many from the right of X-Forwarded-For (entries further left are client-supplied)."""
    if trusted_hops > 0 and forwarded_for:
        entries = [e.strip() for e in forwarded_for.split(",")]
        candidate = entries[-trusted_hops] if len(entries) >= trusted_hops else entries[0]
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            log.warning("ignoring a malformed X-Forwarded-For entry")
    return peer or ""


class Lockout:
    def __init__(
        self, redis: Redis, engine: AsyncEngine, settings: Settings, publisher: EventPublisher
    ) -> None:
        self._redis = redis
        self._engine = engine
        self._region = settings.region
        self._publisher = publisher
        self.policy = policy_from_settings(settings)
        # A reservation outlives the slowest settled check: argon2 plus the log write.
        ttl_ms = int((settings.produce_timeout_s + RESERVATION_SLACK_S) * 1000)
        self._attempts = Attempts(redis, self.policy, ttl_ms)

    async def refuse_if_locked(self, user_id: str, ip: str) -> Reservation | None:
        """Reserve one password check, or raise LockedOut (429) while a lockout holds or the
        checks already in flight would reach it; 503 if no store can tell (fail closed).

        Returns the reservation to settle (``record_failure`` or ``release``); None when Redis
        is down and the windows were read from Postgres (no reservation: degraded mode, the
        bound then holds only for sequential attempts)."""
        now = now_ms()
        try:
            outcome = await self._attempts.reserve(user_id, ip, now)
        except REDIS_ERRORS as exc:
            log.warning(
                "redis unavailable, reading failures from postgres", extra={"err": repr(exc)}
            )
        else:
            if isinstance(outcome, Refused):
                until = outcome.until_ms or now + IN_FLIGHT_RETRY_MS
                raise LockedOut(max(1, math.ceil((until - now) / 1000)))
            return outcome
        try:
            user, by_ip = await self.windows(user_id, ip, now)
        except StoreUnavailable:
            raise Unavailable("failure counts unreadable, try again") from None
        p = self.policy
        until = max(
            p.locked_until_ms(user.count, user.latest_ms, p.max_failures),
            p.locked_until_ms(by_ip.count, by_ip.latest_ms, p.ip_max_failures),
        )
        if until > now:
            raise LockedOut(max(1, math.ceil((until - now) / 1000)))
        return None

    async def release(self, reservation: Reservation | None) -> None:
        """Settle a check that did not fail (a correct password, or no answer given)."""
        if reservation is not None:
            # On a Redis error it expires by itself; until then it only errs on the safe side.
            with contextlib.suppress(*REDIS_ERRORS):
                await self._attempts.settle(reservation, None)

    async def windows(self, user_id: str, ip: str, now: int) -> tuple[Window, Window]:
        """(per user, per IP) failures counted at ``now`` (epoch ms). Raises
        ``StoreUnavailable`` when neither store answers."""
        since = now - self.policy.window_ms
        return await read_with_fallback(
            lambda: self._from_redis(user_id, ip, since),
            lambda: self._from_postgres(user_id, ip, since),
            "redis unavailable, counting failures in postgres",
        )

    async def _from_redis(self, user_id: str, ip: str, since: int) -> tuple[Window, Window]:
        pipe = self._redis.pipeline(transaction=False)
        user_key = names.redis_login_failures_user_key(user_id)
        pipe.zrangebyscore(user_key, f"({since}", "+inf", withscores=True)
        pipe.hget(names.redis_account_key(user_id), names.UNLOCKED_AT_FIELD)
        pipe.zrangebyscore(
            names.redis_login_failures_ip_key(ip), f"({since}", "+inf", withscores=True
        )
        pipe.hget(names.redis_ip_unlock_key(ip), names.UNLOCKED_AT_FIELD)
        user_hits, unlocked, ip_hits, ip_unlocked = await pipe.execute()
        # Failures up to the unlock time no longer count, whichever region saw them.
        by_ip = _counted(ip_hits, ip_unlocked) if ip else Window()
        return _counted(user_hits, unlocked), by_ip

    async def _from_postgres(self, user_id: str, ip: str, since: int) -> tuple[Window, Window]:
        t, acct = tables.login_failures, tables.user_accounts
        since_at = from_epoch_ms(since)
        unlocked = select(acct.c.unlocked_at).where(acct.c.user_id == user_id).scalar_subquery()
        user_q = select(func.count(), func.max(t.c.failed_at)).where(
            t.c.user_id == user_id,
            t.c.failed_at > since_at,
            (unlocked.is_(None)) | (t.c.failed_at > unlocked),
        )
        a = tables.event_archive
        ip_unlocked = (
            select(func.max(a.c.occurred_at))
            .where(a.c.user_id == ip_subject_id(ip), a.c.type == IpLockoutLifted.TYPE)
            .scalar_subquery()
        )
        ip_q = select(func.count(), func.max(t.c.failed_at)).where(
            t.c.client_ip == ip,
            t.c.failed_at > since_at,
            (ip_unlocked.is_(None)) | (t.c.failed_at > ip_unlocked),
        )
        async with self._engine.connect() as conn:
            user_row = (await conn.execute(user_q)).one()
            ip_row = (await conn.execute(ip_q)).one() if ip else (0, None)
        return _window(user_row), _window(ip_row)

    async def record_failure(
        self, user_id: str, ip: str, request_id: str, reservation: Reservation | None = None
    ) -> None:
        """Log a login.failed, acknowledged before the caller answers (an unrecorded failure must
        not be answered: a log outage would be a window for unthrottled guessing), then count it
        here at once in place of its reservation. Raises ``PublishFailed`` (answered 503) if the
        broker does not acknowledge; the reservation is then released: the guess got no answer."""
        envelope = wrap(
            LoginFailed(client_ip=ip),
            user_id=user_id,
            origin_region=self._region,
            correlation_id=request_id,
        )
        try:
            await self._publisher.publish(envelope)
        except PublishFailed:
            await self.release(reservation)
            raise
        if reservation is not None:
            try:
                at = epoch_ms(envelope.occurred_at)
                await self._attempts.settle(reservation, (envelope.event_id, at))
                return
            except REDIS_ERRORS:
                pass  # the reservation expires; the projector counts the failure
        await self.count_locally(envelope)

    async def count_locally(self, envelope: Envelope) -> None:
        """Add an acknowledged failure to this region's windows at once, without waiting for the
        projector: the same member at the same score it will write, so nothing counts twice."""
        at = epoch_ms(envelope.occurred_at)
        keys = [names.redis_login_failures_user_key(envelope.user_id)]
        if envelope.payload.client_ip:
            keys.append(names.redis_login_failures_ip_key(envelope.payload.client_ip))
        try:
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                # No expiry here: the projector's write of the same event sets it (later only).
                pipe.zadd(key, {envelope.event_id: at})
            await pipe.execute()
        except REDIS_ERRORS:
            pass  # the projector writes it anyway; this only closes the projection lag


def _counted(hits: list[tuple[Any, float]], unlocked: Any) -> Window:
    floor = int(unlocked) if unlocked else 0
    counted = [int(score) for _, score in hits if score > floor]
    return Window(len(counted), max(counted, default=0))


def _window(row: Any) -> Window:
    count, latest = row
    if not count or latest is None:
        return Window()
    return Window(int(count), epoch_ms(latest))
