"""Access-token (JWT) and refresh-token rules: how tokens are made and what makes one valid.

Verification decisions (each is a rule a test pins):
- The key is chosen by ``kid`` alone and the algorithm by the key record: a token never chooses
  its own algorithm, so ``alg: none`` and HS256-signed-with-a-public-key are rejected up front.
- ``iss`` is not pinned to this region's issuer: tokens of every region are valid everywhere and
  other regions' issuers are not in the key records. Instead the ``region`` claim must name the
  region that published the key, and a token signed with this region's key must carry this
  region's issuer.
- ``exp``, ``iat``, ``sub``, ``sid``, ``jti``, ``iss`` and ``region`` are required.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from schemas.settings import SIGNING_ALGS
from services.keys import SigningKey, b64url

REQUIRED_CLAIMS = ("exp", "iat", "sub", "sid", "jti", "iss", "region")
REFRESH_SECRET_BYTES = 32  # 256 bits of randomness


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    region: str
    alg: str
    key: Any  # a cryptography public key object


@dataclass(frozen=True)
class AccessToken:
    token: str
    jti: str
    expires_in: int


@dataclass(frozen=True)
class TokenContext:
    """Who and where a token is issued for."""

    issuer: str
    region: str
    user_id: str
    session_id: str
    client_id: str
    scope: str


def issue_access_token(
    key: SigningKey, ctx: TokenContext, ttl_s: int, now: datetime | None = None
) -> AccessToken:
    issued = now or datetime.now(UTC)
    jti = str(uuid.uuid4())
    claims: dict[str, Any] = {
        "iss": ctx.issuer,
        "sub": ctx.user_id,
        "sid": ctx.session_id,
        "jti": jti,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl_s)).timestamp()),
        "region": ctx.region,
        "client_id": ctx.client_id,
    }
    if ctx.scope:
        claims["scope"] = ctx.scope
    token = jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid})
    return AccessToken(token=token, jti=jti, expires_in=ttl_s)


def new_session_id() -> str:
    return str(uuid.uuid4())


def new_refresh_token(session_id: str) -> str:
    """``<session_id>.<secret>``: the session id routes it, the secret proves possession."""
    return f"{session_id}.{b64url(secrets.token_bytes(REFRESH_SECRET_BYTES))}"


def refresh_token_hash(refresh_token: str) -> str:
    """What is stored and sent on the log: SHA-256 hex of the whole token's UTF-8 bytes."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def unverified_kid(token: str) -> str | None:
    """The ``kid`` of a structurally valid JWT header, or None; says nothing about validity."""
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) and kid else None


def verify_access_token(
    token: str, key: VerificationKey, *, own_region: str, own_issuer: str
) -> dict[str, Any] | None:
    """The claims of a valid token signed by ``key``, or None for anything else."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != key.alg or header.get("kid") != key.kid:
            return None
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[key.alg],
            options={"require": list(REQUIRED_CLAIMS), "verify_aud": False},
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    return claims if _claims_fit_key(claims, key, own_region, own_issuer) else None


def _claims_fit_key(
    claims: dict[str, Any], key: VerificationKey, own_region: str, own_issuer: str
) -> bool:
    if claims.get("region") != key.region:
        return False
    if not all(isinstance(claims.get(name), str) for name in ("sub", "sid", "jti", "iss")):
        return False
    return key.region != own_region or claims["iss"] == own_issuer


def verification_key(
    kid: str, region: str, alg: str, public_jwk: dict[str, str]
) -> VerificationKey:
    """Build from a published public JWK; raises ValueError if the JWK does not fit the alg."""
    if alg not in SIGNING_ALGS:
        # Only asymmetric algorithms: a symmetric one would turn the public JWK into a secret.
        raise ValueError(f"key {kid} has unsupported alg {alg!r}")
    try:
        parsed = jwt.PyJWK(dict(public_jwk), algorithm=alg)
    except jwt.PyJWTError as exc:
        raise ValueError(f"unusable public key {kid}: {exc}") from None
    return VerificationKey(kid=kid, region=region, alg=alg, key=parsed.key)
