"""Disasters and repairs on a running dev stack, for recovery drills and the runbook: stop or
start one app, wipe a region's stores, replace the (memory-only) broker with an empty one."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping

from schemas.topics import ensure_topics
from services.devstack import apps, postgres, redis, stackfile
from services.devstack.broker import start_broker
from services.devstack.fresh_log import replace_kafka_cluster
from services.devstack.infra import apply_migrations
from services.devstack.process import InfraError, ManagedProcess, run_in_thread
from services.devstack.stack import Stack


def find_app(stack: Stack, region: str, service: str) -> ManagedProcess | None:
    for proc in stack.apps:
        if proc.details["region"] == region and proc.details["service"] == service:
            return proc
    return None


def stop_app(stack: Stack, region: str, service: str) -> None:
    proc = find_app(stack, region, service)
    if proc is None:
        raise InfraError(f"no {service} running for region {region}")
    proc.stop()
    stack.apps.remove(proc)
    stackfile.write(stack)


def kill_app(stack: Stack, region: str, service: str) -> float:
    """SIGKILL ``region``'s ``service`` process (a crash, not a stop) and forget it; returns when
    the signal was sent (monotonic s). InfraError when no such process runs."""
    proc = find_app(stack, region, service)
    if proc is None:
        raise InfraError(f"no {service} running for region {region}")
    killed_at = time.monotonic()
    proc.popen.send_signal(signal.SIGKILL)
    proc.popen.wait(10)
    stack.apps.remove(proc)
    return killed_at


def start_app(
    stack: Stack, region: str, service: str, inherited_env: Mapping[str, str], timeout: float = 60
) -> ManagedProcess:
    if find_app(stack, region, service) is not None:
        raise InfraError(f"{service} of region {region} is already running")
    settings = stack.settings[region]
    env = apps.child_env(settings, inherited_env)
    proc = apps.start_app(service, settings, env, stack.base_dir, detach=stack.detached)
    stack.apps.append(proc)
    logins, others = ([proc], []) if service == "login" else ([], [proc])
    apps.wait_healthy(logins, others, timeout)
    stackfile.write(stack)
    return proc


def start_all_apps(stack: Stack, inherited_env: Mapping[str, str], timeout: float = 60) -> None:
    for region in stack.settings:
        for service in apps.APP_MODULES:
            if find_app(stack, region, service) is None:
                start_app(stack, region, service, inherited_env, timeout)


def wipe_region(stack: Stack, region: str) -> None:
    """Lose a region's state: FLUSHALL its Redis; drop, recreate and migrate its database."""
    infra = stack.regions[region]
    redis.flush(int(infra.redis.details["port"]))
    port = int(infra.postgres.details["port"])
    infra.drop_database(infra.postgres_dsn)
    admin = postgres.dsn(port, postgres.SUPERUSER)
    run_in_thread(lambda: asyncio.run(postgres.create_database(admin, postgres.DATABASE)))
    apply_migrations(infra.postgres_dsn)


def replace_broker(stack: Stack) -> str:
    """Stop every app and the broker (a memory-only broker forgets everything), start a new
    empty one on a new port with the topics created; apps stay stopped. Returns its address.

    On a Kafka stack the whole cluster is replaced by a new, empty one on new ports, and each
    region's bootstrap list again starts with its own node."""
    for proc in stack.apps:
        proc.signal_stop()
    for proc in stack.apps:
        proc.stop()
    stack.apps.clear()
    if stack.kafka is None:
        stack.broker.stop()
        stack.broker = start_broker(stack.base_dir, die_with_parent=not stack.detached)
    else:
        replace_kafka_cluster(stack)
    bootstrap = stack.kafka_bootstrap
    base = next(iter(stack.settings.values()))
    # Before any producer or worker: Tansu would auto-create them with 4 partitions otherwise.
    run_in_thread(
        lambda: asyncio.run(ensure_topics(bootstrap, base.topic_partitions, base.topic_replication))
    )
    for region, settings in stack.settings.items():
        # On Kafka, the region's own node first.
        stack.settings[region] = settings.replace(kafka_bootstrap=stack.bootstrap_of(region))
    stackfile.write(stack)
    return stack.kafka_bootstrap
