"""The worked example of evolving an event: ``signing_key.published`` v1 -> v2.

v2 carries a complete RFC 7517 JWK: ``public_jwk`` holds ``kid`` (§4.5), ``alg`` (§4.4) and
``use: "sig"`` (§4.2) beside the key's own parameters, equal to the payload's ``kid`` and ``alg``.
A reader in any language can then copy it into a JWK Set as is; v1 carries only ``kty`` and the
key parameters, and every reader has to assemble the rest itself.

The choice: producers keep writing v1. Writing v2 before every region runs code that reads it
would dead-letter the new records in the regions not yet upgraded (the codec refuses a version
it has no class for), so a real v2 ships in two releases: first every region reads it (the
class in ``EVENT_CLASSES`` and the upcaster in ``UPCASTERS`` of ``schemas.events``), then
producers write it. ``WITH_SIGNING_KEY_V2`` is that first release as a value, not yet the
catalog production reads with: tests decode archived v1 records through it, compare them with
golden v2 records (tests/unit/golden/upcast/) and check that projecting either gives the same
operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from schemas.catalog import CURRENT, Catalog
from schemas.codec import DecodeError
from schemas.events import SigningKeyPublished

JWK_USE_SIGNATURE = "sig"
"""RFC 7517 §4.2 ``use`` value of a key that verifies signatures."""


@dataclass(frozen=True, slots=True)
class SigningKeyPublishedV2(SigningKeyPublished):
    """A region's public signing key whose ``public_jwk`` is complete: it names its ``kid``,
    ``alg`` and ``use``. Every v1 field keeps its name and meaning (so it is a subclass, and the
    reducers read it unchanged); only the rule on ``public_jwk`` is stricter."""

    VERSION: ClassVar[int] = 2


def signing_key_published_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """The v2 payload of a v1 ``signing_key.published`` payload: ``public_jwk`` gains ``kid``,
    ``alg`` and ``use``. Members of the wrong JSON type are left for the codec's field checks
    to refuse. Raises DecodeError if the JWK already names a different ``kid``, ``alg`` or
    ``use`` (RFC 7517 §4: the members describe this key, so a contradiction is no key at all)."""
    jwk = payload.get("public_jwk")
    if not isinstance(jwk, dict):
        return payload
    wanted = {"kid": payload.get("kid"), "alg": payload.get("alg"), "use": JWK_USE_SIGNATURE}
    completed = dict(jwk)
    for member, value in wanted.items():
        if not isinstance(value, str):
            continue
        if completed.setdefault(member, value) != value:
            raise DecodeError(f"signing_key.published v1 public_jwk names another {member}")
    return {**payload, "public_jwk": completed}


WITH_SIGNING_KEY_V2: Catalog = CURRENT.with_upcaster(
    SigningKeyPublishedV2, 1, signing_key_published_v1_to_v2
)
"""``CURRENT`` plus ``signing_key.published`` v2, read from v1 records through the upcaster."""
