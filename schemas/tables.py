"""The Postgres read models and the event archive (SQLAlchemy Core), defined once.

Written only by the projector and the replay tool; read by the services. Alembic migrations in
``migrations/`` create exactly these tables, and a test checks that they match.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from schemas import names

metadata = MetaData()

event_archive = Table(
    names.TABLE_EVENT_ARCHIVE,
    metadata,
    # The event id is the idempotency evidence: an event is archived once, however often it is
    # delivered or replayed.
    Column("event_id", UUID(as_uuid=False), primary_key=True),
    Column("type", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("user_id", Text, nullable=False, index=True),
    Column("origin_region", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("topic", Text, nullable=False),
    # Where the event sat in the log, so `reseed` can republish each partition in its order.
    Column("log_partition", Integer, nullable=False),
    Column("log_offset", BigInteger, nullable=False),
    # The exact bytes from the log: republishing them reproduces the event bit for bit.
    Column("body", LargeBinary, nullable=False),
    Column("archived_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

users = Table(
    names.TABLE_USERS,
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("username", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    # The earliest registration (smallest time-ordered event id) wins, in any delivery order.
    Column("registration_event_id", UUID(as_uuid=False), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("origin_region", Text, nullable=False),
)

sessions = Table(
    names.TABLE_SESSIONS,
    metadata,
    Column("session_id", Text, primary_key=True),
    Column("user_id", Text, nullable=False, index=True),
    Column("client_id", Text, nullable=False),
    Column("origin_region", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("refresh_token_hash", Text, nullable=False),
    Column("access_jti", Text, nullable=False),
    Column("signing_kid", Text, nullable=False),
    Column("start_event_id", UUID(as_uuid=False), nullable=False),
    # SessionStarted.user_revocation_seen; NULL for sessions logged before it existed. Text, not
    # UUID: a malformed value in an event must not make the row unwritable.
    Column("user_revocation_seen", Text, nullable=True),
)

signing_keys = Table(
    names.TABLE_SIGNING_KEYS,
    metadata,
    Column("kid", Text, primary_key=True),
    Column("region", Text, nullable=False),
    Column("alg", Text, nullable=False),
    Column("public_jwk", JSONB, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("event_id", UUID(as_uuid=False), nullable=False),
    # The publishing region's token issuer; NULL for keys published before events carried it.
    Column("issuer", Text, nullable=True),
)

revocations = Table(
    names.TABLE_REVOCATIONS,
    metadata,
    # One row per revocation event: the durable record and the audit trail. Checks read it when
    # Redis is unreachable; which revocation came first does not matter, any match revokes.
    Column("event_id", UUID(as_uuid=False), primary_key=True),
    Column("kind", Text, nullable=False),  # session | token | user
    Column("subject", Text, nullable=False),  # session id, jti or user id
    Column("user_id", Text, nullable=False, index=True),
    Column("session_id", Text, nullable=True),
    Column("not_before", DateTime(timezone=True), nullable=True),
    Column("reason", Text, nullable=False),
    Column("revoked_by", Text, nullable=False),
    Column("origin_region", Text, nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
    Column("affects_until", DateTime(timezone=True), nullable=False),
    Index("revocations_v1_kind_subject", "kind", "subject"),
)

replay_checkpoints = Table(
    names.TABLE_REPLAY_CHECKPOINTS,
    metadata,
    # Where an interrupted replay resumes: per replay target and partition, the next offset to
    # read. Written only after a batch is in the stores, so a crash redoes at most one batch.
    Column("target", Text, primary_key=True),
    Column("topic", Text, primary_key=True),
    Column("log_partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)

refresh_tokens = Table(
    names.TABLE_REFRESH_TOKENS,
    metadata,
    # Every refresh token ever issued, by hash. ``spent_by_event_id`` is set by the first
    # token.refreshed that spends it, in log order; a second spender is reuse (theft).
    Column("refresh_hash", Text, primary_key=True),
    Column("session_id", Text, nullable=False, index=True),
    Column("user_id", Text, nullable=False),
    Column("issued_by_event_id", UUID(as_uuid=False), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("spent_by_event_id", UUID(as_uuid=False), nullable=True),
    Column("spent_at", DateTime(timezone=True), nullable=True),
)

user_accounts = Table(
    names.TABLE_USER_ACCOUNTS,
    metadata,
    # What changes about a user after registration. Each group of columns is written by the
    # latest event of its kind (greatest event id), so delivery order does not matter.
    Column("user_id", Text, primary_key=True),
    Column("password_hash", Text, nullable=True),
    Column("password_event_id", UUID(as_uuid=False), nullable=True),
    Column("password_changed_at", DateTime(timezone=True), nullable=True),
    Column("disabled", Boolean, nullable=False, server_default=text("false")),
    Column("status_event_id", UUID(as_uuid=False), nullable=True),
    Column("status_reason", Text, nullable=True),
    Column("unlocked_at", DateTime(timezone=True), nullable=True),
    Column("unlock_event_id", UUID(as_uuid=False), nullable=True),
    # The latest user.password_rehashed: a new hash of the password that the event named by
    # rehash_of_event_id set; readers use it only while that event's password is current.
    Column("rehash_event_id", UUID(as_uuid=False), nullable=True),
    Column("rehash_of_event_id", Text, nullable=True),
    Column("rehashed_password_hash", Text, nullable=True),
)

signing_key_status = Table(
    names.TABLE_SIGNING_KEY_STATUS,
    metadata,
    Column("kid", Text, primary_key=True),
    Column("retired_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoke_reason", Text, nullable=True),
    Column("revoked_by", Text, nullable=True),
)

login_failures = Table(
    names.TABLE_LOGIN_FAILURES,
    metadata,
    Column("event_id", UUID(as_uuid=False), primary_key=True),
    Column("user_id", Text, nullable=False, index=True),
    Column("client_ip", Text, nullable=False, index=True),
    Column("failed_at", DateTime(timezone=True), nullable=False),
)

deadletters = Table(
    names.TABLE_DEADLETTERS,
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("source_topic", Text, nullable=False),
    Column("log_partition", Integer, nullable=False),
    Column("log_offset", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    UniqueConstraint("source_topic", "log_partition", "log_offset", name="deadletters_v1_position"),
)

login_outbox = Table(
    names.TABLE_LOGIN_OUTBOX,
    metadata,
    # Written by the login endpoint (the emergency channel), deleted by its relay once the log
    # acknowledged the row's event. ``seq`` is the relay's order; the event id is the idempotency
    # key: a row re-sent after a crash between the ack and the delete is the same event.
    Column("seq", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("partition_key", Text, nullable=False, index=True),
    Column("topic", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
)
