"""The four drills. Each runs on a started 3-region Kafka stack with proxied links, under the
bounded load of ``load.Load``, and returns its figures (a flat, printable mapping).

- region-crash (module ``crash``): SIGKILL every process of one region, run on the survivors,
  bring it back (stores restarted; its Redis, which keeps nothing on disk, rebuilt by
  ``authplane replay``).
- region-partition: cut one region's links to and from the others, then heal.
- wan-latency: a one-way delay on every link; propagation of logins and revocations.
- rolling-restart: restart the Kafka nodes one at a time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

from schemas import names
from schemas.redis_client import make_sync_redis
from services.devstack.apps import REPO_ROOT
from services.devstack.drill import check, probes
from services.devstack.drill.load import PASSWORD, Load, Outcome
from services.devstack.kafka import KafkaCluster
from services.devstack.process import InfraError
from services.devstack.stack import Stack

Figures = dict[str, object]
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


def create_users(stack: Stack, count: int, prefix: str = "drill") -> list[str]:
    """Register ``count`` users ``{prefix}-{n}`` with authctl (the drill password) and wait
    until every region knows them; users that exist already are reused."""
    users = [f"{prefix}-{n}" for n in range(count)]
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
            probes.until(lambda: client.exists(*keys) == len(keys))  # noqa: B023 (used at once)
        finally:
            client.close()
    return users


def load_on(stack: Stack, users: list[str], plan: Plan) -> Load:
    """Start the bounded steady load of ``plan`` on every region of ``stack``."""
    urls = {region: f"http://{s.http_host}:{s.http_port}" for region, s in stack.settings.items()}
    load = Load(urls, users, plan.rate_per_s)
    load.start()
    return load


def window(outcomes: list[Outcome], start: float, end: float, regions: set[str]) -> list[Outcome]:
    """The outcomes between ``start`` and ``end`` (monotonic s) in ``regions``."""
    return [o for o in outcomes if start <= o.at < end and o.region in regions]


def rate(outcomes: list[Outcome]) -> str:
    """``"ok/all (pct%)"`` of the logins among ``outcomes``."""
    ok, total = check.success_rate(outcomes)
    return f"{ok}/{total} ({100 * ok / total:.0f}%)" if total else "0/0"


def settle(stack: Stack, outcomes: list[Outcome], plan: Plan, figures: Figures) -> None:
    """The end-of-drill checks every drill reports."""
    regions = list(stack.settings)
    acked = check.acknowledged_sessions(outcomes)
    lost = {r: check.missing_sessions(stack, r, acked, plan.converge_s) for r in regions}
    figures["acknowledged logins"] = len(acked)
    figures["acknowledged logins lost (any region)"] = len(set().union(*lost.values()))
    if any(lost.values()):
        figures["lost per region"] = ", ".join(f"{r}={len(m)}" for r, m in lost.items())
    revoked = sum(o.op == "revoke" and o.status == 200 for o in outcomes)
    figures["acknowledged revocations"] = revoked
    figures["revocations not in effect (any region)"] = max(
        check.revocations_not_in_effect(stack, r, outcomes, plan.converge_s) for r in regions
    )
    docs = check.converged_checksums(stack, regions, plan.converge_s)
    sums = {region: str(doc["overall"]) for region, doc in docs.items()}
    figures["checksum equal in all regions"] = len(set(sums.values())) == 1
    figures["checksums"] = ", ".join(f"{r}={d[:12]}" for r, d in sums.items())
    if len(set(sums.values())) > 1:
        figures["kinds that differ"] = check.differing_kinds(docs)
    unavailable = [o for o in outcomes if o.status == 503]
    figures["503 answers without Retry-After"] = sum(o.retry_after is None for o in unavailable)


def rolling_restart(stack: Stack, plan: Plan) -> Figures:
    """Restart each Kafka node in turn (graceful stop, start, wait until it is back)."""
    cluster = cluster_of(stack)
    load = load_on(stack, create_users(stack, plan.users), plan)
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
    during = window(outcomes, began, ended, set(stack.settings))
    figures: Figures = {
        "restart took (s)": round(ended - began, 1),
        "logins during the restarts": rate(during),
        "failed logins during the restarts": sum(
            o.status != 200 for o in during if o.op == "login"
        ),
        "logins after": rate(window(outcomes, ended, time.monotonic(), set(stack.settings))),
    }
    settle(stack, outcomes, plan, figures)
    return figures


def region_partition(stack: Stack, plan: Plan, region: str) -> Figures:
    """Cut ``region`` off from the other regions' Kafka nodes (both ways), then heal."""
    links = stack.links
    if links is None:
        raise InfraError("region-partition needs a stack started with proxied links")
    users = create_users(stack, plan.users)
    before = probes.login(stack, region, users[0])  # a token the cut-off side already knows
    load = load_on(stack, users, plan)
    time.sleep(plan.warm_s)
    cut_at = time.monotonic()
    links.cut(region)
    time.sleep(plan.fault_s / 2)
    verifies = probes.introspect(stack, region, before)
    time.sleep(plan.fault_s / 2)
    links.heal(region)
    healed_at = time.monotonic()
    time.sleep(plan.after_s)
    load.stop()
    outcomes = list(load.outcomes)
    majority = set(stack.settings) - {region}
    cut_side = window(outcomes, cut_at, healed_at, {region})
    statuses = sorted({o.status for o in cut_side if o.op == "login"})
    figures: Figures = {
        "cut-off region": region,
        "majority logins during the cut": rate(window(outcomes, cut_at, healed_at, majority)),
        "cut-off side logins during the cut": rate(cut_side),
        "cut-off side login answers": ", ".join(str(s) for s in statuses) or "none",
        "cut-off side still verifies an earlier token": verifies,
        "logins after healing": rate(
            window(outcomes, healed_at + plan.after_s / 2, time.monotonic(), set(stack.settings))
        ),
    }
    settle(stack, outcomes, plan, figures)
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
        load = load_on(stack, users, Plan(rate_per_s=plan.rate_per_s / 2))
        logins: list[float] = []
        answers: list[float] = []
        revocations: list[float] = []
        for n in range(plan.samples):
            home, away = regions[n % len(regions)], regions[(n + 1) % len(regions)]
            user = users[n % len(users)]
            logins.append(probes.login_propagation(stack, home, away, user))
            answer_ms, propagation_ms = probes.revocation_propagation(stack, home, away, user)
            answers.append(answer_ms)
            revocations.append(propagation_ms)
        load.stop()
    finally:
        links.undelay()
    figures: Figures = {
        "one-way delay per link (ms)": plan.one_way_delay_ms,
        "samples": plan.samples,
        "login propagation p50 / p99 (ms)": probes.pair(logins),
        "revoke answer in the home region p50 / p99 (ms)": probes.pair(answers),
        "revocation propagation from the answer p50 / p99 (ms)": probes.pair(revocations),
    }
    settle(stack, list(load.outcomes), plan, figures)
    return figures


def cluster_of(stack: Stack) -> KafkaCluster:
    """The stack's Kafka cluster; InfraError on a Tansu stack (drills need Kafka)."""
    if stack.kafka is None:
        raise InfraError("drills run on the Kafka stack (--broker kafka)")
    return stack.kafka
