"""A local mirror of a region's ``rev:v1:*`` keys, so a check costs set lookups, not a round trip.

How it stays correct:
- Loaded with SCAN after the keyspace-notification subscription is confirmed, so every write
  after the scan starts also arrives as a notification. A notification only says "this key
  changed": the mirror re-reads the key (EXISTS / HGET), so it never interprets event types.
- Freshness is proven, not assumed: every ``probe_interval_s`` the mirror writes its own probe key
  and waits for that write's notification. Redis delivers notifications in execution order, so
  once the probe's arrives (and the batch before it is applied) the mirror holds every
  revocation written before the probe was sent. ``state()`` answers only while the last proven
  point is at most ``max_staleness_s`` old; otherwise it returns None and the caller reads the
  stores directly. This also covers notifications switched off or a hung connection.
- Any error or reconnect of the subscription drops trust at once, and a new subscription starts
  with a full resync. A periodic resync repairs what notifications cannot report (FLUSHDB).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ResponseError

from schemas import names
from schemas.redis_client import as_text
from services.core.readmodel import REDIS_ERRORS
from services.verifier.mirrored import MirroredRevocations, is_user_key
from services.verifier.rule import RevocationState
from services.verifier.store import USER_FIELDS, parse_user_fields

log = logging.getLogger(__name__)
# K: keyspace channel; g: DEL/EXPIRE; h: hash writes; x: expiries; e: evictions.
NEEDED_EVENTS = "Kghxe"
BATCH_MAX = 1000


class RevocationMirror:
    def __init__(
        self,
        redis: Redis,
        *,
        max_staleness_s: float = 1.0,
        probe_interval_s: float = 0.2,
        resync_interval_s: float = 300.0,
        manage_notifications: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._max_staleness_s = max_staleness_s
        self._probe_interval_s = probe_interval_s
        self._resync_interval_s = resync_interval_s
        self._manage_notifications = manage_notifications
        self._clock = clock
        self._probe_key = names.redis_verifier_probe_key(uuid.uuid4().hex)
        db = redis.connection_pool.connection_kwargs.get("db", 0)
        self._channel_prefix = f"__keyspace@{db}__:"
        self._known = MirroredRevocations()
        self._fresh_as_of: float | None = None
        # Bounded: if probes go unanswered (notifications off) old ones fall out, and a late
        # answer is matched with an older send time, which only understates freshness.
        self._probes_in_flight: deque[float] = deque(maxlen=64)
        self._last_probe_at = float("-inf")
        self._lost = False
        self._proven = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def state(
        self, user_id: str, session_id: str, jti: str, kid: str = ""
    ) -> RevocationState | None:
        """The revocation state from the mirror, or None when it is not proven fresh."""
        fresh = self._fresh_as_of
        if fresh is None or self._clock() - fresh > self._max_staleness_s:
            return None
        return self._known.state(user_id, session_id, jti, kid)

    @property
    def fresh(self) -> bool:
        fresh = self._fresh_as_of
        return fresh is not None and self._clock() - fresh <= self._max_staleness_s

    def _trust(self, as_of: float) -> None:
        self._fresh_as_of = as_of
        self._proven.set()

    def _distrust(self) -> None:
        self._fresh_as_of = None
        self._proven.clear()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="revocation-mirror")

    async def wait_fresh(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._proven.wait(), timeout_s)
        return self.fresh

    async def close(self) -> None:
        # Stop cooperatively as well as by cancelling: a cancellation swallowed inside a client
        # call (pubsub reads can lose one) must not leave the loop running and close() waiting
        # forever, hanging the resource server's shutdown.
        self._closing = True
        self._distrust()
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=self._max_staleness_s + 5)
        if not done:
            log.error("revocation mirror did not stop; abandoning it")

    async def _run(self) -> None:
        backoff = 0.05
        while not self._closing:
            try:
                await self._follow()
            except (*REDIS_ERRORS, ValueError) as exc:
                log.warning(
                    "revocation mirror lost its feed; checks read the stores directly",
                    extra={"err": exc.__class__.__name__},
                )
            except Exception:
                log.exception("revocation mirror failed; checks read the stores directly")
            self._distrust()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _follow(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await self._subscribe(pubsub)
            synced_at = await self._resync()
            while (
                not self._lost
                and not self._closing
                and self._clock() - synced_at < self._resync_interval_s
            ):
                await self._pump(pubsub)
        finally:
            self._distrust()
            with contextlib.suppress(*REDIS_ERRORS):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _subscribe(self, pubsub: PubSub) -> None:
        if self._manage_notifications:
            await self._enable_notifications()
        self._lost = False
        self._probes_in_flight.clear()
        self._last_probe_at = float("-inf")
        await pubsub.psubscribe(
            self._channel_prefix + names.REDIS_REVOCATION_PATTERN,
            self._channel_prefix + self._probe_key,
        )
        confirmed = 0
        while confirmed < 2:  # the server subscribed us before the scan starts
            message = await pubsub.get_message(timeout=self._max_staleness_s)
            if message is None:
                raise TimeoutError("no subscription confirmation")
            confirmed += message["type"] == "psubscribe"
        if pubsub.connection is not None:
            pubsub.connection.register_connect_callback(self._on_reconnect)

    def _on_reconnect(self, _connection: Any) -> None:
        # redis-py re-subscribes by itself after a reconnect; what was written meanwhile was
        # never announced, so trust ends here and the follow loop starts over with a resync.
        self._distrust()
        self._lost = True

    async def _enable_notifications(self) -> None:
        try:
            current = as_text(
                (await self._redis.config_get("notify-keyspace-events")).get(
                    "notify-keyspace-events", ""
                )
            )
            missing = [flag for flag in NEEDED_EVENTS if not _has_flag(current, flag)]
            if missing:
                await self._redis.config_set("notify-keyspace-events", current + "".join(missing))
        except ResponseError as exc:
            # CONFIG may be disabled (managed Redis); the probe then tells whether it is on.
            log.warning("cannot manage notify-keyspace-events", extra={"err": str(exc)})

    async def _resync(self) -> float:
        started = self._clock()
        known, users = MirroredRevocations(), []
        async for raw in self._redis.scan_iter(match=names.REDIS_REVOCATION_PATTERN, count=1000):
            if (user_id := known.add_scanned(as_text(raw))) is not None:
                users.append(user_id)
        await self._read_users(users, known)
        self._known = known
        self._trust(started)
        log.info("revocation mirror synced", extra={"entries": len(known)})
        return started

    async def _read_users(self, users: list[str], known: MirroredRevocations) -> None:
        for start in range(0, len(users), BATCH_MAX):
            chunk = users[start : start + BATCH_MAX]
            pipe = self._redis.pipeline(transaction=False)
            for user_id in chunk:
                pipe.hmget(names.redis_user_not_before_key(user_id), USER_FIELDS)
            for user_id, raw in zip(chunk, await pipe.execute(), strict=True):
                known.set_user(user_id, parse_user_fields(raw))

    async def _pump(self, pubsub: PubSub) -> None:
        await self._probe_if_due()
        message = await pubsub.get_message(timeout=self._probe_interval_s / 2)
        batch = []
        while message is not None:
            batch.append(message)
            if len(batch) >= BATCH_MAX:
                break
            message = await pubsub.get_message(timeout=0)
        changes = [
            (self._key_of(m), as_text(m.get("data"))) for m in batch if m["type"] == "pmessage"
        ]
        probes = sum(1 for key, event in changes if key == self._probe_key and event == "hset")
        await self._reload([k for k, _ in changes if k is not None and k != self._probe_key])
        for _ in range(min(probes, len(self._probes_in_flight))):
            # Everything announced before this probe is applied: fresh as of when it was sent.
            self._trust(self._probes_in_flight.popleft())

    async def _probe_if_due(self) -> None:
        if self._clock() - self._last_probe_at < self._probe_interval_s:
            return
        sent = self._last_probe_at = self._clock()
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(self._probe_key, "sent", str(sent))
        pipe.pexpire(self._probe_key, int(max(self._max_staleness_s * 10, 10) * 1000))
        self._probes_in_flight.append(sent)
        await pipe.execute()

    def _key_of(self, message: dict[str, Any]) -> str | None:
        channel = as_text(message.get("channel"))
        return (
            channel[len(self._channel_prefix) :]
            if channel.startswith(self._channel_prefix)
            else None
        )

    async def _reload(self, keys: Iterable[str]) -> None:
        """Re-read each changed key: the store's current value, not the event, is the truth."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key in wanted:
            if is_user_key(key):
                pipe.hmget(key, USER_FIELDS)
            else:
                pipe.exists(key)
        for key, value in zip(wanted, await pipe.execute(), strict=True):
            self._known.apply(key, value)


def _has_flag(current: str, flag: str) -> bool:
    # "A" is the alias for every key-event class (g$lshzxet...), not for K or E.
    return flag in current or (flag not in "KE" and "A" in current)
