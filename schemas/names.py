"""Every literal that crosses a process boundary, named once.

Read models carry their version in the name (``sessions_v1``, ``sess:v1:{id}``): a new shape is a
new name plus a replay, never an in-place rewrite. The one exception: a field no reader reads may
stop being written, listed as retired so the replay's snapshot ignores it
(``schemas.session_hash.RETIRED_FIELDS``).
"""

from __future__ import annotations

# -- Kafka topics ------------------------------------------------------------------------------
TOPIC_EVENTS = "authplane.events.v1"
"""User, session, token and signing-key events, keyed by user id."""
TOPIC_REVOCATIONS = "authplane.revocations.v1"
"""Session, token and user revocations, keyed by user id."""
TOPIC_DEADLETTER = "authplane.deadletter.v1"
"""Events a projector could not decode or apply, with the reason in a header."""

EVENT_TOPICS = (TOPIC_EVENTS, TOPIC_REVOCATIONS)

SYSTEM_PARTITION_KEY = "_system"
"""Partition key of events that belong to no user (signing keys)."""

HEADER_DEADLETTER_REASON = "authplane-deadletter-reason"
HEADER_DEADLETTER_SOURCE = "authplane-deadletter-source"
HEADER_DEADLETTER_REGION = "authplane-deadletter-region"


def consumer_group(region: str) -> str:
    """Each region's projector is its own consumer group over the event topics."""
    return f"authplane-projector-{region}"


# -- Postgres tables ---------------------------------------------------------------------------
TABLE_EVENT_ARCHIVE = "event_archive_v1"
TABLE_USERS = "users_v1"
TABLE_SESSIONS = "sessions_v1"
TABLE_SIGNING_KEYS = "signing_keys_v1"
TABLE_DEADLETTERS = "deadletters_v1"
TABLE_REVOCATIONS = "revocations_v1"
TABLE_REPLAY_CHECKPOINTS = "replay_checkpoints_v1"
TABLE_REFRESH_TOKENS = "refresh_tokens_v1"
TABLE_USER_ACCOUNTS = "user_accounts_v1"
TABLE_SIGNING_KEY_STATUS = "signing_key_status_v1"
TABLE_LOGIN_FAILURES = "login_failures_v1"
TABLE_OAUTH_CLIENTS = "oauth_clients_v1"  # issue 12
TABLE_LOGIN_OUTBOX = "login_outbox_v1"
"""The emergency login channel: events a region answered for before the log acknowledged them."""
OUTBOX_RELAY_LOCK = 0x6F7574626F78
"""The Postgres advisory lock (bigint) held by the one relay of a region forwarding its outbox."""


# -- Redis keys ----------------------------------------------------------------------------------
def redis_user_key(user_id: str) -> str:
    return f"user:v1:{user_id}"


def redis_session_key(session_id: str) -> str:
    return f"sess:v1:{session_id}"


# Fields of ``sess:v1:{sid}`` the refresh projection writes (only the token.refreshed that wins
# writes them; session.started sets the first refresh_token_hash), read by the refresh grant.
SESSION_REFRESH_HASH_FIELD = "refresh_token_hash"
"""The session's current (unspent) refresh token hash."""
SESSION_PREVIOUS_HASH_FIELD = "refresh_prev_hash"
"""The hash whose exchange issued the current one (the grace-window retry compares to it)."""
SESSION_LAST_ACTIVE_FIELD = "last_active_ms"
"""Epoch ms of the latest rotation (absent until the first one: the start time counts)."""
SESSION_EXPIRES_FIELD = "expires_at"
"""Field of ``sess:v1:{sid}``: when the session ends, epoch **seconds** (rounded up)."""

# Fields of ``rev:v1:*`` revocation entries, written by the projector, read by verifiers.
REVOCATION_NOT_BEFORE_FIELD = "not_before_ms"
"""Epoch ms: credentials issued before it are revoked (greatest wins)."""

# Fields of ``acct:v1:{uid}`` and ``lfail:v1:ipunlock:{ip}`` (latest wins), read by the login
# endpoint and ``authctl``.
ACCOUNT_DISABLED_FIELD = "disabled"
"""``"1"`` while the user is disabled, ``"0"`` once enabled again."""
UNLOCKED_AT_FIELD = "unlocked_at_ms"
"""Epoch ms of the latest unlock: failures up to it no longer count."""
UNLOCK_EVENT_FIELD = "unlock_event_id"
"""Event id of that latest unlock (the tie-breaker of the latest-wins write)."""

# Field of ``user:v1:{uid}`` (and column of the users table), written by the projector, read by
# ``authctl user create --wait``.
USER_REGISTRATION_FIELD = "registration_event_id"
"""Event id of the user.registered the region keeps (the earliest registration wins)."""


def redis_session_spent_field(refresh_hash: str) -> str:
    """Field of ``sess:v1:{sid}``: the event id that spent this refresh hash of the session."""
    return f"spent:{refresh_hash}"


def redis_session_issued_field(refresh_hash: str) -> str:
    """Field of ``sess:v1:{sid}``: the event id that issued this refresh hash by a rotation or a
    grace-window sibling (the start's hash is the session's ``refresh_token_hash``)."""
    return f"issued:{refresh_hash}"


def redis_user_sessions_key(user_id: str) -> str:
    return f"usess:v1:{user_id}"


def redis_signing_keys_key() -> str:
    return "jwks:v1"


def redis_revoked_session_key(session_id: str) -> str:
    return f"rev:v1:sess:{session_id}"


def redis_revoked_token_key(jti: str) -> str:
    return f"rev:v1:jti:{jti}"


def redis_user_not_before_key(user_id: str) -> str:
    """The user's user-wide revocations: ``not_before_ms`` (greatest wins) and the greatest
    revocation event id (``USER_REVOCATION_LATEST_FIELD``)."""
    return f"rev:v1:user:{user_id}"


USER_REVOCATION_LATEST_FIELD = "latest_event_id"
"""Field of ``rev:v1:user:{uid}``: the greatest event id of the user's user-wide revocations."""
USER_REVOCATION_ORDER_FIELD = "latest_order"
"""Field of ``rev:v1:user:{uid}``: that id with every hex digit complemented, so the projector's
keep-the-smallest write keeps the greatest id (and the entry's expiry rule) in one script."""
SESSION_REVOCATION_SEEN_FIELD = "user_revocation_seen"
"""Field of ``sess:v1:{sid}``: the session's ``SessionStarted.user_revocation_seen``."""
USER_REVOCATION_SEEN_CLAIM = "rev_seen"
"""Access-token claim: the greatest user-wide revocation id the issuing region had applied when
the session started (``NO_USER_REVOCATION`` if none); the revocation rule compares with it."""
NO_USER_REVOCATION = "00000000-0000-0000-0000-000000000000"
"""The nil UUID: "no user-wide revocation seen". It sorts before every event id."""


def redis_projector_heartbeat_key(region: str) -> str:
    return f"projector:v1:heartbeat:{region}"


def redis_projector_pause_key(region: str) -> str:
    """Set (with a TTL, renewed while it runs) by a replay asking the live projector to pause."""
    return f"projector:v1:pause:{region}"


def redis_projector_paused_key(region: str) -> str:
    """The live projector's answer: it holds no batch and takes none until the pause ends."""
    return f"projector:v1:paused:{region}"


def redis_revoked_signing_key_key(kid: str) -> str:
    """A revoked (compromised) signing key: every token it signed is revoked. Never expires."""
    return f"rev:v1:kid:{kid}"


def redis_retired_signing_keys_key() -> str:
    """Hash kid -> event id of every retired key (no longer listed or accepted)."""
    return "jwks:v1:retired"


def redis_revoked_signing_keys_key() -> str:
    """Hash kid -> event id of every revoked key, so a JWKS read lists them in one round trip."""
    return "jwks:v1:revoked"


def redis_account_key(user_id: str) -> str:
    """What changed about a user after registration: password, disabled, unlocked (latest wins)."""
    return f"acct:v1:{user_id}"


def redis_login_failures_user_key(user_id: str) -> str:
    """Sorted set of login.failed event ids scored by epoch ms, per attempted user id."""
    return f"lfail:v1:user:{user_id}"


def redis_login_failures_ip_key(client_ip: str) -> str:
    """Sorted set of login.failed event ids scored by epoch ms, per client IP."""
    return f"lfail:v1:ip:{client_ip}"


def redis_login_attempts_user_key(user_id: str) -> str:
    """Sorted set of password checks in flight for an attempted user id (login endpoint's own
    bookkeeping, not projected), scored by when each reservation expires (epoch ms)."""
    return f"lres:v1:user:{user_id}"


def redis_login_attempts_ip_key(client_ip: str) -> str:
    """Sorted set of password checks in flight from a client IP, as the per-user one."""
    return f"lres:v1:ip:{client_ip}"


def redis_ip_unlock_key(client_ip: str) -> str:
    """Hash: the latest ``ip.unlocked`` of a client IP (``unlocked_at_ms``, ``unlock_event_id``);
    the IP's failures up to it no longer count."""
    return f"lfail:v1:ipunlock:{client_ip}"


# -- OAuth clients (issue 12) ------------------------------------------------------------------
def client_partition_key(client_id: str) -> str:
    """Partition key of every client event: per-client order; clients belong to no user."""
    return "client:" + client_id


def redis_client_key(client_id: str) -> str:
    """Hash of one registered OAuth client (``oauth_clients_v1`` row's fields; lists as JSON)."""
    return f"client:v1:{client_id}"


DEV_PUBLIC_CLIENT_ID = "authplane-cli"
"""Dev stack: first-party public client allowed the password and refresh_token grants."""
DEV_SERVICE_CLIENT_ID = "authplane-service"
"""Dev stack: confidential service client (client_secret_basic, client_credentials)."""
DEV_RESOURCE_SERVER_ID = "authplane-api"
"""Dev stack: confidential resource server allowed to introspect (RFC 7662)."""
DEV_AUDIENCE = "https://api.authplane.dev"
"""Dev stack: the resource server's audience (RFC 8707 resource), every dev client's default."""


REDIS_REVOCATION_PATTERN = "rev:v1:*"
"""Every revocation key (SCAN match pattern and keyspace-notification pattern)."""


def redis_verifier_probe_key(instance: str) -> str:
    """Written by an in-process verifier to prove its keyspace-notification feed is live."""
    return f"verifier:v1:probe:{instance}"


REDIS_KEY_PREFIXES = (
    "user:v1:",
    "sess:v1:",
    "usess:v1:",
    "jwks:v1",
    "rev:v1:",
    "projector:v1:",
    "verifier:v1:",
    "acct:v1:",
    "lfail:v1:",
    "lres:v1:",
    "client:v1:",
    "cjti:v1:",
)


# -- issue 12: client authentication (login side) ----------------------------------------------


def redis_client_assertion_key(client_id: str, jti: str) -> str:
    """String, set once (SET NX) with the assertion's remaining lifetime: a ``private_key_jwt``
    client assertion's ``jti`` already used (RFC 7523 §3 item 7). Regional, like the lockout."""
    return f"cjti:v1:{client_id}:{jti}"


SESSION_SCOPE_FIELD = "scope"
"""Field of ``sess:v1:{sid}``: the session's granted scope (SessionStarted.scope)."""
SESSION_AUDIENCE_FIELD = "audience"
"""Field of ``sess:v1:{sid}``: the session's audience (SessionStarted.audience)."""


# -- The front door (issue 11: HAProxy in front of the login endpoints) -----------------------
HEADER_FORWARDED_FOR = "X-Forwarded-For"
"""The client address the front door passes on (it replaces whatever the client sent)."""
HEADER_SERVED_BY = "X-Authplane-Region"
"""Set by the front door on every answer: the region whose login endpoint answered."""
