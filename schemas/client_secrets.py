"""OAuth client secrets: generated once, shown once, stored only as a digest.

A client secret is 32 random bytes (256 bits) from the OS CSPRNG, base64url without padding. It
is stored as ``"sha256:" + hex(SHA-256(secret))``: a slow password hash buys nothing against a
256-bit random value (nothing to brute-force or look up) and would cost an argon2 computation on
every client authentication, introspection call included. RFC 6749 §2.3.1 is the authentication
the secret serves; the comparison is constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

CLIENT_SECRET_BYTES = 32
"""Entropy of a generated client secret, in bytes."""
CLIENT_SECRET_HASH_PREFIX = "sha256:"  # noqa: S105 (a digest name, not a secret)
"""Prefix naming the digest of a stored secret hash (the only one so far)."""


def new_client_secret() -> str:
    """A fresh client secret: 32 random bytes, base64url without padding (43 characters)."""
    raw = secrets.token_bytes(CLIENT_SECRET_BYTES)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def hash_client_secret(secret: str) -> str:
    """The stored form of ``secret``: ``"sha256:"`` + 64 lower-case hex digits of its UTF-8
    SHA-256 digest."""
    digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
    return CLIENT_SECRET_HASH_PREFIX + digest


def client_secret_matches(stored: str, presented: str) -> bool:
    """Whether ``presented`` is the secret whose hash is ``stored``, compared in constant time.

    False (never an error) when ``stored`` is empty (a client without a secret) or has an unknown
    prefix, so a public client can never be authenticated by a secret.
    """
    if not stored.startswith(CLIENT_SECRET_HASH_PREFIX):
        return False
    candidate = hash_client_secret(presented)
    return hmac.compare_digest(candidate.encode("ascii"), stored.encode("ascii", "replace"))
