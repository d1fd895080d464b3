"""Reducers are pure functions from a logged event to operations: checked without any store."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import names
from schemas.codec import encode
from schemas.envelope import Envelope, Payload, new_event_id, wrap
from schemas.events import SessionStarted, SigningKeyPublished, UserRegistered
from schemas.identity import user_id_for
from streams.operations import (
    Operation,
    PgInsertIgnore,
    PgUpsertMin,
    RedisHashSetIfLower,
    RedisJsonFieldSetIfLower,
    RedisSortedSetAdd,
)
from streams.projection import reduce
from streams.record import LogPosition, Record

T0 = datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC)
ALICE = user_id_for("alice")
JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}


def make_record(
    payload: Payload,
    *,
    user_id: str | None = ALICE,
    region: str = "eu",
    at: datetime = T0,
    event_id: str | None = None,
    offset: int = 7,
    topic: str = names.TOPIC_EVENTS,
) -> Record:
    envelope = wrap(
        payload,
        user_id=user_id,
        origin_region=region,
        correlation_id="corr-1",
        occurred_at=at,
        event_id=event_id or new_event_id(int(at.timestamp() * 1000)),
    )
    return Record(envelope, LogPosition(topic, 3, offset), encode(envelope))


HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"


def registered(username: str = "alice", password_hash: str = HASH) -> UserRegistered:
    return UserRegistered(username=username, password_hash=password_hash)


def session(sid: str = "s-1", expires_at: datetime = T0 + timedelta(days=30)) -> SessionStarted:
    return SessionStarted(
        session_id=sid,
        client_id="web",
        access_jti="jti-1",
        refresh_token_hash="rth-1",
        signing_kid="kid-eu",
        expires_at=expires_at,
    )


def key_published(kid: str = "kid-eu") -> SigningKeyPublished:
    return SigningKeyPublished(
        kid=kid, region="eu", alg="EdDSA", public_jwk=JWK, issuer="https://eu.authplane.test"
    )


def _archive_row(envelope: Envelope, body: bytes) -> dict[str, Any]:
    return {
        "event_id": envelope.event_id,
        "type": envelope.type,
        "version": envelope.version,
        "user_id": envelope.user_id,
        "origin_region": envelope.origin_region,
        "occurred_at": envelope.occurred_at,
        "topic": names.TOPIC_EVENTS,
        "log_partition": 3,
        "log_offset": 7,
        "body": body,
    }


@pytest.mark.parametrize("payload", [registered(), session(), key_published()])
def test_every_event_is_archived_once_by_event_id_with_its_exact_bytes(payload: Payload) -> None:
    record = make_record(
        payload, user_id=None if isinstance(payload, SigningKeyPublished) else ALICE
    )
    archive = reduce(record)[0]
    assert archive == PgInsertIgnore(
        names.TABLE_EVENT_ARCHIVE, _archive_row(record.envelope, record.body)
    )


def test_an_event_type_without_projections_is_only_archived() -> None:
    record = make_record(registered())
    future = Envelope(**{**_fields(record.envelope), "type": "user.renamed"})
    operations = reduce(Record(future, record.position, record.body))
    assert [op.table for op in operations if isinstance(op, PgInsertIgnore)] == [
        names.TABLE_EVENT_ARCHIVE
    ]
    assert len(operations) == 1


def test_a_registration_keeps_the_earliest_event_in_postgres_and_redis() -> None:
    record = make_record(registered(), region="us")
    event_id = record.envelope.event_id
    _, pg, redis = reduce(record)
    assert pg == PgUpsertMin(
        names.TABLE_USERS,
        {
            "user_id": ALICE,
            "username": "alice",
            "password_hash": HASH,
            "registration_event_id": event_id,
            "registered_at": T0,
            "origin_region": "us",
        },
        key="user_id",
        compare="registration_event_id",
    )
    assert redis == RedisHashSetIfLower(
        names.redis_user_key(ALICE),
        {
            "user_id": ALICE,
            "username": "alice",
            "password_hash": HASH,
            "registration_event_id": event_id,
            "registered_at": str(int(T0.timestamp())),
            "origin_region": "us",
        },
        compare_field="registration_event_id",
    )


def test_a_session_start_writes_row_hash_with_expiry_and_user_index() -> None:
    expires = T0 + timedelta(hours=1)
    record = make_record(session("s-9", expires))
    _, pg, hash_op, index_op, *_refresh_row = reduce(record)
    assert isinstance(pg, PgUpsertMin)
    assert (pg.table, pg.key, pg.compare) == (names.TABLE_SESSIONS, "session_id", "start_event_id")
    assert pg.row["started_at"] == T0
    assert pg.row["expires_at"] == expires
    assert pg.row["start_event_id"] == record.envelope.event_id
    assert hash_op == RedisHashSetIfLower(
        names.redis_session_key("s-9"),
        # Only what a reader uses: the session id is the key; origin, access jti and signing
        # key id stay in the Postgres row (bytes per active session, issue 13).
        {
            "user_id": ALICE,
            "client_id": "web",
            "started_at": str(int(T0.timestamp())),
            "expires_at": str(int(expires.timestamp())),
            "refresh_token_hash": "rth-1",
            "start_event_id": record.envelope.event_id,
        },
        compare_field="start_event_id",
        expire_at=int(expires.timestamp()),
    )
    assert index_op == RedisSortedSetAdd(
        names.redis_user_sessions_key(ALICE),
        member="s-9",
        score=int(T0.timestamp() * 1000),
        expire_at=int(expires.timestamp()),
    )


def test_a_session_index_score_is_the_exact_start_millisecond() -> None:
    """The user's session index is scored in epoch ms of the start. A float conversion read
    2004-02-08T07:49:54.837Z as ...836 (issue 9 replaced it with schemas.epoch.epoch_ms): the
    stored score moves by that 1 ms to the instant itself, as every other process computes it."""
    at = datetime(2004, 2, 8, 7, 49, 54, 837_000, tzinfo=UTC)
    operations = reduce(make_record(session("s-ms"), at=at))
    scores = [op.score for op in operations if isinstance(op, RedisSortedSetAdd)]
    assert scores == [1_076_226_594_837]


def test_a_session_records_the_user_revocation_it_was_issued_under() -> None:
    seen = "018f3a6e-2c40-7a1b-8c3d-4e5f60718293"
    payload = dataclasses.replace(session("s-9"), user_revocation_seen=seen)
    _, pg, hash_op, *_ = reduce(make_record(payload))
    assert isinstance(pg, PgUpsertMin)
    assert isinstance(hash_op, RedisHashSetIfLower)
    assert pg.row["user_revocation_seen"] == seen
    assert hash_op.mapping[names.SESSION_REVOCATION_SEEN_FIELD] == seen
    # A session logged before the field existed has no evidence: NULL, and no hash field.
    _, legacy_pg, legacy_hash, *_ = reduce(make_record(session("s-8")))
    assert isinstance(legacy_pg, PgUpsertMin)
    assert isinstance(legacy_hash, RedisHashSetIfLower)
    assert legacy_pg.row["user_revocation_seen"] is None
    assert names.SESSION_REVOCATION_SEEN_FIELD not in legacy_hash.mapping


def test_a_session_hash_never_names_a_revocation_field() -> None:
    # Revocation writes its own fields into the same hash; a (late) start must not touch them.
    hash_op = reduce(make_record(session()))[2]
    assert isinstance(hash_op, RedisHashSetIfLower)
    assert not any("revoked" in field for field in hash_op.mapping)


def test_a_published_key_lands_in_the_table_and_the_jwks_hash_first_publication_wins() -> None:
    record = make_record(key_published("kid-7"), user_id=None)
    event_id = record.envelope.event_id
    _, pg, redis = reduce(record)
    assert pg == PgUpsertMin(
        names.TABLE_SIGNING_KEYS,
        {
            "kid": "kid-7",
            "region": "eu",
            "alg": "EdDSA",
            "public_jwk": JWK,
            "published_at": T0,
            "event_id": event_id,
            "issuer": "https://eu.authplane.test",
        },
        key="kid",
        compare="event_id",
    )
    assert redis == RedisJsonFieldSetIfLower(
        names.redis_signing_keys_key(),
        "kid-7",
        {
            "kid": "kid-7",
            "region": "eu",
            "alg": "EdDSA",
            "public_jwk": JWK,
            "published_at": T0,
            "event_id": event_id,
            "issuer": "https://eu.authplane.test",
        },
        compare="event_id",
    )


@pytest.mark.parametrize("payload", [registered(), session(), key_published()])
def test_reducing_the_same_record_twice_gives_the_same_operations(payload: Payload) -> None:
    record = make_record(payload)
    first: list[Operation] = reduce(record)
    assert reduce(record) == first


def _fields(envelope: Envelope) -> dict[str, Any]:
    return {name: getattr(envelope, name) for name in Envelope.__dataclass_fields__}
