"""What a drill checks once the load has stopped: nothing acknowledged was lost, every
acknowledged revocation is in effect everywhere, and every region's state digest is equal."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence

import httpx
import orjson

from schemas import names
from schemas.redis_client import make_sync_redis
from services.devstack.apps import REPO_ROOT
from services.devstack.drill.load import Outcome
from services.devstack.stack import INTROSPECTION_CLIENT_ID, Stack


def acknowledged_sessions(outcomes: Iterable[Outcome]) -> set[str]:
    """Session ids of every login the client got a 200 for."""
    return {o.session_id for o in outcomes if o.op == "login" and o.status == 200}


def missing_sessions(stack: Stack, region: str, sessions: set[str], within_s: float) -> set[str]:
    """Acknowledged sessions still absent from ``region``'s Redis after waiting ``within_s`` s."""
    redis = make_sync_redis(stack.settings[region].redis_url)
    deadline = time.monotonic() + within_s
    try:
        missing = set(sessions)
        while missing and time.monotonic() < deadline:
            missing = {s for s in missing if not redis.exists(names.redis_session_key(s))}
            if missing:
                time.sleep(0.5)
        return missing
    finally:
        redis.close()


def revocations_not_in_effect(
    stack: Stack, region: str, outcomes: Iterable[Outcome], within_s: float
) -> int:
    """Acknowledged revocations whose access token ``region`` still calls active."""
    tokens = [o.access_token for o in outcomes if o.op == "revoke" and o.status == 200]
    url = f"{_login_url(stack, region)}/oauth2/introspect"
    auth = (INTROSPECTION_CLIENT_ID, stack.introspection_secret)
    deadline = time.monotonic() + within_s
    with httpx.Client(timeout=5.0) as http:
        pending = tokens
        while pending and time.monotonic() < deadline:
            pending = [
                t for t in pending if http.post(url, data={"token": t}, auth=auth).json()["active"]
            ]
            if pending:
                time.sleep(0.5)
    return len(pending)


def checksums(stack: Stack, regions: Sequence[str]) -> dict[str, dict[str, object]]:
    """``authplane checksum --json``'s document per region (``overall`` and ``kinds``); a region
    whose command failed or timed out gets ``{"overall": "?"}``, counted as unequal."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out: dict[str, dict[str, object]] = {}
    for region in regions:
        argv = [sys.executable, "-m", "streams.replay", "--stack-file", str(stack.stack_file)]
        argv += ["checksum", "--region", region, "--json"]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, env=env, check=False, timeout=120
            )
        except subprocess.TimeoutExpired:
            out[region] = {"overall": "?"}  # converged_checksums asks again
            continue
        out[region] = orjson.loads(done.stdout) if done.returncode == 0 else {"overall": "?"}
    return out


def converged_checksums(
    stack: Stack, regions: Sequence[str], within_s: float
) -> dict[str, dict[str, object]]:
    """Checksum documents, re-read until their overall digests are equal or ``within_s`` s
    passed (projection is asynchronous)."""
    deadline = time.monotonic() + within_s
    while True:
        docs = checksums(stack, regions)
        if len({str(d["overall"]) for d in docs.values()}) == 1 or time.monotonic() > deadline:
            return docs
        time.sleep(1.0)


def differing_kinds(docs: dict[str, dict[str, object]]) -> str:
    """Where the regions' checksums differ, so a failed drill says where: the regions whose
    checksum command failed, then each kind of record whose digest differs among the others,
    with its record count per region (``"pg archive (eu=310, us=310, ap=302)"``)."""
    failed = [region for region, doc in docs.items() if not isinstance(doc.get("kinds"), dict)]
    read = {region: doc["kinds"] for region, doc in docs.items() if region not in failed}
    kinds: dict[str, dict[str, tuple[int, str]]] = {}
    for region, per_kind in read.items():
        assert isinstance(per_kind, dict)
        for kind, figures in per_kind.items():
            kinds.setdefault(kind, {})[region] = (int(figures["count"]), str(figures["digest"]))
    shown = [f"{region}: checksum failed" for region in failed]
    for kind, per_region in sorted(kinds.items()):
        if len(per_region) < len(read) or len(set(per_region.values())) > 1:
            counts = ", ".join(f"{r}={per_region[r][0] if r in per_region else '-'}" for r in read)
            shown.append(f"{kind} ({counts})")
    return "; ".join(shown) or "none"


def success_rate(outcomes: Iterable[Outcome], op: str = "login") -> tuple[int, int]:
    """``(200s, all)`` among ``op`` outcomes."""
    chosen = [o for o in outcomes if o.op == op]
    return sum(o.status == 200 for o in chosen), len(chosen)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` (ms in, ms out); nan when empty."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, int(q * 100) - 1)]


def _login_url(stack: Stack, region: str) -> str:
    settings = stack.settings[region]
    return f"http://{settings.http_host}:{settings.http_port}"
