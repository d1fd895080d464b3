"""Access-token signature and claim checks: what makes a token genuine (revocation aside).

- The key is chosen by ``kid`` alone and the algorithm comes from the key record: a token never
  chooses its own algorithm, so ``alg: none`` and HS256-signed-with-a-public-key are rejected.
  Only asymmetric algorithms are accepted for key records (a symmetric one would turn a public
  JWK into a secret).
- A key is tied to the region that published it and to that region's issuer: a token verifies
  only if its ``region`` claim names the key's region and its ``iss`` is the key's issuer, so every
  region accepts exactly the same tokens of a key. The issuer comes from the key record
  (``signing_key.published`` carries it); records published before it did fall back to
  ``default_issuer(region)``, or to the verifying region's own issuer for its own keys.
- The header must say what the token is (RFC 9068 §2.1, §4): ``typ`` ``at+jwt`` (or its media
  type ``application/at+jwt``, compared case-insensitively, RFC 7515 §4.1.9). Any other JWT
  signed by the same key (an ID token, a client assertion, a token of an older version with
  ``typ: JWT``) is refused, unless the caller opts into ``accept_legacy_typ`` for the rollout
  from a version that issued ``typ: JWT`` (docs/verifier.md, "Token type").
- The claims are type- and range-checked by ``services.verifier.claims`` (the one definition),
  not by PyJWT, whose checks accept ``"exp": "9999999999"`` and overflow on huge numbers.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Any

import jwt
import orjson

from schemas.settings import CLOCK_SKEW_S, SIGNING_ALGS, default_issuer
from services.verifier.claims import REQUIRED_CLAIMS as REQUIRED_CLAIMS
from services.verifier.claims import claims_problem

# PyJWT checks the signature only; every claim rule is claims_problem's.
_DECODE_OPTIONS: Any = {
    "require": [],
    "verify_aud": False,
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
    "verify_iss": False,
}
MAX_TOKEN_CHARS = 8192
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a JOSE header value, not a secret)
"""The JOSE ``typ`` of an access token (RFC 9068 §2.1)."""
_ACCESS_TOKEN_TYPES = frozenset({ACCESS_TOKEN_TYPE, "application/" + ACCESS_TOKEN_TYPE})
_LEGACY_TOKEN_TYPES = frozenset({"jwt", "application/jwt"})
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
    issuer: str = ""  # "" = not recorded (published by older code)


def verification_key(
    kid: str, region: str, alg: str, public_jwk: dict[str, str], issuer: str = ""
) -> VerificationKey:
    """Build from a published public JWK and the issuer its region published with it ("" if
    unknown); raises ValueError if the JWK does not fit the alg."""
    if alg not in SIGNING_ALGS:
        raise ValueError(f"key {kid} has unsupported alg {alg!r}")
    try:
        parsed = jwt.PyJWK(dict(public_jwk), algorithm=alg)
    except jwt.PyJWTError as exc:
        raise ValueError(f"unusable public key {kid}: {exc}") from None
    return VerificationKey(kid=kid, region=region, alg=alg, key=parsed.key, issuer=issuer)


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


def type_accepted(header: dict[str, Any], accept_legacy_typ: bool = False) -> bool:
    """Whether a JOSE header's ``typ`` marks an access token (RFC 9068 §4): ``at+jwt`` or
    ``application/at+jwt`` in any case; with ``accept_legacy_typ`` also ``JWT`` or no ``typ``
    (tokens of versions before RFC 9068 tokens)."""
    typ = header.get("typ")
    if typ is None:
        return accept_legacy_typ
    if not isinstance(typ, str):
        return False
    typ = typ.lower()
    return typ in _ACCESS_TOKEN_TYPES or (accept_legacy_typ and typ in _LEGACY_TOKEN_TYPES)


def verify_access_token(
    token: str,
    key: VerificationKey,
    *,
    own_region: str,
    own_issuer: str,
    accept_legacy_typ: bool = False,
) -> dict[str, Any] | None:
    """The claims of a valid access token signed by ``key``, or None for anything else
    (``typ`` as ``type_accepted`` says).

    ``algorithms=[key.alg]`` makes PyJWT refuse any header ``alg`` but the key record's.
    """
    if len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        decoded = jwt.decode_complete(token, key.key, algorithms=[key.alg], options=_DECODE_OPTIONS)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError, OverflowError, RecursionError):
        return None
    claims: Any = decoded["payload"]
    header = decoded["header"]
    if not isinstance(claims, dict) or header.get("kid") != key.kid:
        return None
    if not type_accepted(header, accept_legacy_typ):
        return None
    if claims_problem(claims, time.time(), CLOCK_SKEW_LEEWAY_S) is not None:
        return None
    return claims if claims_fit_key(claims, key, own_region, own_issuer) else None


def claims_fit_key(
    claims: dict[str, Any], key: VerificationKey, own_region: str, own_issuer: str
) -> bool:
    """The token names the key's region and the key's issuer (same answer in every region)."""
    issuer = key_issuer(key, own_region, own_issuer)
    return bool(claims["region"] == key.region and claims["iss"] == issuer)


def key_issuer(key: VerificationKey, own_region: str, own_issuer: str) -> str:
    """The issuer a key's tokens must carry: the recorded one, else the region's default."""
    if key.issuer:
        return key.issuer
    return own_issuer if key.region == own_region else default_issuer(key.region)
