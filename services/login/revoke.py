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

Only the client a token was issued to may revoke it (RFC 7009 §2.1: the server "verifies whether
the token was issued to the client making the revocation request. If this validation fails, the
request is refused and the client is informed of the error"): another client's genuine token is
400 ``invalid_grant`` (RFC 6749 §5.2: a grant "issued to another client") and nothing is revoked.
A client's own client_credentials token (``sub`` = ``client_id``, no session) is revoked by its
``jti`` (token.revoked, effective until its ``exp``).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from schemas.envelope import wrap
from schemas.epoch import from_epoch_ms, from_epoch_s
from schemas.events import SessionRevoked, TokenRevoked
from schemas.settings import Settings
from services.core.clients import ClientRecord
from services.core.readmodel import StoreUnavailable
from services.login.client_credentials import is_client_subject
from services.login.clock import now_ms
from services.login.credentials import bearer_token, session_of
from services.login.errors import InvalidBearer, OAuthError, Unavailable
from services.login.events import EventPublisher
from services.login.refresh_state import RefreshStates
from services.login.sessions import Sessions
from services.login.tokens import refresh_token_hash
from services.verifier.verifier import Verifier

CLIENT_REASON = "revoked by client"
LOGOUT_REASON = "logout"


@dataclass
class Revocation:
    """RFC 7009 revocation and logout: the ports they need, built once by the composition root."""

    settings: Settings
    tokens: Verifier
    sessions: Sessions
    states: RefreshStates
    publisher: EventPublisher

    async def revoke(self, token: str, client: ClientRecord, request_id: str) -> str:
        """RFC 7009 revocation by the authenticated ``client``; returns the outcome for the
        metric (``revoked`` or ``ignored``). The token's shape tells access from refresh tokens,
        so ``token_type_hint`` is not needed (RFC 7009 §2.1 allows ignoring it). Raises
        ``OAuthError`` 400 ``invalid_grant`` for another client's token, ``Unavailable`` or
        ``PublishFailed`` (503)."""
        if token.count(".") == 2:
            return await self._revoke_access_token(token, client.client_id, request_id)
        session_id = session_of(token)
        if session_id is None:
            return "ignored"
        return await self._revoke_refresh_token(token, session_id, client.client_id, request_id)

    async def logout(self, authorization: str | None, request_id: str) -> None:
        """Revoke the session of the presented Bearer access token. Raises ``InvalidBearer``
        (401, RFC 6750 §3.1) for a missing, invalid, expired or revoked token."""
        token = bearer_token(authorization)
        claims = await self.tokens.genuine_claims(token)
        if isinstance(claims, str):
            raise InvalidBearer("the access token is invalid or expired")
        # An unknown revocation state does not stop a logout: revoking again is always safe.
        if await self.tokens.revocations.why_revoked(claims) == "revoked":
            raise InvalidBearer("the access token is revoked")
        until = await self._session_expiry(claims["sid"])
        await self._publish(claims["sub"], claims["sid"], LOGOUT_REASON, "user", until, request_id)

    async def _revoke_access_token(self, token: str, client_id: str, request_id: str) -> str:
        claims = await self.tokens.genuine_claims(token)
        max_age_s = self.settings.session_propagation_max_s
        if claims == "unknown_kid" and _recently_issued(token, max_age_s):
            raise Unavailable("the token's signing key is not known in this region yet, try again")
        if isinstance(claims, str):
            return "ignored"  # expired, forged or of a key never published: nothing to revoke
        if claims.get("client_id") != client_id:
            raise not_yours()
        revoked_by = f"client:{client_id}"
        if is_client_subject(claims):
            await self._publish_token(claims, revoked_by, request_id)
            return "revoked"
        until = await self._session_expiry(claims["sid"])
        await self._publish(
            claims["sub"], claims["sid"], CLIENT_REASON, revoked_by, until, request_id
        )
        return "revoked"

    async def _session_expiry(self, session_id: str) -> datetime:
        try:
            session = await self.sessions.find(session_id)
        except StoreUnavailable:
            session = None  # the fallback expiry below covers every session, known or not
        if session is not None:
            return session.expires_at
        return datetime.now(UTC) + timedelta(seconds=self.settings.session_ttl_s)

    async def _revoke_refresh_token(
        self, token: str, session_id: str, client_id: str, request_id: str
    ) -> str:
        presented = refresh_token_hash(token)
        max_age_s = self.settings.session_propagation_max_s
        state = await self.states.known(session_id, presented, now_ms(), max_age_s)
        if state is None:
            return "ignored"  # never issued: nothing to revoke
        # The refresh grant's own view of the session decides: a token it issued and has not
        # spent (Redis, or the unspent rows in Postgres), or any token the session spent, which
        # proves the caller holds this token family as well.
        if not state.presented_live and state.presented_spent_by is None:
            return "ignored"
        if state.client_id != client_id:
            raise not_yours()
        client = f"client:{client_id}"
        expires_at = from_epoch_ms(state.expires_at_ms)
        await self._publish(
            state.user_id, session_id, CLIENT_REASON, client, expires_at, request_id
        )
        return "revoked"

    async def _publish_token(
        self, claims: dict[str, Any], revoked_by: str, request_id: str
    ) -> None:
        event = TokenRevoked(
            jti=claims["jti"],
            session_id=claims["sid"],
            reason=CLIENT_REASON,
            revoked_by=revoked_by,
            affects_until=from_epoch_s(int(claims["exp"]) + 1),
        )
        envelope = wrap(
            event,
            user_id=claims["sub"],
            origin_region=self.settings.region,
            correlation_id=request_id or str(uuid.uuid4()),
        )
        await self.publisher.publish(envelope)

    async def _publish(
        self,
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
            origin_region=self.settings.region,
            correlation_id=request_id or str(uuid.uuid4()),
        )
        await self.publisher.publish(envelope)


def not_yours() -> OAuthError:
    """RFC 7009 §2.1: the token was issued to another client; nothing is revoked."""
    return OAuthError("invalid_grant", "the token was not issued to this client")


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
