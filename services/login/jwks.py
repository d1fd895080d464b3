"""The JWK Set a login endpoint publishes at ``/.well-known/jwks.json`` (RFC 7517 §5).

Every entry is a valid RFC 7517 JWK: the key type's public parameters (``services.core.keys``), plus
``kid``, ``alg`` and ``use: "sig"`` (§4.2, §4.4, §4.5; never ``key_ops`` as well, §4.3). Two
extra members (allowed by §4, ignored by clients that do not know them) let in-process verifiers
apply the same rule as the regions: ``region`` (the region that published the key, which tokens
must name) and ``iss`` (the issuer its tokens must carry).
"""

from __future__ import annotations

import logging
from typing import Any

from schemas.settings import default_issuer
from services.core.keys import public_members
from services.core.readmodel import PublishedKey

log = logging.getLogger(__name__)


def jwks_entries(
    published: list[PublishedKey], own_region: str, own_issuer: str
) -> list[dict[str, Any]]:
    """One JWK per usable published key; a record whose JWK lacks its parameters is skipped."""
    entries = []
    for key in published:
        try:
            members = public_members(key.public_jwk)
        except KeyError:
            log.warning("not publishing an incomplete key record", extra={"kid": key.kid})
            continue
        issuer = key.issuer or (own_issuer if key.region == own_region else "")
        entries.append(
            {
                **members,
                "kid": key.kid,
                "alg": key.alg,
                "use": "sig",
                "region": key.region,
                "iss": issuer or default_issuer(key.region),
            }
        )
    return entries
