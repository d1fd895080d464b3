"""The resource-owner password grant (RFC 6749 §4.3): verify, log the session, then answer.

The session.started event is acknowledged by the broker BEFORE the token pair is returned: a
token the log does not know about could never be revoked or refreshed in another region.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.envelope import new_event_id, wrap
from schemas.epoch import epoch_ms
from schemas.events import SessionStarted
from schemas.identity import InvalidUsername, normalize_username, user_id_for
from schemas.settings import Settings
from services.core.keys import SigningKey
from services.core.passwords import PasswordVerifier
from services.core.readmodel import StoreUnavailable
from services.login import tokens
from services.login.account import Account, Accounts
from services.login.attempts import Reservation
from services.login.clock import Clock, system_clock
from services.login.errors import OAuthError, Unavailable
from services.login.events import EventPublisher, PublishFailed
from services.login.forms import invalid_request, require
from services.login.lockout import Lockout, attempted_user_id
from services.login.metrics import Metrics
from services.login.own_writes import OwnWrites
from services.login.rehash import Rehasher
from services.login.signer import Signer

_CLIENT_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token
WRONG_CREDENTIALS = "the username or password is wrong"


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
        self, form: Mapping[str, str], request_id: str, client_ip: str = ""
    ) -> dict[str, Any]:
        """The RFC 6749 §5.1 token response. Raises ``OAuthError``: 400 ``invalid_grant`` for a
        wrong password, unknown or disabled user (all alike), 429 while locked out, 503 when a
        store or the broker does not answer."""
        username = require(form, "username")
        password = require(form, "password")
        await self.rehasher.refuse_unpreparable(password)
        client_id = _client_id(form.get("client_id"))
        scope = _scope(form.get("scope"))
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
            answer = await self._start_session(user, client_id, scope, request_id)
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
        self, user: Account, client_id: str, scope: str, request_id: str
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
            client_id,
            scope,
            user.revocation_seen,
        )
        access, refresh = issue_pair(key, ctx, settings.access_token_ttl_s, now)
        event = SessionStarted(
            session_id=session_id,
            client_id=client_id,
            access_jti=access.jti,
            refresh_token_hash=tokens.refresh_token_hash(refresh),
            signing_kid=key.kid,
            expires_at=now + timedelta(seconds=settings.session_ttl_s),
            user_revocation_seen=user.revocation_seen,
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
        return token_response(access, refresh, scope)


def issue_pair(
    key: SigningKey, ctx: tokens.TokenContext, ttl_s: int, now: datetime
) -> tuple[tokens.AccessToken, str]:
    """A new access token (``ttl_s`` seconds from ``now``, signed with ``key``) and a new refresh
    token of ``ctx``'s session."""
    access = tokens.issue_access_token(key, ctx, ttl_s, now)
    return access, tokens.new_refresh_token(ctx.session_id)


def token_response(access: tokens.AccessToken, refresh: str, scope: str = "") -> dict[str, Any]:
    """The RFC 6749 §5.1 success body: ``scope`` only when the grant has one."""
    return {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
        "refresh_token": refresh,
        **({"scope": scope} if scope else {}),
    }


def _client_id(raw: str | None) -> str:
    if raw is None:
        return ""
    if not _CLIENT_ID.fullmatch(raw):
        raise invalid_request("malformed client_id")
    return raw


def _scope(raw: str | None) -> str:
    if raw is None:
        return ""
    scopes = raw.split(" ")
    if len(raw) > 1024 or not all(_SCOPE_TOKEN.fullmatch(s) for s in scopes):
        raise OAuthError("invalid_scope", "malformed scope")
    return " ".join(dict.fromkeys(scopes))
