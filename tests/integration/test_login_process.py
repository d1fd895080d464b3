"""``python -m services.login`` as the launcher runs it: a real uvicorn process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from schemas.settings import Settings
from schemas.topics import ensure_topics
from services.core.keys import key_path, load_or_create
from services.devstack.process import free_port
from tests.integration.client_seeding import register_in
from tests.integration.login_harness import APP, login_settings
from tests.integration.login_seeding import seed_user_redis

REPO = Path(__file__).resolve().parents[2]


def _spawn(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = settings.to_env() | {"PATH": "/usr/bin:/bin"}
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "services.login"], cwd=REPO, env=env, stderr=sink
        )


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the login process exited during start-up"
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("login endpoint never became healthy")


@pytest.fixture
def settings(
    tmp_path: Path, kafka_bootstrap: str, fresh_redis_url: str, fresh_postgres_dsn: str
) -> Settings:
    return login_settings(
        tmp_path, kafka_bootstrap, fresh_redis_url, fresh_postgres_dsn, http_port=free_port()
    )


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = tmp_path / "login.log"
    proc = _spawn(settings, log)
    try:
        yield proc, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


async def test_serves_logins_and_stops_cleanly(
    settings: Settings, server: tuple[subprocess.Popen[bytes], Path]
) -> None:
    await ensure_topics(settings.kafka_bootstrap, settings.topic_partitions, 1)
    proc, log = server
    await seed_user_redis(settings, "mallory", "hunter2-do-not-log")
    await register_in(settings)
    base = f"http://{settings.http_host}:{settings.http_port}"
    _wait_healthy(base, proc)
    async with httpx.AsyncClient(base_url=base) as client:
        form = {
            "grant_type": "password",
            **APP,
            "username": "mallory",
            "password": "hunter2-do-not-log",
        }
        response = await client.post("/oauth2/token", data=form, headers={"X-Request-ID": "r-77"})
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"] == "r-77"
        ready = await client.get("/readyz")
        assert ready.status_code == 503  # no projector heartbeat in this test
        assert ready.json()["checks"]["projector"]["ok"] is False
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    text = log.read_text()
    assert "hunter2-do-not-log" not in text
    assert response.json()["access_token"] not in text
    assert response.json()["refresh_token"] not in text
    lines = [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "r-77" and line.get("status") == 200 for line in lines)


def test_refuses_a_group_readable_key_with_one_line(settings: Settings, tmp_path: Path) -> None:
    load_or_create(settings.key_dir, settings.region, settings.signing_alg)
    key_path(settings.key_dir, settings.region, settings.signing_alg).chmod(0o644)
    log = tmp_path / "refused.log"
    proc = _spawn(settings, log)
    assert proc.wait(30) != 0
    lines = log.read_text().splitlines()
    assert len(lines) == 1, lines
    assert "chmod 600" in lines[0]
