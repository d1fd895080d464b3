"""A region's own processes (login endpoint, projector) started as children of the launcher."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

import services
from schemas.settings import Settings
from services.devstack.infra import RegionInfra
from services.devstack.process import HOST, InfraError, ManagedProcess, spawn

# service name -> module run with ``python -m``; the order is the start order.
APP_MODULES = {"login": "services.login", "worker": "streams.worker"}
REPO_ROOT = Path(services.__file__).resolve().parent.parent


def region_settings(
    base: Settings,
    infra: RegionInfra,
    *,
    kafka_bootstrap: str,
    base_dir: Path,
    http_port: int,
    metrics_port: int,
    introspection_clients: Mapping[str, str],
) -> Settings:
    return base.replace(
        region=infra.region,
        kafka_bootstrap=kafka_bootstrap,
        redis_url=infra.redis_url,
        postgres_dsn=infra.postgres_dsn,
        http_host=HOST,
        http_port=http_port,
        key_dir=base_dir / "keys" / infra.region,
        introspection_clients=dict(introspection_clients),
        projector_metrics_port=metrics_port,
        stack_file=base_dir / "stack.json",
    )


def child_env(settings: Settings, inherited: Mapping[str, str]) -> dict[str, str]:
    """``inherited`` (the launcher's environment, passed through unread) plus the region's
    settings, with the repo importable wherever the launcher was started from."""
    env = dict(inherited)
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + path if path else "")
    env.update(settings.to_env())
    return env


def start_app(
    service: str, settings: Settings, env: dict[str, str], base_dir: Path, *, detach: bool
) -> ManagedProcess:
    proc = spawn(
        f"{settings.region}-{service}",
        [sys.executable, "-m", APP_MODULES[service]],
        log_path=base_dir / "logs" / f"{settings.region}-{service}.log",
        address=_address(service, settings),
        env=env,
        die_with_parent=not detach,
    )
    proc.details.update(region=settings.region, service=service)
    return proc


def _address(service: str, settings: Settings) -> str:
    if service == "login":
        return f"http://{HOST}:{settings.http_port}"
    return f"http://{HOST}:{settings.projector_metrics_port}"


def wait_healthy(
    logins: list[ManagedProcess], others: list[ManagedProcess], timeout: float
) -> None:
    """Wait until every login endpoint's /healthz answers 200 and nothing has died meanwhile."""
    deadline = time.monotonic() + timeout
    pending = list(logins)
    with httpx.Client(timeout=1.0) as client:
        while pending:
            _raise_if_dead(logins + others)
            pending = [p for p in pending if not _healthy(client, p.address)]
            if pending and time.monotonic() > deadline:
                names = ", ".join(f"{p.name} (log: {p.log_path})" for p in pending)
                raise InfraError(f"no 200 from /healthz within {timeout:.0f}s: {names}")
            if pending:
                time.sleep(0.1)
    _raise_if_dead(logins + others)


def _healthy(client: httpx.Client, base_url: str) -> bool:
    try:
        return client.get(base_url + "/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def _raise_if_dead(procs: list[ManagedProcess]) -> None:
    for proc in procs:
        if not proc.alive():
            raise InfraError(
                f"{proc.name} exited with code {proc.popen.returncode} during start-up "
                f"(log: {proc.log_path})\n{proc.log_tail()}"
            )


def apps_available() -> list[str]:
    """Which app modules exist in this checkout (the launcher runs infra-only without them)."""
    return [service for service, module in APP_MODULES.items() if _runnable(module)]


def _runnable(module: str) -> bool:
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(module + ".__main__")
    except ModuleNotFoundError:
        return False
    return spec is not None
