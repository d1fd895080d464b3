"""Access-token signature and claim checks: what makes a token genuine (revocation aside).

- The key is chosen by ``kid`` alone and the algorithm comes from the key record: a token never
  chooses its own algorithm, so ``alg: none`` and HS256-signed-with-a-public-key are rejected.
  Only asymmetric algorithms are accepted for key records (a symmetric one would turn a public
  JWK into a secret).
- ``iss`` is not pinned to one issuer: tokens of every region are valid everywhere. Instead the
  ``region`` claim must name the region that published the key, and a token signed with the
  verifying region's key must carry that region's issuer.
- ``exp``, ``iat``, ``sub``, ``sid``, ``jti``, ``iss`` and ``region`` are required.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import jwt
import orjson

from schemas.settings import CLOCK_SKEW_S, SIGNING_ALGS

REQUIRED_CLAIMS = ("exp", "iat", "sub", "sid", "jti", "iss", "region")
_DECODE_OPTIONS: Any = {"require": list(REQUIRED_CLAIMS), "verify_aud": False}
MAX_TOKEN_CHARS = 8192
CLOCK_SKEW_LEEWAY_S = CLOCK_SKEW_S
"""Regions' clocks differ a little: without leeway a token minted by a region whose clock runs a
second ahead would be "issued in the future" (inactive) everywhere else until the clocks meet.
RFC 7519 4.1.4 allows a small leeway; 10 s is far above NTP-synced skew and far below token TTLs.
"""


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    region: str
    alg: str
    key: Any  # a cryptography public key object


def verification_key(
    kid: str, region: str, alg: str, public_jwk: dict[str, str]
) -> VerificationKey:
    """Build from a published public JWK; raises ValueError if the JWK does not fit the alg."""
    if alg not in SIGNING_ALGS:
        raise ValueError(f"key {kid} has unsupported alg {alg!r}")
    try:
        parsed = jwt.PyJWK(dict(public_jwk), algorithm=alg)
    except jwt.PyJWTError as exc:
        raise ValueError(f"unusable public key {kid}: {exc}") from None
    return VerificationKey(kid=kid, region=region, alg=alg, key=parsed.key)


def unverified_kid(token: str) -> str | None:
    """The ``kid`` of a structurally valid JWT header, or None; says nothing about validity.

    Parsed here rather than with ``jwt.get_unverified_header``, which costs ~40 µs (most of an
    RS256 verification) where base64 + orjson cost ~1.5 µs: the verifier's throughput budget.
    """
    if len(token) > MAX_TOKEN_CHARS:
        return None
    head, sep, _ = token.partition(".")
    if not sep:
        return None
    try:
        header = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) and kid else None


def verify_access_token(
    token: str, key: VerificationKey, *, own_region: str, own_issuer: str
) -> dict[str, Any] | None:
    """The claims of a valid token signed by ``key``, or None for anything else.

    ``algorithms=[key.alg]`` makes PyJWT refuse any header ``alg`` but the key record's.
    """
    try:
        decoded = jwt.decode_complete(
            token,
            key.key,
            algorithms=[key.alg],
            options=_DECODE_OPTIONS,
            leeway=CLOCK_SKEW_LEEWAY_S,
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    claims: dict[str, Any] = decoded["payload"]
    if decoded["header"].get("kid") != key.kid:
        return None
    return claims if claims_fit_key(claims, key, own_region, own_issuer) else None


def claims_fit_key(
    claims: dict[str, Any], key: VerificationKey, own_region: str, own_issuer: str
) -> bool:
    if claims.get("region") != key.region:
        return False
    if not all(isinstance(claims.get(name), str) for name in ("sub", "sid", "jti", "iss")):
        return False
    if isinstance(claims.get("iat"), bool) or not isinstance(claims.get("iat"), int | float):
        return False
    return key.region != own_region or claims["iss"] == own_issuer
