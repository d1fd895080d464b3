"""Event classes: past-tense names, dotted type strings, explicit versions, frozen.

Evolve an event by adding fields with defaults. When a shape must change, add a new version class
plus an upcaster in ``UPCASTERS`` and keep a golden file of the old version under
``tests/unit/golden/``; the log is never rewritten. ``schemas.upcasters`` is the worked example
(``signing_key.published`` v1 -> v2) with its golden files in ``tests/unit/golden/upcast/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from schemas.client_events import CLIENT_EVENT_CLASSES
from schemas.envelope import Payload


@dataclass(frozen=True, slots=True)
class UserRegistered:
    """A user account was created. The earliest registration of a user id wins everywhere."""

    TYPE: ClassVar[str] = "user.registered"
    VERSION: ClassVar[int] = 1

    username: str
    # The argon2id PHC string. It travels on the log so that every region can verify passwords;
    # the topic must be access-controlled like a credential store. Never logged.
    password_hash: str


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """A password login succeeded and a session with its first token pair was issued."""

    TYPE: ClassVar[str] = "session.started"
    VERSION: ClassVar[int] = 1

    session_id: str
    client_id: str
    access_jti: str
    refresh_token_hash: str
    signing_kid: str
    expires_at: datetime
    # The greatest user-wide revocation event id (user.revoked, user.password_changed,
    # user.disabled) the issuing region had applied when it issued the session; the nil UUID if
    # none. A user-wide revocation kills exactly the sessions whose value is smaller, whatever the
    # clocks say. "" (events written before this field existed): no such evidence, the clock
    # rule decides.
    user_revocation_seen: str = ""
    # Issue 12: what the session was granted, so a refresh keeps it (RFC 6749 §6) and may only
    # narrow it: the space-separated scope, and the audience (an RFC 8707 resource) its access
    # tokens carry as ``aud``. "" in sessions logged before they existed: no scope, and the
    # client's default audience.
    scope: str = ""
    audience: str = ""


@dataclass(frozen=True, slots=True)
class SigningKeyPublished:
    """A region's public signing key, so every region can verify that region's tokens."""

    TYPE: ClassVar[str] = "signing_key.published"
    VERSION: ClassVar[int] = 1

    kid: str
    region: str
    alg: str
    public_jwk: Mapping[str, str]
    # The region's token issuer: the key verifies only tokens whose ``iss`` is this. Empty in
    # events written before the field existed (verifiers then use the region's default issuer).
    issuer: str = ""


# -- revocations: on names.TOPIC_REVOCATIONS, keyed by user id ---------------------------------
# Who, why, when and where of each revocation is its audit record: ``revoked_by`` and ``reason``
# here, the time and region in the envelope. ``affects_until`` bounds how long a token the
# revocation affects can still be valid, so the hot-state entry can expire then.


@dataclass(frozen=True, slots=True)
class SessionRevoked:
    """A session and every token of it are revoked, in every region, whatever arrives first."""

    TYPE: ClassVar[str] = "session.revoked"
    VERSION: ClassVar[int] = 1

    session_id: str
    reason: str
    revoked_by: str
    affects_until: datetime


@dataclass(frozen=True, slots=True)
class TokenRevoked:
    """One access token (by ``jti``) is revoked."""

    TYPE: ClassVar[str] = "token.revoked"
    VERSION: ClassVar[int] = 1

    jti: str
    session_id: str
    reason: str
    revoked_by: str
    affects_until: datetime


@dataclass(frozen=True, slots=True)
class UserRevoked:
    """Every session and token of the user issued before ``not_before`` is revoked; the latest
    ``not_before`` of all such events wins."""

    TYPE: ClassVar[str] = "user.revoked"
    VERSION: ClassVar[int] = 1

    not_before: datetime
    reason: str
    revoked_by: str
    affects_until: datetime


# -- refresh tokens ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenRefreshed:
    """A refresh token was exchanged for a new pair (on the events topic, keyed by user id).

    Projections decide by log order, the same way in every region: the first exchange of a
    refresh token rotates the session. A later exchange of the same token whose event id is no
    more than ``reuse_grace_ms`` after the first exchange's (both time-ordered UUIDv7) is the
    legitimate client again (two tabs, a retry after a lost answer): its new token is issued as a
    sibling and stays valid. Any other later exchange is reuse (theft) and revokes the session.
    """

    TYPE: ClassVar[str] = "token.refreshed"
    VERSION: ClassVar[int] = 1

    session_id: str
    spent_refresh_hash: str
    new_refresh_hash: str
    access_jti: str
    signing_kid: str
    reuse_grace_ms: int = 0
    """The issuing region's grace window (ms) carried in the event, so every region applies the
    same one whatever its own settings say; 0 (events written before it existed): none."""


@dataclass(frozen=True, slots=True)
class RefreshTokenReused:
    """A region saw a spent refresh token presented again: the session (its token family) is
    revoked everywhere. On the revocations topic, keyed by user id."""

    TYPE: ClassVar[str] = "refresh_token.reused"
    VERSION: ClassVar[int] = 1

    session_id: str
    presented_refresh_hash: str
    affects_until: datetime


# -- signing keys (system partition key) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningKeyRetired:
    """A rotated-out key whose tokens have all expired: no longer listed or accepted."""

    TYPE: ClassVar[str] = "signing_key.retired"
    VERSION: ClassVar[int] = 1

    kid: str
    region: str


@dataclass(frozen=True, slots=True)
class SigningKeyRevoked:
    """A compromised key: every token signed with it is inactive everywhere, at once."""

    TYPE: ClassVar[str] = "signing_key.revoked"
    VERSION: ClassVar[int] = 1

    kid: str
    reason: str
    revoked_by: str


# -- accounts (events topic, keyed by user id) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class PasswordChanged:
    """The user's password hash changed; the latest change (greatest event id) wins. Every session
    and token of the user issued before it is revoked (a user not-before at ``occurred_at``)."""

    TYPE: ClassVar[str] = "user.password_changed"
    VERSION: ClassVar[int] = 1

    password_hash: str  # argon2id PHC string; never logged
    changed_by: str


@dataclass(frozen=True, slots=True)
class PasswordRehashed:
    """The same password, hashed again: after a login verified a hash made before passwords were
    prepared per RFC 8265 (or with other argon2 parameters). Revokes nothing. It applies only
    while the password it re-encodes is current: ``replaces_event_id`` names the event (a
    registration or a password change) that set that password, so a re-hash can never bring back
    a password that was changed meanwhile, in whatever order the two arrive."""

    TYPE: ClassVar[str] = "user.password_rehashed"
    VERSION: ClassVar[int] = 1

    password_hash: str  # argon2id PHC string of the prepared password; never logged
    replaces_event_id: str


@dataclass(frozen=True, slots=True)
class UserDisabled:
    """The user cannot log in or refresh anywhere; the latest of disabled/enabled wins."""

    TYPE: ClassVar[str] = "user.disabled"
    VERSION: ClassVar[int] = 1

    reason: str
    changed_by: str


@dataclass(frozen=True, slots=True)
class UserEnabled:
    TYPE: ClassVar[str] = "user.enabled"
    VERSION: ClassVar[int] = 1

    changed_by: str


@dataclass(frozen=True, slots=True)
class LoginFailed:
    """A password login failed. Keyed by the user id derived from the attempted username (it
    need not exist), so failures in every region count toward one lockout."""

    TYPE: ClassVar[str] = "login.failed"
    VERSION: ClassVar[int] = 1

    client_ip: str


@dataclass(frozen=True, slots=True)
class LockoutLifted:
    """An operator lifted the user's lockout: failures before it no longer count."""

    TYPE: ClassVar[str] = "user.unlocked"
    VERSION: ClassVar[int] = 1

    unlocked_by: str


@dataclass(frozen=True, slots=True)
class IpLockoutLifted:
    """An operator lifted a client IP's lockout: that IP's failures before it no longer count.

    Keyed by ``schemas.identity.ip_subject_id(client_ip)`` (no user owns an IP)."""

    TYPE: ClassVar[str] = "ip.unlocked"
    VERSION: ClassVar[int] = 1

    client_ip: str
    unlocked_by: str


EVENT_CLASSES: tuple[type[Payload], ...] = (
    UserRegistered,
    SessionStarted,
    SigningKeyPublished,
    SessionRevoked,
    TokenRevoked,
    UserRevoked,
    TokenRefreshed,
    RefreshTokenReused,
    SigningKeyRetired,
    SigningKeyRevoked,
    PasswordChanged,
    UserDisabled,
    UserEnabled,
    LoginFailed,
    LockoutLifted,
    IpLockoutLifted,
    PasswordRehashed,
    *CLIENT_EVENT_CLASSES,  # issue 12
)
REVOCATION_TYPES = frozenset(
    c.TYPE
    for c in (SessionRevoked, TokenRevoked, UserRevoked, RefreshTokenReused, SigningKeyRevoked)
)
"""Event types written to names.TOPIC_REVOCATIONS; every other type goes to TOPIC_EVENTS."""

REGISTRY: dict[tuple[str, int], type[Any]] = {(c.TYPE, c.VERSION): c for c in EVENT_CLASSES}
"""Explicit ``{(type, version): class}``; nothing registers itself at import time."""

LATEST_VERSION: dict[str, int] = {}
for _cls in EVENT_CLASSES:
    LATEST_VERSION[_cls.TYPE] = max(LATEST_VERSION.get(_cls.TYPE, 0), _cls.VERSION)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], tuple[int, Upcaster]] = {}
"""``{(type, old_version): (new_version, payload_upcaster)}`` applied until a class is found."""
