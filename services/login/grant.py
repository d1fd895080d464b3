"""The resource-owner password grant (RFC 6749 §4.3): verify, log the session, then answer.

The session.started event is acknowledged by the broker BEFORE the token pair is returned: a
token the log does not know about could never be revoked or refreshed in another region.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from schemas.envelope import new_event_id, wrap
from schemas.events import SessionStarted
from schemas.identity import InvalidUsername, normalize_username, user_id_for
from services.core.readmodel import StoreUnavailable
from services.login import tokens
from services.login.account import Account
from services.login.attempts import Reservation
from services.login.bootstrap import Runtime
from services.login.clock import epoch_ms
from services.login.events import PublishFailed
from services.login.forms import OAuthError, invalid_request, require
from services.login.lockout import attempted_user_id
from services.login.rehash import refuse_unpreparable, rehash_password

_CLIENT_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token
WRONG_CREDENTIALS = "the username or password is wrong"


def unavailable(description: str) -> OAuthError:
    return OAuthError("temporarily_unavailable", description, status=503)


async def password_grant(
    rt: Runtime, form: Mapping[str, str], request_id: str, client_ip: str = ""
) -> dict[str, Any]:
    username = require(form, "username")
    password = require(form, "password")
    await refuse_unpreparable(rt, password)
    client_id = _client_id(form.get("client_id"))
    scope = _scope(form.get("scope"))
    attempted = attempted_user_id(username)
    # The check is reserved before argon2 and settled after (released in `finally` unless the
    # failure replaced it), so parallel guesses cannot all pass the lockout.
    held = await _refuse_if_locked(rt, attempted, client_ip)
    try:
        user = await _find_user(rt, username)
        checked = await rt.verifier.check(user.password_hash if user else None, password)
        rt.metrics.argon2_seconds.observe(checked.seconds)
        # A disabled user gets exactly what a wrong password gets (and it counts as a failure),
        # so the public endpoint tells nobody which accounts exist or are disabled.
        if user is None or not checked.matches or user.disabled:
            rt.metrics.logins.labels("invalid_grant").inc()
            await rt.lockout.record_failure(attempted, client_ip, request_id, held)
            held = None
            raise OAuthError("invalid_grant", WRONG_CREDENTIALS)
        answer = await _start_session(rt, user, client_id, scope, request_id)
    finally:
        await rt.lockout.release(held)
    if checked.rehash:
        await rehash_password(rt, user, password, request_id)
    return answer


async def _refuse_if_locked(rt: Runtime, user_id: str, client_ip: str) -> Reservation | None:
    try:
        return await rt.lockout.refuse_if_locked(user_id, client_ip)
    except OAuthError as exc:
        rt.metrics.logins.labels("locked_out" if exc.status == 429 else "unavailable").inc()
        raise


async def _find_user(rt: Runtime, raw_username: str) -> Account | None:
    """The account with its latest password, or None for an unknown or invalid username: both
    must look like a bad password."""
    try:
        user_id = user_id_for(normalize_username(raw_username))
    except InvalidUsername:
        return None
    try:
        return await rt.accounts.find(user_id)
    except StoreUnavailable:
        rt.metrics.logins.labels("unavailable").inc()
        raise unavailable("user store unreachable, try again") from None


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


async def _start_session(
    rt: Runtime, user: Account, client_id: str, scope: str, request_id: str
) -> dict[str, Any]:
    settings, now = rt.settings, rt.clock()
    session_id = tokens.new_session_id()
    # The revocations this region had applied when it read the account (before the password was
    # checked): the session outlives exactly those, whatever this region's clock says.
    ctx = tokens.TokenContext(
        settings.token_issuer,
        settings.region,
        user.user_id,
        session_id,
        client_id,
        scope,
        user.revocation_seen,
    )
    access = tokens.issue_access_token(rt.signing_key, ctx, settings.access_token_ttl_s, now)
    refresh = tokens.new_refresh_token(session_id)
    event = SessionStarted(
        session_id=session_id,
        client_id=client_id,
        access_jti=access.jti,
        refresh_token_hash=tokens.refresh_token_hash(refresh),
        signing_kid=rt.signing_key.kid,
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
        await rt.publisher.publish(envelope)
    except PublishFailed:
        rt.metrics.logins.labels("unavailable").inc()
        raise unavailable("the event log is unreachable, try again") from None
    await rt.own_writes.session_started(envelope)
    rt.metrics.logins.labels("success").inc()
    return {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
        "refresh_token": refresh,
        **({"scope": scope} if scope else {}),
    }
