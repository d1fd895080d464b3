"""The four drills. Each runs on a started 3-region Kafka stack with proxied links, under the
bounded load of ``load.Load``, and returns its figures (a flat, printable mapping).

- region-crash: SIGKILL every process of one region, run on the survivors, bring it back
  (stores restarted; its Redis, which keeps nothing on disk, rebuilt by ``authplane replay``).
- region-partition: cut one region's links to and from the others, then heal.
- wan-latency: a one-way delay on every link; propagation of logins and revocations.
- rolling-restart: restart the Kafka nodes one at a time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from schemas import names
from schemas.redis_client import make_sync_redis
from services.devstack import postgres, recovery, redis, stackfile
from services.devstack.apps import REPO_ROOT
from services.devstack.drill import check
from services.devstack.drill.load import PASSWORD, Load, Outcome
from services.devstack.infra import RegionInfra
from services.devstack.kafka import KafkaCluster
from services.devstack.process import InfraError
from services.devstack.stack import INTROSPECTION_CLIENT_ID, Stack

Figures = dict[str, object]
REPLAY_TIMEOUT_S = 300.0
CLI_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Plan:
    """How hard and how long: ``rate_per_s`` operations per second, phases in seconds."""

    rate_per_s: float = 6.0
    warm_s: float = 5.0
    fault_s: float = 15.0
    after_s: float = 10.0
    users: int = 4
    converge_s: float = 90.0
    one_way_delay_ms: int = 40
    samples: int = 20


def create_users(stack: Stack, count: int) -> list[str]:
    """Register ``count`` drill users with authctl and wait until every region knows them."""
    users = [f"drill-{n}" for n in range(count)]
    env = {**os.environ, "AUTHPLANE_STACK_FILE": str(stack.stack_file)}
    env["PYTHONPATH"] = str(REPO_ROOT)
    for user in users:
        argv = [sys.executable, "-m", "services.admin.authctl", "user", "create", user]
        done = subprocess.run(
            [*argv, "--password-stdin"],
            input=PASSWORD,
            env=env,
            text=True,
            capture_output=True,
            timeout=CLI_TIMEOUT_S,
        )
        if done.returncode != 0 and "already exists" not in done.stderr:
            raise InfraError(f"authctl user create {user}: {done.stderr.strip()}")
    from schemas.identity import user_id_for

    for region in stack.settings:
        keys = [names.redis_user_key(user_id_for(u)) for u in users]
        client = make_sync_redis(stack.settings[region].redis_url)
        try:
            _until(lambda: client.exists(*keys) == len(keys))  # noqa: B023 (used at once)
        finally:
            client.close()
    return users


def _until(check_fn: Callable[[], object], within_s: float = 60.0, every_s: float = 0.1) -> None:
    deadline = time.monotonic() + within_s
    while not check_fn():
        if time.monotonic() > deadline:
            raise InfraError(f"condition not met within {within_s:.0f}s")
        time.sleep(every_s)


def _load(stack: Stack, users: list[str], plan: Plan) -> Load:
    urls = {region: f"http://{s.http_host}:{s.http_port}" for region, s in stack.settings.items()}
    load = Load(urls, users, plan.rate_per_s)
    load.start()
    return load


def _window(outcomes: list[Outcome], start: float, end: float, regions: set[str]) -> list[Outcome]:
    return [o for o in outcomes if start <= o.at < end and o.region in regions]


def _rate(outcomes: list[Outcome]) -> str:
    ok, total = check.success_rate(outcomes)
    return f"{ok}/{total} ({100 * ok / total:.0f}%)" if total else "0/0"


def _settle(stack: Stack, outcomes: list[Outcome], plan: Plan, figures: Figures) -> None:
    """The end-of-drill checks every drill reports."""
    regions = list(stack.settings)
    acked = check.acknowledged_sessions(outcomes)
    lost = {r: check.missing_sessions(stack, r, acked, plan.converge_s) for r in regions}
    figures["acknowledged logins"] = len(acked)
    figures["acknowledged logins lost (any region)"] = len(set().union(*lost.values()))
    revoked = sum(o.op == "revoke" and o.status == 200 for o in outcomes)
    figures["acknowledged revocations"] = revoked
    figures["revocations not in effect (any region)"] = max(
        check.revocations_not_in_effect(stack, r, outcomes, plan.converge_s) for r in regions
    )
    sums = check.converged_checksums(stack, regions, plan.converge_s)
    figures["checksum equal in all regions"] = len(set(sums.values())) == 1
    figures["checksums"] = ", ".join(f"{r}={d[:12]}" for r, d in sums.items())
    unavailable = [o for o in outcomes if o.status == 503]
    figures["503 answers without Retry-After"] = sum(o.retry_after is None for o in unavailable)


def rolling_restart(stack: Stack, plan: Plan) -> Figures:
    """Restart each Kafka node in turn (graceful stop, start, wait until it is back)."""
    cluster = _cluster(stack)
    load = _load(stack, create_users(stack, plan.users), plan)
    time.sleep(plan.warm_s)
    began = time.monotonic()
    for region in cluster.nodes:
        node = cluster.nodes[region].process
        assert node is not None
        node.stop(timeout=30.0)
        cluster.start_node(region)
        cluster.wait_ready()
        time.sleep(plan.fault_s / len(cluster.nodes))
    ended = time.monotonic()
    time.sleep(plan.after_s)
    load.stop()
    outcomes = list(load.outcomes)
    during = _window(outcomes, began, ended, set(stack.settings))
    figures: Figures = {
        "restart took (s)": round(ended - began, 1),
        "logins during the restarts": _rate(during),
        "failed logins during the restarts": sum(
            o.status != 200 for o in during if o.op == "login"
        ),
        "logins after": _rate(_window(outcomes, ended, time.monotonic(), set(stack.settings))),
    }
    _settle(stack, outcomes, plan, figures)
    return figures


def region_partition(stack: Stack, plan: Plan, region: str) -> Figures:
    """Cut ``region`` off from the other regions' Kafka nodes (both ways), then heal."""
    links = stack.links
    if links is None:
        raise InfraError("region-partition needs a stack started with proxied links")
    users = create_users(stack, plan.users)
    before = _login(stack, region, users[0])  # a token the cut-off side already knows
    load = _load(stack, users, plan)
    time.sleep(plan.warm_s)
    cut_at = time.monotonic()
    links.cut(region)
    time.sleep(plan.fault_s / 2)
    verifies = _introspect(stack, region, before)
    time.sleep(plan.fault_s / 2)
    links.heal(region)
    healed_at = time.monotonic()
    time.sleep(plan.after_s)
    load.stop()
    outcomes = list(load.outcomes)
    majority = set(stack.settings) - {region}
    cut_side = _window(outcomes, cut_at, healed_at, {region})
    statuses = sorted({o.status for o in cut_side if o.op == "login"})
    figures: Figures = {
        "cut-off region": region,
        "majority logins during the cut": _rate(_window(outcomes, cut_at, healed_at, majority)),
        "cut-off side logins during the cut": _rate(cut_side),
        "cut-off side login answers": ", ".join(str(s) for s in statuses) or "none",
        "cut-off side still verifies an earlier token": verifies,
        "logins after healing": _rate(
            _window(outcomes, healed_at + plan.after_s / 2, time.monotonic(), set(stack.settings))
        ),
    }
    _settle(stack, outcomes, plan, figures)
    return figures


def wan_latency(stack: Stack, plan: Plan) -> Figures:
    """Login and revocation propagation between regions with a one-way delay on every link."""
    links = stack.links
    if links is None:
        raise InfraError("wan-latency needs a stack started with proxied links")
    users = create_users(stack, plan.users)
    regions = list(stack.settings)
    links.delay(plan.one_way_delay_ms)
    try:
        load = _load(stack, users, Plan(rate_per_s=plan.rate_per_s / 2))
        logins, revocations = [], []
        for n in range(plan.samples):
            home, away = regions[n % len(regions)], regions[(n + 1) % len(regions)]
            logins.append(_login_propagation(stack, home, away, users[n % len(users)]))
            revocations.append(_revocation_propagation(stack, home, away, users[n % len(users)]))
        load.stop()
    finally:
        links.undelay()
    figures: Figures = {
        "one-way delay per link (ms)": plan.one_way_delay_ms,
        "samples": plan.samples,
        "login propagation p50 / p99 (ms)": _pair(logins),
        "revocation propagation p50 / p99 (ms)": _pair(revocations),
    }
    _settle(stack, list(load.outcomes), plan, figures)
    return figures


def region_crash(stack: Stack, plan: Plan, region: str, inherited_env: dict[str, str]) -> Figures:
    """SIGKILL ``region``'s Kafka node, login, projector, Redis and Postgres; then restore it."""
    cluster = _cluster(stack)
    users = create_users(stack, plan.users)
    load = _load(stack, users, plan)
    time.sleep(plan.warm_s)
    load.regions = [r for r in stack.settings if r != region]
    crashed_at = time.monotonic()
    infra = stack.regions[region]
    victims = [recovery.find_app(stack, region, s) for s in ("login", "worker")]
    victims += [cluster.nodes[region].process, infra.redis, infra.postgres]
    for proc in victims:
        if proc is not None:
            proc.popen.send_signal(signal.SIGKILL)
            proc.popen.wait(10)
    stack.apps = [p for p in stack.apps if p.details["region"] != region]
    time.sleep(plan.fault_s)
    returned_at = time.monotonic()
    cluster.start_node(region)
    cluster.wait_ready()
    replayed = _restart_region(stack, region, inherited_env)
    load.regions = list(stack.settings)
    back_at = time.monotonic()
    time.sleep(plan.after_s)
    load.stop()
    outcomes = list(load.outcomes)
    survivors = set(stack.settings) - {region}
    first_ok = min(
        (o.at for o in outcomes if o.at >= crashed_at and o.status == 200 and o.op == "login"),
        default=float("nan"),
    )
    figures: Figures = {
        "crashed region": region,
        "survivor logins during the crash": _rate(
            _window(outcomes, crashed_at, returned_at, survivors)
        ),
        "seconds to the first successful login after the crash": round(first_ok - crashed_at, 2),
        "seconds to bring the region back (node, stores, replay, apps)": round(
            back_at - returned_at, 1
        ),
        "events replayed into its rebuilt Redis": replayed,
        "logins after the return": _rate(
            _window(outcomes, back_at, time.monotonic(), survivors | {region})
        ),
    }
    _settle(stack, outcomes, plan, figures)
    return figures


def _restart_region(stack: Stack, region: str, inherited_env: dict[str, str]) -> int:
    """Stores on their old ports and data; Redis (memory only) rebuilt from the log by the same
    ``authplane replay`` the runbook uses; then the region's apps. Returns the events replayed;
    InfraError if the replay fails or reads nothing (the log is never empty here)."""
    old = stack.regions[region]
    ports = (int(old.redis.details["port"]), int(old.postgres.details["port"]))
    stack.regions[region] = _restart_stores(stack, region, ports)
    stackfile.write(stack)
    argv = [sys.executable, "-m", "streams.replay", "--stack-file", str(stack.stack_file)]
    argv += ["replay", "--region", region, "--target", "redis", "--plain"]
    env = {**inherited_env, "PYTHONPATH": str(REPO_ROOT)}
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, check=False, timeout=REPLAY_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise InfraError(f"replay of {region} took over {REPLAY_TIMEOUT_S:.0f}s") from None
    if done.returncode != 0:
        raise InfraError(f"replay of {region} failed:\n{done.stdout[-1000:]}{done.stderr[-1000:]}")
    found = re.search(r"events read\s+([\d,]+)", done.stdout)
    replayed = int(found.group(1).replace(",", "")) if found else 0
    if not replayed:
        raise InfraError(f"replay of {region} read no event:\n{done.stdout[-1000:]}")
    for service in ("worker", "login"):
        recovery.start_app(stack, region, service, inherited_env, timeout=120)
    return replayed


def _restart_stores(stack: Stack, region: str, ports: tuple[int, int]) -> RegionInfra:
    """The region's Redis and Postgres again, on their old ports and data directories."""
    root, logs = stack.base_dir / "data" / region, stack.base_dir / "logs"
    rds = redis.start_redis(
        root / "redis",
        name=f"{region}-redis",
        log_path=logs / f"{region}-redis.log",
        die_with_parent=not stack.detached,
        fixed_port=ports[0],
    )
    pg = postgres.start_postgres(
        root / "postgres",
        name=f"{region}-postgres",
        log_path=logs / f"{region}-postgres.log",
        die_with_parent=not stack.detached,
        fixed_port=ports[1],
        database=None,
    )
    return RegionInfra(region, rds, pg, migrated=True)


def _cluster(stack: Stack) -> KafkaCluster:
    if stack.kafka is None:
        raise InfraError("drills run on the Kafka stack (--broker kafka)")
    return stack.kafka


def _login(stack: Stack, region: str, user: str) -> str:
    s = stack.settings[region]
    form = {"grant_type": "password", "username": user, "password": PASSWORD}
    answer = httpx.post(f"http://{s.http_host}:{s.http_port}/oauth2/token", data=form, timeout=10)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def _introspect(stack: Stack, region: str, token: str) -> bool:
    s = stack.settings[region]
    answer = httpx.post(
        f"http://{s.http_host}:{s.http_port}/oauth2/introspect",
        data={"token": token},
        auth=(INTROSPECTION_CLIENT_ID, stack.introspection_secret),
        timeout=10,
    )
    return bool(answer.status_code == 200 and answer.json()["active"])


def _login_propagation(stack: Stack, home: str, away: str, user: str) -> float:
    import jwt

    token = _login(stack, home, user)
    started = time.monotonic()
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    client = make_sync_redis(stack.settings[away].redis_url)
    try:
        _until(lambda: client.exists(names.redis_session_key(sid)), 30, every_s=0.002)
    finally:
        client.close()
    return (time.monotonic() - started) * 1000


def _revocation_propagation(stack: Stack, home: str, away: str, user: str) -> float:
    token = _login(stack, home, user)
    s = stack.settings[home]
    started = time.monotonic()
    httpx.post(f"http://{s.http_host}:{s.http_port}/oauth2/revoke", data={"token": token})
    _until(lambda: not _introspect(stack, away, token), 30, every_s=0.002)
    return (time.monotonic() - started) * 1000


def _pair(values: list[float]) -> str:
    return f"{check.percentile(values, 0.5):.1f} / {check.percentile(values, 0.99):.1f}"
