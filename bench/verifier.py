"""In-process verifier throughput per core against PyJWT's own decode+verify of the same token.

Both run in this one process on one core, in alternating rounds (the median round counts), so
machine noise hits both alike. The verifier runs as a resource server would use it: keyring,
signature, claims, and the revocation check against a Redis holding ``revocations`` entries.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from redis.asyncio import Redis

from bench.report import figure, heading, ratio
from schemas import names
from services.core import keys
from services.core.readmodel import PublishedKey, make_redis
from services.login.tokens import TokenContext, issue_access_token
from services.verifier.checks import RevocationChecker
from services.verifier.keyring import Keyring
from services.verifier.mirror import RevocationMirror
from services.verifier.verifier import Verifier

REGION = "bench"
ISSUER = "https://bench.authplane.local"


async def bench_verifier(
    redis_url: str,
    *,
    alg: str = "RS256",
    tokens_per_round: int = 2000,
    rounds: int = 7,
    revocations: int = 10_000,
) -> dict[str, float]:
    """Print and return PyJWT decode/s, verifier/s (mirror and direct Redis) and their ratios."""
    signing = keys.SigningKey(*_key(alg))
    token = _token(signing)
    await _seed_revocations(redis_url, revocations)
    mirrored = await _verifier(signing, redis_url, mirror=True)
    direct = await _verifier(signing, redis_url, mirror=False)
    key = (await mirrored.keys.get(signing.kid)).key  # type: ignore[union-attr]
    try:
        await mirrored.verify(token)  # warm: fails loudly if the setup is wrong
        results = await _measure(token, key, alg, mirrored, direct, tokens_per_round, rounds)
    finally:
        await _close(mirrored, direct)
    _report(alg, results, revocations)
    return results


def _key(alg: str) -> tuple[str, str, keys.PrivateKey, dict[str, str]]:
    private = keys.generate_private_key(alg)
    jwk = keys.public_jwk(private)
    return keys.jwk_thumbprint(jwk), alg, private, jwk


def _token(signing: keys.SigningKey) -> str:
    ctx = TokenContext(ISSUER, REGION, "u-bench", str(uuid.uuid4()), "bench", "")
    return issue_access_token(signing, ctx, ttl_s=3600).token


async def _seed_revocations(redis_url: str, count: int) -> None:
    redis = Redis.from_url(redis_url)
    try:
        pipe = redis.pipeline(transaction=False)
        for i in range(count):
            pipe.hset(names.redis_revoked_session_key(f"bench-{i}"), "event_id", str(i))
            pipe.expire(names.redis_revoked_session_key(f"bench-{i}"), 3600)
        await pipe.execute()
    finally:
        await redis.aclose()


async def _verifier(signing: keys.SigningKey, redis_url: str, *, mirror: bool) -> Verifier:
    published = PublishedKey(signing.kid, REGION, signing.alg, signing.public_jwk, "")

    async def load() -> list[PublishedKey]:
        return [published]

    redis, mirror_redis = make_redis(redis_url), make_redis(redis_url)
    follower = RevocationMirror(mirror_redis) if mirror else None
    checks = RevocationChecker(redis, None, mirror=follower)
    verifier = Verifier(Keyring(None, load), checks, region=REGION, issuer=ISSUER)
    verifier.own(*([follower] if follower else []), mirror_redis, redis)
    if follower is not None:
        follower.start()
        if not await follower.wait_fresh(10.0):
            raise RuntimeError("the revocation mirror never became fresh")
    return verifier


async def _measure(
    token: str, key: Any, alg: str, mirrored: Verifier, direct: Verifier, n: int, rounds: int
) -> dict[str, float]:
    samples: dict[str, list[float]] = {"pyjwt": [], "mirror": [], "direct": []}
    for _ in range(rounds):
        samples["pyjwt"].append(_per_second(lambda: jwt.decode(token, key, algorithms=[alg]), n))
        samples["mirror"].append(await _async_per_second(lambda: mirrored.verify(token), n))
        samples["direct"].append(await _async_per_second(lambda: direct.verify(token), n // 4))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    registry = mirrored.revocations.metrics.registry
    answered = registry.get_sample_value("authplane_revocation_checks_total", {"outcome": "mirror"})
    if not answered:  # the figure must be the mirror's, not a fallback's
        raise RuntimeError("the mirrored verifier never answered from its mirror")
    return medians


def _per_second(call: Callable[[], Any], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        call()
    return n / (time.perf_counter() - started)


async def _async_per_second(call: Callable[[], Awaitable[Any]], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await call()
    return n / (time.perf_counter() - started)


async def _close(*verifiers: Verifier) -> None:
    for verifier in verifiers:
        await verifier.close()


def _report(alg: str, results: dict[str, float], revocations: int) -> None:
    heading(
        f"in-process verifier throughput ({alg}, one core)",
        f"median of alternating rounds: PyJWT jwt.decode of one token vs Verifier.verify of the "
        f"same token (keyring, signature, claims, revocation check) with {revocations:,} "
        "revoked sessions in Redis; the mirror answers from local sets kept current by keyspace "
        "notifications, direct reads Redis per token",
    )
    figure("PyJWT decode+verify", results["pyjwt"], "tokens/s")
    figure("verifier (local revocation mirror)", results["mirror"], "tokens/s")
    figure("verifier (direct Redis per token)", results["direct"], "tokens/s")
    ratio("verifier (mirror) / PyJWT", results["mirror"], results["pyjwt"], ">= 0.8")
    ratio("verifier (direct Redis) / PyJWT", results["direct"], results["pyjwt"], "for contrast")
