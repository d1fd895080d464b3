"""Token revocation (RFC 7009) and logout: each revokes a whole session, in every region.

The session.revoked event is acknowledged by the broker (acks=all) BEFORE the client is told the
token is revoked; with the broker down the answer is 503 and the client retries. Per RFC 7009 an
unknown, invalid or expired token answers 200 as if revoked, so callers learn nothing about
which tokens exist. The one exception is a well-formed refresh token whose session this region
has not projected yet but may still be on its way (its UUIDv7 id is young enough, see
services.login.refresh.may_be_in_flight): ownership cannot be proven yet, so 503 asks the client
to retry. Past that bound such a token was never issued: 200. The same holds for a well-formed
access token signed by a key this region has not received yet (another region's new key, or any
key right after this region restarted on rebuilt stores): if it was issued no more than that
bound ago, 503, since answering 200 would promise a revocation that was never written.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt

from schemas.envelope import wrap
from schemas.events import SessionRevoked
from services.core.readmodel import StoreUnavailable
from services.login.bootstrap import Runtime
from services.login.events import PublishFailed
from services.login.forms import OAuthError
from services.login.refresh import may_be_in_flight
from services.login.refresh_state import RefreshState, load_state
from services.login.sessions import find_session
from services.login.tokens import refresh_token_hash

_REFRESH_TOKEN = re.compile(
    r"(?P<sid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[A-Za-z0-9_-]{43}"
)
CLIENT_REASON = "revoked by client"
LOGOUT_REASON = "logout"
_BEARER_REALM = 'Bearer realm="authplane"'


def unavailable(description: str) -> OAuthError:
    return OAuthError("temporarily_unavailable", description, status=503)


class InvalidBearer(OAuthError):
    def __init__(self, description: str) -> None:
        super().__init__("invalid_token", description, status=401)
        self.headers = {
            "WWW-Authenticate": f'{_BEARER_REALM}, error="invalid_token", '
            f'error_description="{description}"'
        }


async def revoke(rt: Runtime, token: str, request_id: str) -> str:
    """RFC 7009 revocation; returns the outcome for the metric. The token's shape tells access
    from refresh tokens, so ``token_type_hint`` is not needed (RFC 7009 §2.1 allows ignoring it)."""
    if token.count(".") == 2:
        return await _revoke_access_token(rt, token, request_id)
    match = _REFRESH_TOKEN.fullmatch(token)
    if match is None:
        return "ignored"
    return await _revoke_refresh_token(rt, token, match["sid"], request_id)


async def _revoke_access_token(rt: Runtime, token: str, request_id: str) -> str:
    claims = await rt.tokens.genuine_claims(token)
    if claims == "unknown_kid" and _recently_issued(token, rt.settings.session_propagation_max_s):
        raise unavailable("the token's signing key is not known in this region yet, try again")
    if isinstance(claims, str):
        return "ignored"  # expired, forged or of a key never published: nothing to revoke
    client_id = claims.get("client_id") or "unknown"
    until = await _session_expiry(rt, claims["sid"])
    await _publish(
        rt, claims["sub"], claims["sid"], CLIENT_REASON, f"client:{client_id}", until, request_id
    )
    return "revoked"


def _recently_issued(token: str, max_age_s: float) -> bool:
    """Whether the (unverified) ``iat`` of a JWS compact token lies within ``max_age_s`` s of
    now, either way: its signing key may still be on its way to this region."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    issued_at = claims.get("iat")
    if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
        return False
    return abs(time.time() - issued_at) <= max_age_s


async def _session_expiry(rt: Runtime, session_id: str) -> datetime:
    try:
        session = await find_session(rt.redis, rt.engine, session_id)
    except StoreUnavailable:
        session = None  # the fallback expiry below covers every session, known or not
    if session is not None:
        return session.expires_at
    return datetime.now(UTC) + timedelta(seconds=rt.settings.session_ttl_s)


async def _revoke_refresh_token(rt: Runtime, token: str, session_id: str, request_id: str) -> str:
    presented = refresh_token_hash(token)
    state = await _known_refresh_state(rt, session_id, presented)
    if state is None:
        return "ignored"  # never issued: nothing to revoke
    # The refresh grant's own view of the session decides: a token it issued and has not spent
    # (Redis, or the unspent rows in Postgres), or any token the session spent, which proves the
    # caller holds this token family as well.
    if not state.presented_live and state.presented_spent_by is None:
        return "ignored"
    client = f"client:{state.client_id or 'unknown'}"
    expires_at = datetime.fromtimestamp(state.expires_at_ms / 1000, UTC)
    await _publish(rt, state.user_id, session_id, CLIENT_REASON, client, expires_at, request_id)
    return "revoked"


async def _known_refresh_state(rt: Runtime, session_id: str, presented: str) -> RefreshState | None:
    try:
        state = await load_state(rt.redis, rt.engine, session_id, presented)
    except StoreUnavailable:
        raise unavailable("session store unreachable, try again") from None
    if state is None:
        now_ms = int(time.time() * 1000)
        if not may_be_in_flight(session_id, now_ms, rt.settings.session_propagation_max_s):
            return None
        raise unavailable("session not known in this region yet, try again")
    return state


async def logout(rt: Runtime, authorization: str | None, request_id: str) -> None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidBearer("a Bearer access token is required")
    claims = await rt.tokens.genuine_claims(token.strip())
    if isinstance(claims, str):
        raise InvalidBearer("the access token is invalid or expired")
    # An unknown revocation state does not stop a logout: revoking again is always safe.
    if await rt.tokens.revocations.why_revoked(claims) == "revoked":
        raise InvalidBearer("the access token is revoked")
    until = await _session_expiry(rt, claims["sid"])
    await _publish(rt, claims["sub"], claims["sid"], LOGOUT_REASON, "user", until, request_id)


async def _publish(
    rt: Runtime,
    user_id: str,
    session_id: str,
    reason: str,
    revoked_by: str,
    affects_until: datetime,
    request_id: str,
) -> None:
    event = SessionRevoked(
        session_id=session_id, reason=reason, revoked_by=revoked_by, affects_until=affects_until
    )
    envelope = wrap(
        event,
        user_id=user_id,
        origin_region=rt.settings.region,
        correlation_id=request_id or str(uuid.uuid4()),
    )
    try:
        await rt.publisher.publish(envelope)
    except PublishFailed:
        raise unavailable("the event log is unreachable, try again") from None


def outcome_of(exc: OAuthError) -> str:
    return "unavailable" if exc.status == 503 else exc.error
