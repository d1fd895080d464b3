"""``private_key_jwt`` client assertions (RFC 7523 §2.2 and §3, OpenID Connect Core §9).

The signature and the registered claims are checked by joserfc (a maintained JOSE library: JWK
Set import, algorithm allow-list, claim registry), not by hand. Its rules here:

- signed with an asymmetric algorithm by a key of the client's registered JWK Set (RFC 7517);
- ``iss`` and ``sub`` are the client id (RFC 7523 §3 items 1-2);
- ``aud`` names this server: its issuer, its token endpoint, or the URL the assertion was sent to
  (RFC 7523 §3 item 3; authlib, like most clients, uses the URL it posts to);
- ``exp`` is required and not passed, ``nbf``/``iat`` not in the future (``CLOCK_SKEW_S`` leeway)
  (item 4); and the assertion is accepted for at most ``MAX_ASSERTION_AGE_S`` (5 min): from its
  ``iat`` when it has one, else ``exp`` may lie at most that far ahead. (Stock clients set long
  lifetimes: authlib signs ``exp = iat + 3600``; the age bound is what limits replay.)
- ``jti`` is required and used once (item 7): ``SET NX`` of
  ``names.redis_client_assertion_key`` for as long as the assertion is acceptable. That record is
  regional (Redis is not replicated between regions), so an assertion replayed in ANOTHER region
  is refused only once it is too old: the cross-region replay window is bounded by
  ``MAX_ASSERTION_AGE_S`` (5 min) plus the skew leeway. A Redis that does not answer fails closed
  (503).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import jwt
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import ClaimsOption
from redis.asyncio import Redis

from schemas import names
from schemas.settings import CLOCK_SKEW_S
from services.core.clients import ClientRecord
from services.core.readmodel import REDIS_ERRORS
from services.login.errors import ClientAuthError, Unavailable
from services.login.forms import invalid_request

MAX_ASSERTION_AGE_S = 300
"""How long an assertion is accepted after its ``iat`` (or, without ``iat``, how far ahead its
``exp`` may lie), seconds: bounds a replay in another region."""
ASSERTION_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
"""Asymmetric JWS algorithms only: a client's JWK Set is public, so an HMAC key in it would be
no secret."""
MAX_JTI_CHARS = 256


class AssertionVerifier:
    """Verifies ``private_key_jwt`` assertions and records their ``jti`` in ``redis``. An
    assertion's ``aud`` (RFC 7523 §3) may name ``issuer``, its ``token_url``, or the endpoint it
    is posted to: as the process received it, or under ``public_base``, the URL clients reach
    the region at (what the RFC 8414 metadata names, e.g. behind a TLS-terminating front door).
    """

    def __init__(self, redis: Redis, issuer: str, token_url: str, public_base: str) -> None:
        self._redis = redis
        self._public_base = public_base.rstrip("/")
        self._audiences = (issuer, token_url, self._public_base + urlsplit(token_url).path)

    def claimed_client(self, assertion: str, client_id: str) -> str:
        """The client id an assertion claims (its unverified ``sub``, which must equal ``iss``
        and the ``client_id`` parameter when one is sent). Raises ``ClientAuthError`` for an
        unreadable assertion, ``OAuthError`` invalid_request when ``client_id`` differs."""
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise ClientAuthError() from None
        subject, issuer = claims.get("sub"), claims.get("iss")
        if not isinstance(subject, str) or not subject or subject != issuer:
            raise ClientAuthError()
        if client_id and client_id != subject:
            raise invalid_request("client_id differs from the client assertion's subject")
        return subject

    async def verify(self, assertion: str, client: ClientRecord, endpoint_url: str) -> None:
        """Accept ``assertion`` for ``client`` once, or raise ``ClientAuthError`` (401); raises
        ``Unavailable`` (503) when the replay store does not answer."""
        public = self._public_base + urlsplit(endpoint_url).path
        claims = _verified_claims(assertion, client, (*self._audiences, endpoint_url, public))
        remaining_s = _acceptable_for_s(claims, time.time())
        if remaining_s <= 0:
            raise ClientAuthError()
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            raise ClientAuthError()
        key = names.redis_client_assertion_key(client.client_id, jti)
        keep_ms = int((remaining_s + CLOCK_SKEW_S) * 1000)
        try:
            first = await self._redis.set(key, "1", nx=True, px=keep_ms)
        except REDIS_ERRORS:
            raise Unavailable("replay store unreachable, try again") from None
        if not first:
            raise ClientAuthError()  # a replayed jti


def _acceptable_for_s(claims: dict[str, Any], now: float) -> float:
    """How much longer (seconds) the assertion may be accepted; <= 0 when no more."""
    until = claims["exp"] + CLOCK_SKEW_S
    issued = claims.get("iat")
    if isinstance(issued, int | float) and not isinstance(issued, bool):
        until = min(until, issued + MAX_ASSERTION_AGE_S + CLOCK_SKEW_S)
    elif claims["exp"] - now > MAX_ASSERTION_AGE_S + CLOCK_SKEW_S:
        return 0.0
    return float(until - now)


def _verified_claims(
    assertion: str, client: ClientRecord, audiences: tuple[str, ...]
) -> dict[str, Any]:
    try:
        keys = KeySet.import_key_set(dict(client.jwks))  # type: ignore[arg-type]
        token = jose_jwt.decode(assertion, keys, algorithms=ASSERTION_ALGS)
        expected: ClaimsOption = {"essential": True, "value": client.client_id}
        registry = jose_jwt.JWTClaimsRegistry(
            leeway=CLOCK_SKEW_S,
            iss=expected,
            sub=expected,
            aud={"essential": True, "values": [a for a in audiences if a]},
            exp={"essential": True},
            jti={"essential": True},
        )
        registry.validate(token.claims)
    except (JoseError, ValueError, TypeError, KeyError):
        raise ClientAuthError() from None
    claims: dict[str, Any] = dict(token.claims)
    if not isinstance(claims.get("exp"), int | float) or isinstance(claims["exp"], bool):
        raise ClientAuthError()
    return claims
