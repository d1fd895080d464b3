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
- The compact JWS (RFC 7515 §7.1) is taken apart here (``compact_jws``), by the rules PyJWT's
  ``decode_complete`` applies (three segments, canonical base64url, a JSON object header, a
  string ``kid``, ``crit`` only for ``b64``, no detached payload, the ``alg`` the key allows);
  the signature itself is checked by PyJWT's algorithm object for the key's ``alg``
  (``prepare_key``, ``check_key_length``, ``verify``), so the cryptography is PyJWT's. PyJWT's
  own wrapper cost 2-3x the RSA verification it wraps (option merging, a per-character alphabet
  scan, stdlib json); tests/unit/test_verifier_jws_parity.py holds both to the same answers on
  crafted and mutated tokens, tests/unit/test_verifier_signature.py on the refusal rules.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import warnings
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.warnings import InsecureKeyLengthWarning

from schemas.settings import CLOCK_SKEW_S, SIGNING_ALGS, default_issuer
from services.verifier.claims import REQUIRED_CLAIMS as REQUIRED_CLAIMS
from services.verifier.claims import claims_problem

_ALGORITHMS: dict[str, Algorithm] = {
    alg: algorithm for alg, algorithm in get_default_algorithms().items() if alg in SIGNING_ALGS
}
_BASE64URL = re.compile(rb"[A-Za-z0-9_-]*")
_SUPPORTED_CRIT = frozenset({"b64"})  # what PyJWT understands; b64=false is refused below
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

    Any header ``alg`` but the key record's is refused (``compact_jws``).
    """
    if len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        decoded = compact_jws(token, key)
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError):
        return None
    if decoded is None:
        return None
    header, claims = decoded
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


def compact_jws(token: str, key: VerificationKey) -> tuple[dict[str, Any], Any] | None:
    """(header, payload) of a compact JWS (RFC 7515 §7.1) whose signature ``key`` verifies with
    the key record's ``alg``, or None; the payload is the decoded JSON, not yet checked.

    Refuses what PyJWT's ``decode_complete(token, key.key, algorithms=[key.alg])`` refuses: not
    three segments, a segment that is not canonical base64url (RFC 7515 §2, PyJWT's padding and
    alphabet rules), a header that is not a JSON object, a non-string ``kid``, a ``crit`` other
    than a non-empty list of present, understood names (RFC 7515 §4.1.11), ``b64: false`` (RFC
    7797: a detached payload, never an access token), a header ``alg`` other than the key's
    (RFC 8725 §3.1), a bad signature. May raise ValueError or RecursionError for malformed input
    (a caller treats either as None). A key shorter than PyJWT's minimum warns as PyJWT does.
    """
    raw = token.encode("utf-8")
    signing_input, dot, crypto_segment = raw.rpartition(b".")
    header_segment, dot2, payload_segment = signing_input.partition(b".")
    if not dot or not dot2:
        return None
    header = _json(_segment(header_segment))
    if not isinstance(header, dict) or not _header_acceptable(header):
        return None
    payload_data, signature = _segment(payload_segment), _segment(crypto_segment)
    if payload_data is None or signature is None or header.get("alg") != key.alg:
        return None
    algorithm = _ALGORITHMS[key.alg]
    prepared = algorithm.prepare_key(key.key)
    short = algorithm.check_key_length(prepared)
    if short:
        warnings.warn(short, InsecureKeyLengthWarning, stacklevel=2)
    if not algorithm.verify(signing_input, prepared, signature):
        return None
    return header, _json(payload_data)


def _segment(segment: bytes) -> bytes | None:
    # PyJWT's rule (GHSA-hxm8-2xgr-2p9m): at most two '=' and only on a multiple of 4, the
    # base64url alphabet only, and the canonical encoding of what it decodes to.
    stripped = segment.rstrip(b"=")
    padding = len(segment) - len(stripped)
    if padding > 2 or (padding and len(segment) % 4) or len(stripped) % 4 == 1:
        return None
    if not _BASE64URL.fullmatch(stripped):
        return None
    decoded = base64.urlsafe_b64decode(stripped + b"=" * (-len(stripped) % 4))
    return decoded if base64.urlsafe_b64encode(decoded).rstrip(b"=") == stripped else None


def _json(data: bytes | None) -> Any:
    # orjson first (4x faster here); what it refuses (NaN, lone surrogates, a BOM...) goes to
    # the stdlib parser PyJWT uses, so the same documents parse.
    if data is None:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _header_acceptable(header: dict[str, Any]) -> bool:
    if "kid" in header and not isinstance(header["kid"], str):
        return False
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not crit:
            return False
        for name in crit:
            if not isinstance(name, str) or name not in _SUPPORTED_CRIT or name not in header:
                return False
    return header.get("b64", True) is not False
