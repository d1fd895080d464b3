"""The one owner of this region's signing key: what tokens are signed with, from the next
request on after a rotation.

Rotation (``services.login.rotation``) hands the new key to ``Signer.install``; every use case that
signs reads ``Signer.key`` at the moment it signs. No other object keeps a copy of the key.
"""

from __future__ import annotations

from services.core.keys import SigningKey
from services.login.keyring import Keyring, own_published_key


class Signer:
    """Holds the current ``SigningKey`` of ``region`` (tokens carry ``issuer``) and keeps the
    endpoint's keyring listing its public half, so our own tokens verify at once."""

    def __init__(self, key: SigningKey, region: str, issuer: str, keyring: Keyring) -> None:
        self._key = key
        self.region = region
        self.issuer = issuer
        self._keyring = keyring

    @property
    def key(self) -> SigningKey:
        """The key to sign with now."""
        return self._key

    def install(self, key: SigningKey) -> None:
        """Sign with ``key`` from now on; its public half is verifiable at once (the previous one
        stays in the keyring until the stores no longer list it)."""
        self._key = key
        self._keyring.set_own(own_published_key(key, self.region, self.issuer))
