"""session.started -> sessions_v1, ``sess:v1:{sid}`` and the user's ``usess:v1:{uid}`` index.

The session hash only ever gains the start fields here (``schemas.session_hash``: only what a
reader uses); revocation (another projection) writes
its own fields into the same hash, so a start delivered after a revocation never clears it.
Session ids are random, but should two starts ever share one, the earliest start event wins
(in the row, the hash and the index score), so the outcome does not depend on delivery order.
"""

from __future__ import annotations

from schemas import names, session_hash
from schemas.epoch import epoch_ms, epoch_s
from schemas.events import SessionStarted
from streams.operations import Operation, PgUpsertMin, RedisHashSetIfLower, RedisSortedSetAdd
from streams.record import Record


def reduce(record: Record) -> list[Operation]:
    event = record.envelope
    payload: SessionStarted = event.payload
    row = {
        "session_id": payload.session_id,
        "user_id": event.user_id,
        "client_id": payload.client_id,
        "origin_region": event.origin_region,
        "started_at": event.occurred_at,
        "expires_at": payload.expires_at,
        "refresh_token_hash": payload.refresh_token_hash,
        "access_jti": payload.access_jti,
        "signing_kid": payload.signing_kid,
        "start_event_id": event.event_id,
        "user_revocation_seen": payload.user_revocation_seen or None,
        "scope": payload.scope,
        "audience": payload.audience,
    }
    expires_at = epoch_s(payload.expires_at)
    return [
        PgUpsertMin(names.TABLE_SESSIONS, row, key="session_id", compare="start_event_id"),
        RedisHashSetIfLower(
            names.redis_session_key(payload.session_id),
            session_hash.projected_fields(event),
            compare_field=session_hash.START_EVENT_FIELD,
            expire_at=expires_at,
        ),
        RedisSortedSetAdd(
            names.redis_user_sessions_key(event.user_id),
            member=payload.session_id,
            score=epoch_ms(event.occurred_at),
            expire_at=expires_at,
        ),
    ]
