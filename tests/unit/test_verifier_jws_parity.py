"""The verifier's own compact-JWS reading (``compact_jws``) against PyJWT's ``decode_complete``:
for every token here, genuine, crafted or mutated, both accept or both refuse, and when both
accept they read the same header and payload. PyJWT stays the reference the lean path answers to.
"""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import jwt
import pytest

from services.core.keys import SigningKey, generate_private_key, jwk_thumbprint, public_jwk
from services.verifier.signature import VerificationKey, compact_jws, verification_key

ALGS = ("RS256", "ES256", "EdDSA")


def _keys(alg: str) -> tuple[SigningKey, VerificationKey]:
    private = generate_private_key(alg)
    jwk = public_jwk(private)
    signing = SigningKey(jwk_thumbprint(jwk), alg, private, jwk)
    return signing, verification_key(signing.kid, "eu", alg, jwk)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(signing: SigningKey, header: Any, payload: bytes, alg: str | None = None) -> str:
    """A compact JWS over exactly these header and payload bytes, signed by ``signing``'s
    private key with ``alg``'s algorithm (default the key's own)."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    signing_input = f"{_b64(head)}.{_b64(payload)}".encode()
    algorithm = jwt.get_algorithm_by_name(alg or signing.alg)
    signature = algorithm.sign(signing_input, signing.private_key)
    return f"{signing_input.decode()}.{_b64(signature)}"


def _pyjwt(token: str, key: VerificationKey) -> tuple[dict[str, Any], Any] | None:
    try:
        decoded = jwt.decode_complete(
            token,
            key.key,
            algorithms=[key.alg],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError, RecursionError):
        return None
    return decoded["header"], decoded["payload"]


def _ours(token: str, key: VerificationKey) -> tuple[dict[str, Any], Any] | None:
    try:
        decoded = compact_jws(token, key)
    except (ValueError, TypeError, KeyError, RecursionError):
        return None
    if decoded is None or not isinstance(decoded[1], dict):
        return None  # PyJWT refuses a payload that is not a JSON object as a JWT
    return decoded


def _crafted(signing: SigningKey) -> list[str]:
    kid, alg = signing.kid, signing.alg
    claims = json.dumps({"sub": "u", "jti": "j", "exp": 1}).encode()
    good = {"alg": alg, "kid": kid, "typ": "at+jwt"}
    tokens = [
        _signed(signing, good, claims),
        _signed(signing, {**good, "crit": ["b64"], "b64": True}, claims),
        _signed(signing, {**good, "crit": ["b64"], "b64": False}, claims),
        _signed(signing, {**good, "b64": False}, claims),
        _signed(signing, {**good, "crit": ["exp"]}, claims),
        _signed(signing, {**good, "crit": []}, claims),
        _signed(signing, {**good, "crit": "b64", "b64": True}, claims),
        _signed(signing, {**good, "crit": ["b64"]}, claims),
        _signed(signing, {**good, "crit": [1]}, claims),
        _signed(signing, {**good, "kid": 7}, claims),
        _signed(signing, {"kid": kid}, claims),
        _signed(signing, {**good, "alg": None}, claims),
        _signed(signing, {**good, "alg": ""}, claims),
        _signed(signing, {**good, "alg": [alg]}, claims),
        _signed(signing, {**good, "alg": "none"}, claims),
        _signed(signing, {**good, "alg": alg.lower()}, claims),
        _signed(signing, [good], claims),
        _signed(signing, b"\xef\xbb\xbf" + json.dumps(good).encode(), claims),
        _signed(
            signing, b'{"alg": "%s", "kid": "%s", "x": NaN}' % (alg.encode(), kid.encode()), claims
        ),
        _signed(signing, good, b'{"sub": "u", "exp": Infinity}'),
        _signed(signing, good, b'{"sub": "\\ud800"}'),
        _signed(signing, good, b'{"a": 1, "a": 2}'),
        _signed(signing, good, b"[1, 2]"),
        _signed(signing, good, b'"text"'),
        _signed(signing, good, b"not json"),
        _signed(signing, good, b"\xff\xfe"),
        _signed(signing, good, b"[" * 5000 + b"]" * 5000),
        _signed(signing, good, b""),
    ]
    # alg confusion: the public key's bytes as an HMAC secret
    public = json.dumps(signing.public_jwk).encode()
    head = _b64(json.dumps({**good, "alg": "HS256"}).encode())
    signing_input = f"{head}.{_b64(claims)}".encode()
    mac = jwt.get_algorithm_by_name("HS256").sign(signing_input, public)
    tokens.append(f"{signing_input.decode()}.{_b64(mac)}")
    tokens.append(f"{_b64(json.dumps({**good, 'alg': 'none'}).encode())}.{_b64(claims)}.")
    return tokens


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _non_canonical(token: str) -> list[str]:
    """The token with one segment's last character carrying set unused bits: it decodes to the
    same bytes, but is not the canonical encoding (PyJWT refuses it)."""
    segments = token.split(".")
    out = []
    for i, segment in enumerate(segments):
        spare = {2: 0b1111, 3: 0b11}.get(len(segment) % 4)
        if spare is None:
            continue
        last = B64URL.index(segment[-1])
        changed = segment[:-1] + B64URL[last | spare if last & spare != spare else last & ~1]
        out.append(".".join([*segments[:i], changed, *segments[i + 1 :]]))
    return out


def _mutations(token: str, rng: random.Random, count: int) -> list[str]:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.+/! "
    out = [
        token + "=",
        token + "==",
        token + "===",
        token + ".",
        "." + token,
        token.replace(".", "..", 1),
        token.rsplit(".", 1)[0],
        token[:-1],
        token + "A",
        token.replace(".", "=.", 1),
        token.replace(".", "==.", 1),
        *_non_canonical(token),
    ]
    for _ in range(count):
        chars = list(token)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.5:
                chars[i] = rng.choice(alphabet)
            elif op < 0.75:
                del chars[i]
            else:
                chars.insert(i, rng.choice(alphabet))
        out.append("".join(chars))
    return out


@pytest.mark.parametrize("alg", ALGS)
def test_crafted_tokens_get_pyjwts_answer(alg: str) -> None:
    signing, key = _keys(alg)
    for token in _crafted(signing):
        assert _ours(token, key) == _pyjwt(token, key), token[:120]


@pytest.mark.parametrize("alg", ALGS)
def test_mutated_tokens_get_pyjwts_answer(alg: str) -> None:
    signing, key = _keys(alg)
    rng = random.Random(f"jws-parity-{alg}")
    header = {"alg": alg, "kid": signing.kid, "typ": "at+jwt"}
    genuine = [_signed(signing, header, b'{"sub":"%s"}' % (b"u" * n)) for n in range(3)]
    assert any(_non_canonical(token) for token in genuine)
    accepted = 0
    for token in [*genuine, *(m for g in genuine for m in _mutations(g, rng, 150))]:
        ours = _ours(token, key)
        assert ours == _pyjwt(token, key), token
        accepted += ours is not None
    assert accepted >= len(genuine)  # the genuine tokens themselves


def test_another_keys_signature_is_refused() -> None:
    signing, key = _keys("ES256")
    other, _ = _keys("ES256")
    token = _signed(other, {"alg": "ES256", "kid": signing.kid}, b'{"sub":"u"}')
    assert _ours(token, key) is None
    assert _pyjwt(token, key) is None
