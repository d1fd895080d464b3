"""The resource-owner password grant (RFC 6749 §4.3): verify, log the session, then answer.

The session.started event is acknowledged by the broker BEFORE the token pair is returned: a
token the log does not know about could never be revoked or refreshed in another region.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.envelope import new_event_id, wrap
from schemas.epoch import epoch_ms
from schemas.events import SessionStarted
from schemas.identity import InvalidUsername, normalize_username, user_id_for
from schemas.settings import Settings
from services.core.clients import ClientRecord
from services.core.keys import SigningKey
from services.core.passwords import PasswordVerifier
from services.core.readmodel import StoreUnavailable
from services.login import tokens
from services.login.account import Account, Accounts
from services.login.attempts import Reservation
from services.login.client_policy import granted_audience, granted_scope
from services.login.clock import Clock, system_clock
from services.login.errors import OAuthError, Unavailable
from services.login.events import EventPublisher, PublishFailed
from services.login.forms import require
from services.login.lockout import Lockout, attempted_user_id
from services.login.metrics import Metrics
from services.login.own_writes import OwnWrites
from services.login.rehash import Rehasher
from services.login.signer import Signer

WRONG_CREDENTIALS = "the username or password is wrong"


@dataclass(frozen=True, slots=True)
class Granted:
    """What a session is issued for: the client, its scope and its audience (``aud``)."""

    client_id: str
    scope: str
    audience: str


@dataclass
class PasswordGrant:
    """``grant_type=password``: the ports it needs, built once by the composition root.

    ``clock`` is the wall clock written into tokens and the session event (a seam for
    clock-skew tests; production uses ``system_clock``)."""

    settings: Settings
    passwords: PasswordVerifier
    rehasher: Rehasher
    accounts: Accounts
    lockout: Lockout
    publisher: EventPublisher
    own_writes: OwnWrites
    signer: Signer
    metrics: Metrics
    clock: Clock = field(default=system_clock)

    async def __call__(
        self, form: Mapping[str, str], client: ClientRecord, request_id: str, client_ip: str = ""
    ) -> dict[str, Any]:
        """The RFC 6749 §5.1 token response for ``client`` (authenticated and allowed the
        password grant by the caller). Raises ``OAuthError``: 400 ``invalid_grant`` for a wrong
        password, unknown or disabled user (all alike), ``invalid_scope``/``invalid_target`` for
        a scope or resource the client may not have (before any password is checked), 429 while
        locked out, 503 when a store or the broker does not answer."""
        username = require(form, "username")
        password = require(form, "password")
        scope = granted_scope(client, form.get("scope"))
        grant = Granted(client.client_id, scope, granted_audience(client, form.get("resource")))
        await self.rehasher.refuse_unpreparable(password)
        attempted = attempted_user_id(username)
        # The check is reserved before argon2 and settled after (released in `finally` unless
        # the failure replaced it), so parallel guesses cannot all pass the lockout.
        held = await self._refuse_if_locked(attempted, client_ip)
        try:
            user = await self._find_user(username)
            checked = await self.passwords.check(user.password_hash if user else None, password)
            self.metrics.argon2_seconds.observe(checked.seconds)
            # A disabled user gets exactly what a wrong password gets (and it counts as a
            # failure), so the public endpoint tells nobody which accounts exist or are disabled.
            if user is None or not checked.matches or user.disabled:
                self.metrics.logins.labels("invalid_grant").inc()
                await self.lockout.record_failure(attempted, client_ip, request_id, held)
                held = None
                raise OAuthError("invalid_grant", WRONG_CREDENTIALS)
            answer = await self._start_session(user, grant, request_id)
        finally:
            await self.lockout.release(held)
        if checked.rehash:
            await self.rehasher.rehash(user, password, request_id)
        return answer

    async def _refuse_if_locked(self, user_id: str, client_ip: str) -> Reservation | None:
        try:
            return await self.lockout.refuse_if_locked(user_id, client_ip)
        except OAuthError as exc:
            self.metrics.logins.labels("locked_out" if exc.status == 429 else "unavailable").inc()
            raise

    async def _find_user(self, raw_username: str) -> Account | None:
        """The account with its latest password, or None for an unknown or invalid username:
        both must look like a bad password."""
        try:
            user_id = user_id_for(normalize_username(raw_username))
        except InvalidUsername:
            return None
        try:
            return await self.accounts.find(user_id)
        except StoreUnavailable:
            self.metrics.logins.labels("unavailable").inc()
            raise Unavailable("user store unreachable, try again") from None

    async def _start_session(
        self, user: Account, grant: Granted, request_id: str
    ) -> dict[str, Any]:
        settings, now, key = self.settings, self.clock(), self.signer.key
        session_id = tokens.new_session_id()
        # The revocations this region had applied when it read the account (before the password
        # was checked): the session outlives exactly those, whatever this region's clock says.
        ctx = tokens.TokenContext(
            settings.token_issuer,
            settings.region,
            user.user_id,
            session_id,
            grant.client_id,
            grant.scope,
            user.revocation_seen,
            grant.audience,
        )
        access, refresh = issue_pair(key, ctx, settings.access_token_ttl_s, now)
        event = SessionStarted(
            session_id=session_id,
            client_id=grant.client_id,
            access_jti=access.jti,
            refresh_token_hash=tokens.refresh_token_hash(refresh),
            signing_kid=key.kid,
            expires_at=now + timedelta(seconds=settings.session_ttl_s),
            user_revocation_seen=user.revocation_seen,
            scope=grant.scope,
            audience=grant.audience,
        )
        envelope = wrap(
            event,
            user_id=user.user_id,
            origin_region=settings.region,
            correlation_id=request_id,
            occurred_at=now,
            event_id=new_event_id(epoch_ms(now)),
        )
        try:
            await self.publisher.publish(envelope)
        except PublishFailed:
            self.metrics.logins.labels("unavailable").inc()
            raise
        await self.own_writes.session_started(envelope)
        self.metrics.logins.labels("success").inc()
        return token_response(access, refresh, grant.scope)


def issue_pair(
    key: SigningKey, ctx: tokens.TokenContext, ttl_s: int, now: datetime
) -> tuple[tokens.AccessToken, str]:
    """A new access token (``ttl_s`` seconds from ``now``, signed with ``key``) and a new refresh
    token of ``ctx``'s session."""
    access = tokens.issue_access_token(key, ctx, ttl_s, now)
    return access, tokens.new_refresh_token(ctx.session_id)


def token_response(
    access: tokens.AccessToken, refresh: str | None, scope: str = ""
) -> dict[str, Any]:
    """The RFC 6749 §5.1 success body: ``refresh_token`` and ``scope`` only when the grant has
    them (RFC 6749 §4.4.3: client_credentials issues no refresh token)."""
    return {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
        **({"refresh_token": refresh} if refresh is not None else {}),
        **({"scope": scope} if scope else {}),
    }
