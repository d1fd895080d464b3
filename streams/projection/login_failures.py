"""login.failed -> login_failures_v1 and the per-user / per-IP sliding windows in Redis.

Every region projects every login.failed, so a failure in one region counts in all of them. The
window members are event ids scored by the failure time: a redelivered or replayed event is the
same member at the same score, so counting stays exact without exactly-once delivery. Windows
keep MAX_LOGIN_FAILURE_WINDOW_S of history; the login endpoint counts within its own (shorter or
equal) configured window.
"""

from __future__ import annotations

from schemas import names
from schemas.epoch import epoch_ms
from schemas.events import IpLockoutLifted, LoginFailed
from schemas.settings import MAX_LOGIN_FAILURE_WINDOW_S
from streams.operations import Operation, PgInsertIgnore, RedisHashSetIfGreater, RedisWindowAdd
from streams.record import Record

WINDOW_MS = MAX_LOGIN_FAILURE_WINDOW_S * 1000
MAX_MEMBERS = 1000
"""Enough to count past any sensible threshold; bounds memory under a password-spraying flood."""


def reduce(record: Record) -> list[Operation]:
    event = record.envelope
    payload: LoginFailed = event.payload
    # The user's window always; the address's too when the endpoint knew it.
    keys = [names.redis_login_failures_user_key(event.user_id)]
    if payload.client_ip:
        keys.append(names.redis_login_failures_ip_key(payload.client_ip))
    at_ms = epoch_ms(event.occurred_at)
    windows = [RedisWindowAdd(key, event.event_id, at_ms, WINDOW_MS, MAX_MEMBERS) for key in keys]
    row = {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "client_ip": payload.client_ip,
        "failed_at": event.occurred_at,
    }
    return [PgInsertIgnore(names.TABLE_LOGIN_FAILURES, row), *windows]


def reduce_ip_unlocked(record: Record) -> list[Operation]:
    """ip.unlocked -> ``lfail:v1:ipunlock:{ip}`` (the latest unlock wins, in any order). Postgres
    needs no row of its own: the event archive, keyed by the IP's subject id, answers the
    endpoint's fallback query."""
    event = record.envelope
    payload: IpLockoutLifted = event.payload
    cached = {
        names.UNLOCKED_AT_FIELD: str(epoch_ms(event.occurred_at)),
        names.UNLOCK_EVENT_FIELD: event.event_id,
    }
    key = names.redis_ip_unlock_key(payload.client_ip)
    return [RedisHashSetIfGreater(key, cached, compare_field=names.UNLOCK_EVENT_FIELD)]
