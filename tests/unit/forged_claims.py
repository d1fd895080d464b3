"""Forged-but-validly-signed access tokens: what an insider or a stolen key could sign.

Each case is a payload a genuine key signs; none of them may be active anywhere, and none may
make any endpoint answer 5xx. ``genuine_claims`` is the control: the same key, sane claims.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import orjson

from services.core.keys import SigningKey

Claims = dict[str, Any]
HUGE = 10**30


def genuine_claims(region: str, issuer: str, user_id: str = "u-forged") -> Claims:
    now = int(time.time())
    return {
        "iss": issuer,
        "sub": user_id,
        "sid": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 600,
        "region": region,
        "client_id": "web",
    }


def _with(**changes: Any) -> Callable[[Claims], Claims | bytes]:
    return lambda claims: claims | changes


def _without(name: str) -> Callable[[Claims], Claims | bytes]:
    return lambda claims: {k: v for k, v in claims.items() if k != name}


def _nested(depth: int) -> Callable[[Claims], Claims | bytes]:
    def build(claims: Claims) -> bytes:
        return orjson.dumps(claims)[:-1] + b',"scope":' + b"[" * depth + b"]" * depth + b"}"

    return build


def _raw(text: bytes) -> Callable[[Claims], Claims | bytes]:
    return lambda _claims: text


FORGERIES: dict[str, Callable[[Claims], Claims | bytes]] = {
    "exp as a string": _with(exp="9999999999"),
    "exp beyond 64 bits": _with(exp=HUGE),
    "exp beyond year 9999": _with(exp=253402300800),
    "exp infinite (1e400)": lambda claims: orjson.dumps(claims)[:-1] + b',"exp":1e400}',
    "exp a boolean": _with(exp=True),
    "exp null": _with(exp=None),
    "exp an array": _with(exp=[9999999999]),
    "exp missing": _without("exp"),
    "iat as a string": _with(iat="1"),
    "iat beyond 64 bits": _with(iat=HUGE),
    "iat negative": _with(iat=-(HUGE)),
    "iat missing": _without("iat"),
    "nbf as a string": _with(nbf="0"),
    "nbf beyond 64 bits": _with(nbf=HUGE),
    "scope beyond 64 bits": _with(scope=HUGE),
    "scope an array": _with(scope=["admin"]),
    "scope an object": _with(scope={"admin": True}),
    "scope nested 2000 deep": _nested(2000),
    "client_id beyond 64 bits": _with(client_id=HUGE),
    "client_id an array": _with(client_id=["web"]),
    "sub a number": _with(sub=HUGE),
    "sub empty": _with(sub=""),
    "sub with NUL": _with(sub="u\x00x"),
    "sub of 2000 characters": _with(sub="u" * 2000),
    "sid a number": _with(sid=7),
    "sid null": _with(sid=None),
    "jti an object": _with(jti={"a": 1}),
    "region an array": _with(region=["eu"]),
    "region missing": _without("region"),
    "iss another URL": _with(iss="https://attacker.example"),
    "iss a number": _with(iss=HUGE),
    "iss missing": _without("iss"),
    "aud a number": _with(aud=HUGE),
    "aud an array of numbers": _with(aud=[1, 2]),
    "payload an array": _raw(b"[1, 2, 3]"),
    "payload a string": _raw(b'"hello"'),
    "payload not JSON": _raw(b"\xff\xfe not json"),
}


def sign(key: SigningKey, payload: Claims | bytes) -> str:
    """A JWS with ``key``'s kid and algorithm over ``payload`` (a dict, or raw payload bytes)."""
    # json, not orjson: orjson refuses integers beyond 64 bits, which are part of the battery.
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"kid": key.kid, "typ": "at+jwt"}
    return jwt.api_jws.encode(body, key.private_key, algorithm=key.alg, headers=headers)


def forged_token(key: SigningKey, case: str, region: str, issuer: str) -> str:
    """The token of FORGERIES[case], signed by ``key`` for ``region`` and ``issuer``."""
    return sign(key, FORGERIES[case](genuine_claims(region, issuer)))
