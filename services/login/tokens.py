"""Access-token (JWT) and refresh-token rules: how tokens are made.

What makes a token valid is defined once in ``services.verifier.signature`` (re-exported here).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from jwt.algorithms import Algorithm, get_default_algorithms

from schemas.envelope import new_event_id
from schemas.epoch import epoch_s
from schemas.names import USER_REVOCATION_SEEN_CLAIM
from services.core.keys import PrivateKey, SigningKey, b64url

# Verification lives with the verifier (one definition for introspection and resource servers).
from services.verifier.signature import ACCESS_TOKEN_TYPE
from services.verifier.signature import REQUIRED_CLAIMS as REQUIRED_CLAIMS
from services.verifier.signature import VerificationKey as VerificationKey
from services.verifier.signature import unverified_kid as unverified_kid
from services.verifier.signature import verification_key as verification_key
from services.verifier.signature import verify_access_token as verify_access_token

REFRESH_SECRET_BYTES = 32  # 256 bits of randomness


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
    revocation_seen: str = ""
    """The session's user-wide revocation evidence (SessionStarted.user_revocation_seen), sent
    as the ``rev_seen`` claim; "" (a session without evidence) sends no claim."""
    audience: str = ""
    """The resource server the token is for (RFC 9068 §2.2 ``aud``, RFC 8707); "" sends none."""


def issue_access_token(
    key: SigningKey, ctx: TokenContext, ttl_s: int, now: datetime | None = None
) -> AccessToken:
    """An RFC 9068 JWT access token for ``ctx``, valid ``ttl_s`` seconds from ``now``: header
    ``typ: at+jwt`` and ``kid``; claims ``iss``, ``sub``, ``aud`` (when ``ctx`` has one),
    ``exp``, ``iat``, ``jti``, ``client_id``, ``scope`` (when any), ``sid`` and ``region``."""
    issued = now or datetime.now(UTC)
    jti = str(uuid.uuid4())
    claims: dict[str, Any] = {
        "iss": ctx.issuer,
        "sub": ctx.user_id,
        "sid": ctx.session_id,
        "jti": jti,
        "iat": epoch_s(issued),
        "exp": epoch_s(issued + timedelta(seconds=ttl_s)),
        "region": ctx.region,
        "client_id": ctx.client_id,
    }
    if ctx.audience:
        claims["aud"] = ctx.audience
    if ctx.scope:
        claims["scope"] = ctx.scope
    if ctx.revocation_seen:
        claims[USER_REVOCATION_SEEN_CLAIM] = ctx.revocation_seen
    return AccessToken(token=compact_jws(key, claims), jti=jti, expires_in=ttl_s)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What signing with one key repeats on every token, done once: the encoded protected
    header and the algorithm with its checked key."""

    private_key: PrivateKey
    header: bytes
    algorithm: Algorithm
    prepared_key: Any


_PREPARED: dict[str, _Prepared] = {}
_PREPARED_MAX = 8  # a few kids: the signing key and those rotation replaced
_JSON_SAFE = re.compile(rb"[\x20-\x7e]*")
"""orjson's compact output equals ``json.dumps(separators=(",", ":"))``'s byte for byte when it is
printable ASCII only (the same escapes for quotes, backslashes and control characters); other
output (non-ASCII text, DEL) is written by ``json.dumps``, which escapes it as \\uXXXX."""


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _prepared(key: SigningKey) -> _Prepared:
    cached = _PREPARED.get(key.kid)
    if cached is not None and cached.private_key is key.private_key:
        return cached
    algorithm = get_default_algorithms()[key.alg]
    header = {"alg": key.alg, "kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
    encoded = _b64(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
    prepared = _Prepared(
        key.private_key, encoded, algorithm, algorithm.prepare_key(key.private_key)
    )
    if len(_PREPARED) >= _PREPARED_MAX:
        _PREPARED.clear()
    _PREPARED[key.kid] = prepared
    return prepared


def compact_jws(key: SigningKey, claims: dict[str, Any]) -> str:
    """The JWS Compact Serialization (RFC 7515 §7.1) of ``claims`` signed with ``key``: protected
    header ``{"alg", "kid", "typ": "at+jwt"}`` (RFC 9068 §2.1), members sorted, JSON without
    spaces. Byte for byte what ``jwt.encode(claims, key, alg, {"kid", "typ"})`` gives, without
    re-checking the key and re-encoding the header for every token. ``claims`` holds JSON
    strings and integers (RFC 7519 NumericDate for ``iat``/``exp``)."""
    prepared = _prepared(key)
    payload = orjson.dumps(claims)
    if _JSON_SAFE.fullmatch(payload) is None:
        payload = json.dumps(claims, separators=(",", ":")).encode()
    signing_input = prepared.header + b"." + _b64(payload)
    signature = prepared.algorithm.sign(signing_input, prepared.prepared_key)
    return (signing_input + b"." + _b64(signature)).decode()


def new_session_id() -> str:
    """A UUIDv7 (RFC 9562): its creation time bounds how long a region that has not seen the
    session yet keeps answering "not here yet" (services.login.refresh.may_be_in_flight)."""
    return new_event_id()


def new_refresh_token(session_id: str) -> str:
    """``<session_id>.<secret>``: the session id routes it, the secret proves possession."""
    return f"{session_id}.{b64url(secrets.token_bytes(REFRESH_SECRET_BYTES))}"


def refresh_token_hash(refresh_token: str) -> str:
    """What is stored and sent on the log: SHA-256 hex of the whole token's UTF-8 bytes."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()
