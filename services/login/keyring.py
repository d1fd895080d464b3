"""The login endpoint's view of every region's public keys: the verifier's keyring, seeded with
this region's own key so our tokens verify before the projector has seen its event."""

from __future__ import annotations

from services.core.keys import SigningKey
from services.core.readmodel import PublishedKey
from services.verifier.keyring import Keyring as Keyring


def own_published_key(key: SigningKey, region: str, issuer: str) -> PublishedKey:
    return PublishedKey(key.kid, region, key.alg, dict(key.public_jwk), "", issuer)
