"""The emergency-channel drills (issue 11): a region cut off from the log keeps logging users in
through its Postgres outbox, and its relay forwards what it wrote once the log is back.

- broker-outage: cut one region from the Kafka cluster (toxiproxy disables every link from and to
  its node; with ``min.insync.replicas`` = 2 its own node can acknowledge nothing) for the fault
  time under steady login load, then heal.
- relay-crash: the same cut; with outbox rows pending, SIGKILL the region's login process (the
  relay runs inside it), start it again, heal; every pending row must reach every region once.

Every figure of loss and duplication is read from the regions' Postgres and from the log
(``ledger``); the load generator only says what the clients were answered.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from schemas.envelope import utc_now
from services.devstack import recovery
from services.devstack.drill import ledger
from services.devstack.drill.check import acknowledged_sessions, success_rate
from services.devstack.drill.drills import (
    Figures,
    Plan,
    create_users,
    load_on,
    rate,
    settle,
    window,
)
from services.devstack.drill.load import Load, Outcome
from services.devstack.process import InfraError
from services.devstack.stack import Stack
from services.devstack.toxiproxy import LinkProxies

LOGIN_RESTART_TIMEOUT_S = 120.0
NEVER = "never (within the convergence wait)"
RESTARTED = "yes"
RESTARTED_CUT_OFF_S = 5.0
"""Seconds the load goes on against a login process restarted while its region is cut off."""


def links_of(stack: Stack) -> LinkProxies:
    """The stack's link proxies; InfraError when it was started without them."""
    if stack.links is None:
        raise InfraError("the emergency-channel drills need a stack started with proxied links")
    return stack.links


def broker_outage(stack: Stack, plan: Plan, region: str) -> Figures:
    """Cut ``region`` from the log for ``plan.fault_s`` s under load, heal, and account."""
    links, load, since, cut_at = _cut_under_load(stack, plan, region)
    try:
        time.sleep(plan.fault_s)
        pending = len(ledger.outbox_event_ids(stack, region))
    finally:
        healed_at = time.monotonic()
        links.heal(region)
    before_heal = acknowledged_sessions(list(load.outcomes))
    took, _ = ledger.seconds_until_stored(stack, before_heal, healed_at, plan.converge_s)
    time.sleep(max(0.0, healed_at + plan.after_s - time.monotonic()))
    load.stop()
    outcomes = list(load.outcomes)
    everywhere = set(stack.settings)
    during = window(outcomes, cut_at, healed_at, everywhere)
    figures: Figures = {
        "cut-off region": region,
        "cut length (s)": round(healed_at - cut_at, 1),
        "logins during the cut (every region)": rate(during),
        "login success during the cut (%)": _percent(during),
        "logins during the cut (cut-off region)": rate(window(during, cut_at, healed_at, {region})),
        "login answers during the cut": _statuses(during),
        "outbox rows pending at the heal": pending,
        "logins acknowledged before the heal": len(before_heal),
        "seconds from the heal until all of them are in every region": _seconds(took),
        "logins after the heal": rate(window(outcomes, healed_at, time.monotonic(), everywhere)),
    }
    account(stack, outcomes, plan, since, figures)
    settle(stack, outcomes, plan, figures)
    return figures


def relay_crash(stack: Stack, plan: Plan, region: str, inherited_env: Mapping[str, str]) -> Figures:
    """Cut ``region``, let its outbox fill, SIGKILL its login process (and relay) with rows
    pending, start it again while still cut, heal, and follow every pending row."""
    links, load, since, cut_at = _cut_under_load(stack, plan, region)
    try:
        time.sleep(plan.fault_s)
        load.regions = [r for r in stack.settings if r != region]
        killed_at = time.monotonic()
        recovery.kill_app(stack, region, "login")
        pending = ledger.outbox_event_ids(stack, region)  # what the dead process left behind
        restarted_cut_off = _restart_login(stack, region, inherited_env)
        restarted_at = time.monotonic()
        if restarted_cut_off == RESTARTED:  # the restarted process answers, still cut off
            load.regions = list(stack.settings)
            time.sleep(RESTARTED_CUT_OFF_S)
    finally:
        healed_at = time.monotonic()
        links.heal(region)
    if restarted_cut_off != RESTARTED:  # try again with the log back, to follow the rows
        recovery.start_app(stack, region, "login", inherited_env, LOGIN_RESTART_TIMEOUT_S)
    load.regions = list(stack.settings)
    drained = ledger.seconds_until_drained(stack, region, healed_at, plan.converge_s)
    arrived, forwarded = ledger.seconds_until_archived(stack, pending, healed_at, plan.converge_s)
    time.sleep(max(0.0, healed_at + plan.after_s - time.monotonic()))
    load.stop()
    outcomes = list(load.outcomes)
    deliveries = ledger.log_deliveries(stack, since)
    figures: Figures = {
        "cut-off region": region,
        "logins in the cut-off region before the kill": rate(
            window(outcomes, cut_at, killed_at, {region})
        ),
        "outbox rows pending at the kill": len(pending),
        "login process restarted while the region is cut off": restarted_cut_off,
        "logins in the cut-off region after the restart, before the heal": rate(
            window(outcomes, restarted_at, healed_at, {region})
        ),
        "pending rows forwarded after the restart (in every region's archive)": len(
            set(pending).intersection(*forwarded.values())
        ),
        "seconds from the heal until the outbox was empty": _seconds(drained),
        "seconds from the heal until every pending row is in every region's archive": _seconds(
            arrived
        ),
        "pending rows on the log more than once (absorbed by event id)": sum(
            deliveries.times[e] > 1 for e in pending
        ),
        "pending rows not on the log": sum(deliveries.times[e] == 0 for e in pending),
    }
    account(stack, outcomes, plan, since, figures)
    settle(stack, outcomes, plan, figures)
    return figures


def account(
    stack: Stack, outcomes: list[Outcome], plan: Plan, since: datetime, figures: Figures
) -> None:
    """Lost and duplicated since ``since``, from every region's Postgres and the log (see
    ``ledger``), after waiting up to ``plan.converge_s`` s for the lost ones to arrive."""
    acked = acknowledged_sessions(outcomes)
    _, missing = ledger.seconds_until_stored(stack, acked, time.monotonic(), plan.converge_s)
    figures["acknowledged logins missing from a region's Postgres (lost)"] = len(
        set().union(*missing.values())
    )
    duplicated = ledger.duplicated_sessions(stack, since)
    figures["sessions started twice in a region's archive (duplicated)"] = max(duplicated.values())
    deliveries = ledger.log_deliveries(stack, since)
    repeated = deliveries.repeated()
    figures["event ids on the log more than once (absorbed by event id)"] = (
        ", ".join(f"{kind}={n}" for kind, n in sorted(repeated.items())) or "0"
    )
    figures["most copies of one event on the log"] = max(deliveries.times.values(), default=0)


def _cut_under_load(
    stack: Stack, plan: Plan, region: str
) -> tuple[LinkProxies, Load, datetime, float]:
    """Users, the load, ``plan.warm_s`` s of it, then ``region`` cut from the log. Returns the
    links, the running load, when the drill began (wall clock, 1 s early: the archive's
    ``occurred_at`` is compared with it) and when the cut took hold (monotonic s)."""
    links = links_of(stack)
    users = create_users(stack, plan.users)
    since = utc_now() - timedelta(seconds=1)
    load = load_on(stack, users, plan)
    time.sleep(plan.warm_s)
    links.cut(region)
    return links, load, since, time.monotonic()


def _restart_login(stack: Stack, region: str, inherited_env: Mapping[str, str]) -> str:
    """Start ``region``'s login process again; ``RESTARTED``, or why it did not start."""
    try:
        recovery.start_app(stack, region, "login", inherited_env, LOGIN_RESTART_TIMEOUT_S)
    except InfraError as exc:
        failed = recovery.find_app(stack, region, "login")
        if failed is not None:  # exited, or still not healthy after the timeout
            failed.stop()
            stack.apps.remove(failed)
        return f"no: {_last_line(str(exc))}"
    return RESTARTED


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:160] if lines else "?"


def _statuses(outcomes: list[Outcome]) -> str:
    found = sorted({o.status for o in outcomes if o.op == "login"})
    return ", ".join(str(s) for s in found) or "none"


def _seconds(value: float | None) -> str:
    return NEVER if value is None else f"{value:.1f}"


def _percent(outcomes: list[Outcome]) -> float:
    ok, total = success_rate(outcomes)
    return round(100 * ok / total, 1) if total else 0.0
