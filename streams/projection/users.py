"""user.registered -> users_v1 and ``user:v1:{id}``; the earliest registration wins.

Two regions may register the same username concurrently; both events carry the same user id
(derived from the username), and every region keeps the one with the smallest time-ordered event
id, whatever order the events arrive in and however often.
"""

from __future__ import annotations

from schemas import names
from schemas.epoch import epoch_s
from schemas.events import UserRegistered
from streams.operations import Operation, PgUpsertMin, RedisHashSetIfLower
from streams.record import Record


def reduce(record: Record) -> list[Operation]:
    event = record.envelope
    payload: UserRegistered = event.payload
    row = {
        "user_id": event.user_id,
        "username": payload.username,
        "password_hash": payload.password_hash,
        "registration_event_id": event.event_id,
        "registered_at": event.occurred_at,
        "origin_region": event.origin_region,
    }
    cached = {
        "user_id": event.user_id,
        "username": payload.username,
        "password_hash": payload.password_hash,
        "registration_event_id": event.event_id,
        "registered_at": str(epoch_s(event.occurred_at)),
        "origin_region": event.origin_region,
    }
    return [
        PgUpsertMin(names.TABLE_USERS, row, key="user_id", compare="registration_event_id"),
        RedisHashSetIfLower(
            names.redis_user_key(event.user_id), cached, compare_field="registration_event_id"
        ),
    ]
