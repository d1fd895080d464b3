"""Wait until every region of a started stack can serve a newcomer's first login.

A region is ready when
- its login endpoint's ``/readyz`` answers 200 (broker, Redis and Postgres reachable, and the
  projector's heartbeat fresh, which faust only starts after the first partition assignment);
- its projector serves ``/metrics`` (the worker process is up, not merely its heartbeat key);
- its projector has applied the ``signing_key.published`` event of every region, so it is
  consuming the log and introspection there already knows every region's key;
- its projector has applied the dev clients' registrations the stack file lists (issue 12), so
  their first token request succeeds.

Polling uses tenacity (stop after a deadline, exponential wait between rounds) instead of another
hand-written loop: the deadline, the back-off and "return the last answer when time is up" are
its tested primitives, and what is left here is only the checks themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson
import redis
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_exponential

from schemas import names
from schemas.redis_client import make_sync_redis
from schemas.topology import RegionEndpoints, Topology
from services.devstack.process import InfraError

PROBE_TIMEOUT_S = 1.0
Pending = dict[str, list[str]]
"""region -> what is not ready there yet (one short phrase each); empty when all are ready."""


class NotReady(InfraError):
    """The stack did not become ready in time; the message names each region and why."""


def wait_until_ready(
    topo: Topology,
    timeout_s: float,
    *,
    dead: Callable[[], list[str]] = list,
    on_pending: Callable[[Pending], None] = lambda _: None,
) -> None:
    """Return once every region of ``topo`` is ready; otherwise raise within ``timeout_s``.

    ``dead`` names started processes that have exited (checked every round: a dead process
    will never become ready, so waiting on is pointless). ``on_pending`` hears what is still
    pending after each round (for a progress line).

    Raises NotReady (a subclass of InfraError) naming every region not ready and why, or
    InfraError when ``dead`` names a process.
    """
    retrying = Retrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_exponential(multiplier=0.05, max=1.0),
        retry=retry_if_result(bool),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else {},
    )
    with httpx.Client(timeout=PROBE_TIMEOUT_S) as client:
        pending: Pending = retrying(_round, topo, client, dead, on_pending)
    if pending:
        raise NotReady(f"not ready after {timeout_s:g} s: {describe(pending)}")


def describe(pending: Pending) -> str:
    """One line: ``us: login /readyz 503 (projector: StaleHeartbeat); eu: ...``."""
    return "; ".join(f"{region}: {', '.join(why)}" for region, why in pending.items())


def _round(
    topo: Topology,
    client: httpx.Client,
    dead: Callable[[], list[str]],
    on_pending: Callable[[Pending], None],
) -> Pending:
    exited = dead()
    if exited:
        raise InfraError(f"exited while waiting for readiness: {', '.join(exited)}")
    pending = {name: why for name in topo.regions if (why := region_problems(topo, name, client))}
    on_pending(pending)
    return pending


def region_problems(topo: Topology, region: str, client: httpx.Client) -> list[str]:
    """What keeps ``region`` from being ready (empty list: ready)."""
    endpoints = topo.region(region)
    problems = [_readyz(client, endpoints.login_url), _metrics(client, endpoints)]
    missing = sorted(set(topo.regions) - _projected_key_regions(endpoints.redis_url))
    if missing:
        problems.append(f"projector has not applied the signing keys of {', '.join(missing)}")
    clients = sorted(topo.extra.get("clients") or {})
    unknown = [c for c in clients if not _client_registered(endpoints.redis_url, c)]
    if unknown:
        problems.append(f"projector has not applied the dev clients {', '.join(unknown)}")
    return [p for p in problems if p]


def _client_registered(redis_url: str, client_id: str) -> bool:
    """Whether this region's Redis holds the client's registration (its token endpoint knows
    it); issue 12's dev clients."""
    client = make_sync_redis(redis_url, timeout_s=PROBE_TIMEOUT_S)
    try:
        return bool(client.hexists(names.redis_client_key(client_id), "registration_event_id"))
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _readyz(client: httpx.Client, login_url: str) -> str:
    try:
        response = client.get(login_url + "/readyz")
    except httpx.HTTPError:
        return "login /readyz unreachable"
    if response.status_code == 200:
        return ""
    return f"login /readyz {response.status_code}{_failed_checks(response)}"


def _failed_checks(response: httpx.Response) -> str:
    try:
        checks = response.json()["checks"]
        failed = [
            f"{name}: {c.get('error', 'failed')}" for name, c in checks.items() if not c["ok"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
    return f" ({'; '.join(failed)})" if failed else ""


def _metrics(client: httpx.Client, endpoints: RegionEndpoints) -> str:
    url = endpoints.projector_metrics_url
    if not url:
        return ""  # a hand-written stack file may not name one: nothing to check
    try:
        ok = client.get(url + "/metrics").status_code == 200
    except httpx.HTTPError:
        ok = False
    return "" if ok else "projector /metrics unreachable"


def _projected_key_regions(redis_url: str) -> set[str]:
    """Regions whose signing key this region's Redis holds (what its projector has applied)."""
    client = make_sync_redis(redis_url, timeout_s=PROBE_TIMEOUT_S)
    try:
        values = client.hvals(names.redis_signing_keys_key())
    except (redis.RedisError, OSError):
        return set()
    finally:
        client.close()
    regions: set[str] = set()
    for raw in values:
        try:
            regions.add(str(orjson.loads(raw)["region"]))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
    return regions
