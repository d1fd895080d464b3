"""The region-crash drill: SIGKILL every process of one region, keep the load on the survivors,
then bring the region back the way the runbook does (stores on their old ports and data, Redis
rebuilt from the log by ``authplane replay``, then the apps)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

from services.devstack import postgres, recovery, redis, stackfile
from services.devstack.apps import REPO_ROOT
from services.devstack.drill.drills import (
    Figures,
    Plan,
    cluster_of,
    create_users,
    load_on,
    rate,
    settle,
    window,
)
from services.devstack.infra import RegionInfra
from services.devstack.process import InfraError
from services.devstack.stack import Stack

REPLAY_TIMEOUT_S = 300.0


def region_crash(stack: Stack, plan: Plan, region: str, inherited_env: dict[str, str]) -> Figures:
    """SIGKILL ``region``'s Kafka node, login, projector, Redis and Postgres; then restore it."""
    cluster = cluster_of(stack)
    users = create_users(stack, plan.users)
    load = load_on(stack, users, plan)
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
        "survivor logins during the crash": rate(
            window(outcomes, crashed_at, returned_at, survivors)
        ),
        "seconds to the first successful login after the crash": round(first_ok - crashed_at, 2),
        "seconds to bring the region back (node, stores, replay, apps)": round(
            back_at - returned_at, 1
        ),
        "events replayed into its rebuilt Redis": replayed,
        "logins after the return": rate(
            window(outcomes, back_at, time.monotonic(), survivors | {region})
        ),
    }
    settle(stack, outcomes, plan, figures)
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
