"""A region's own processes (login endpoint, projector) started as children of the launcher."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

import services
from schemas.settings import Settings
from services.devstack.frontdoor import SOURCE_ADDRESS
from services.devstack.infra import RegionInfra
from services.devstack.polling import until
from services.devstack.process import HOST, InfraError, ManagedProcess, spawn

# service name -> module run with ``python -m``; the order is the start order.
APP_MODULES = {"login": "services.login", "worker": "streams.worker"}
REPO_ROOT = Path(services.__file__).resolve().parent.parent
TRUSTED_FORWARDERS_VARIABLE = "FORWARDED_ALLOW_IPS"
"""uvicorn's setting: the peers whose X-Forwarded-For it believes (comma-separated)."""


KEYS_DIR = "keys"
"""The stack directory's folder of each region's signing keys (one folder per region)."""


def region_settings(
    base: Settings,
    infra: RegionInfra,
    *,
    kafka_bootstrap: str,
    base_dir: Path,
    http_port: int,
    metrics_port: int,
    public_url: str | None = None,
) -> Settings:
    """``region``'s settings on ``infra``. ``public_url``: where clients reach this region (its
    front door), else ``base.public_url``, else its login endpoint."""
    return base.replace(
        region=infra.region,
        kafka_bootstrap=kafka_bootstrap,
        redis_url=infra.redis_url,
        postgres_dsn=infra.postgres_dsn,
        http_host=HOST,
        http_port=http_port,
        # The issuer (https://{region}.authplane.local) is a name, not an address: the RFC 8414
        # metadata names endpoints a client on this machine can reach.
        public_url=public_url or base.public_url or f"http://{HOST}:{http_port}",
        key_dir=base_dir / KEYS_DIR / infra.region,
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
    # uvicorn rewrites the client address from X-Forwarded-For when the TCP peer is listed here,
    # and lists 127.0.0.1 by default: any local client could then pick the address the login
    # lockout counts. Only the front door's own source address may (services/devstack/frontdoor).
    env[TRUSTED_FORWARDERS_VARIABLE] = SOURCE_ADDRESS
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
    """Wait until every login endpoint's /healthz answers 200 and nothing has died meanwhile.

    Raises InfraError naming a process that exited, or the endpoints still pending after
    ``timeout`` (s).
    """
    pending = list(logins)

    def healthy() -> bool:
        for proc in logins + others:
            proc.raise_if_exited()
        pending[:] = [p for p in pending if not _healthy(client, p.address)]
        return not pending

    with httpx.Client(timeout=1.0) as client:
        if not until(healthy, timeout, 0.1):
            names = ", ".join(f"{p.name} (log: {p.log_path})" for p in pending)
            raise InfraError(f"no 200 from /healthz within {timeout:.0f}s: {names}")
    for proc in logins + others:
        proc.raise_if_exited()


def _healthy(client: httpx.Client, base_url: str) -> bool:
    try:
        return client.get(base_url + "/healthz").status_code == 200
    except httpx.HTTPError:
        return False
