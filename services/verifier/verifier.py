"""``Verifier``: signature and token type (every region's published keys), the resource
server's expectations (audience, scopes) and revocation (this region's state).

A resource server builds one per process with ``Verifier.connect(..., audience=...)`` and calls
``await verifier.verify(token)`` per request; the login endpoint's introspection calls
``check`` on the same class (without an audience: it answers ``aud`` to the resource server),
so both answer by the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.settings import Settings
from services.core.readmodel import make_engine, make_redis
from services.verifier.checks import CheckMetrics, RevocationChecker
from services.verifier.expectations import unmet_expectation
from services.verifier.keyring import Keyring, jwks_loader
from services.verifier.keystatus import active_keys_loader
from services.verifier.mirror import RevocationMirror
from services.verifier.signature import VerificationKey, unverified_kid, verify_access_token


class KeySource(Protocol):
    async def get(self, kid: str) -> VerificationKey | None: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    active: bool
    # active | malformed | unknown_kid | invalid | wrong_audience | insufficient_scope | revoked
    # | state_unknown
    reason: str
    claims: dict[str, Any] = field(default_factory=dict)


class InvalidToken(Exception):
    """The token must not be accepted; ``reason`` is one of Verdict's inactive reasons."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Verifier:
    """Checks access tokens for one region (docs/verifier.md).

    ``audience``: the identifier this resource server expects in ``aud`` (RFC 9068 §4 requires
    resource servers to check it; None skips the check, for the login endpoint's introspection
    and callers that check ``aud`` themselves). ``required_scopes``: scopes every token must
    grant (more per call: ``check(token, required_scopes=...)``). ``accept_legacy_typ``: also
    accept tokens with ``typ: JWT`` or none, only while tokens of a version before RFC 9068
    tokens may still be alive (off by default)."""

    def __init__(
        self,
        keys: KeySource,
        revocations: RevocationChecker,
        *,
        region: str,
        issuer: str | None = None,
        audience: str | None = None,
        required_scopes: Iterable[str] = (),
        accept_legacy_typ: bool = False,
    ) -> None:
        self.keys = keys
        self.revocations = revocations
        self._region = region
        self._issuer = issuer or Settings(region=region).token_issuer
        self._audience = audience
        self._required_scopes = frozenset(required_scopes)
        self._accept_legacy_typ = accept_legacy_typ
        self._owned: list[Any] = []

    async def verify(self, token: str, required_scopes: Iterable[str] = ()) -> dict[str, Any]:
        """The claims of a genuine, unrevoked access token for this resource server granting
        ``required_scopes`` (and the verifier's own); raises InvalidToken otherwise."""
        verdict = await self.check(token, required_scopes)
        if not verdict.active:
            raise InvalidToken(verdict.reason)
        return verdict.claims

    async def check(self, token: str, required_scopes: Iterable[str] = ()) -> Verdict:
        """``verify``'s answer as a Verdict; never raises for anything a token contains."""
        genuine = await self._genuine(token)
        if isinstance(genuine, str):
            return Verdict(False, genuine)
        claims, kid = genuine
        scopes = self._required_scopes.union(required_scopes)
        unmet = unmet_expectation(claims, self._audience, scopes)
        if unmet is not None:
            return Verdict(False, unmet)
        why = await self.revocations.why_revoked(claims, kid)
        return Verdict(False, why) if why else Verdict(True, "active", claims)

    async def genuine_claims(self, token: str) -> dict[str, Any] | str:
        """Signature, token type and claims only (no audience, scope or revocation check): the
        claims, or why not."""
        genuine = await self._genuine(token)
        return genuine if isinstance(genuine, str) else genuine[0]

    async def _genuine(self, token: str) -> tuple[dict[str, Any], str] | str:
        # (claims, the kid of the key that verified them), or why not.
        kid = unverified_kid(token)
        if kid is None:
            return "malformed"
        key = await self.keys.get(kid)
        if key is None:
            return "unknown_kid"
        claims = verify_access_token(
            token,
            key,
            own_region=self._region,
            own_issuer=self._issuer,
            accept_legacy_typ=self._accept_legacy_typ,
        )
        return "invalid" if claims is None else (claims, key.kid)

    @classmethod
    async def connect(
        cls,
        *,
        region: str,
        redis_url: str,
        postgres_dsn: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        required_scopes: Iterable[str] = (),
        accept_legacy_typ: bool = False,
        fail_open: bool = False,
        mirror: bool = True,
        registry: CollectorRegistry | None = None,
    ) -> Verifier:
        """A verifier with its own clients (closed by ``close``); see docs/verifier.md and the
        class docstring for ``audience``, ``required_scopes`` and ``accept_legacy_typ``."""
        if jwks_url is None and postgres_dsn is None:
            raise ValueError("give jwks_url, or postgres_dsn to read keys from the stores")
        redis = make_redis(redis_url)
        engine = make_engine(postgres_dsn) if postgres_dsn else None
        owned: list[Any] = [redis] + ([engine] if engine else [])
        keys = _keyring(redis, engine, jwks_url, owned)
        follower = None
        if mirror:
            # Its own client: the subscription holds a connection for good.
            mirror_redis = make_redis(redis_url)
            follower = RevocationMirror(mirror_redis)
            owned[:0] = [follower, mirror_redis]
        checks = RevocationChecker(
            redis, engine, fail_open=fail_open, mirror=follower, metrics=CheckMetrics(registry)
        )
        verifier = cls(
            keys,
            checks,
            region=region,
            issuer=issuer,
            audience=audience,
            required_scopes=required_scopes,
            accept_legacy_typ=accept_legacy_typ,
        )
        verifier.own(*owned)
        if follower is not None:
            follower.start()
        return verifier

    @classmethod
    async def from_settings(cls, settings: Settings, **kw: Any) -> Verifier:
        return await cls.connect(
            region=settings.region,
            redis_url=settings.redis_url,
            postgres_dsn=settings.postgres_dsn,
            issuer=settings.token_issuer,
            fail_open=settings.fail_open,
            **kw,
        )

    def own(self, *resources: Any) -> None:
        """Clients and mirrors ``close`` ends, in the order given."""
        self._owned.extend(resources)

    async def close(self) -> None:
        for resource in self._owned:
            if isinstance(resource, RevocationMirror):
                await resource.close()
            elif isinstance(resource, AsyncEngine):
                await resource.dispose()
            else:
                await resource.aclose()
        self._owned = []


def _keyring(
    redis: Redis, engine: AsyncEngine | None, jwks_url: str | None, owned: list[Any]
) -> Keyring:
    if jwks_url is not None:
        client = httpx.AsyncClient(timeout=2.0)
        owned.append(client)
        return Keyring(None, jwks_loader(client, jwks_url))
    assert engine is not None
    return Keyring(None, active_keys_loader(redis, engine))
