"""The embedded infrastructure really runs, really answers, and really stops."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.devstack.broker import start_broker
from services.devstack.infra import RegionInfra, RegionStores, start_region_infra
from services.devstack.postgres import PG_USER
from services.devstack.process import InfraError, ManagedProcess, find_binary

pytestmark = pytest.mark.integration


def _gone(proc: ManagedProcess) -> bool:
    return not psutil.pid_exists(proc.pid) or (
        psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE
    )


async def test_broker_answers_metadata_and_creates_topics(kafka_bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("devstack-probe", 3, 1)])
        assert "devstack-probe" in await admin.list_topics()
    finally:
        await admin.close()


async def test_each_region_has_its_own_redis_and_postgres(
    region_stores: dict[str, RegionInfra],
) -> None:
    assert set(region_stores) == {"eu", "us"}
    ports = {s.redis_url for s in region_stores.values()}
    assert len(ports) == 2
    for stores in region_stores.values():
        client = aioredis.from_url(stores.redis_url)
        try:
            assert await client.ping()
        finally:
            await client.aclose()
        conn = await asyncpg.connect(stores.postgres_dsn)
        try:
            assert await conn.fetchval("SELECT current_database()") == "authplane"
        finally:
            await conn.close()


def test_postgres_never_runs_as_root(region_stores: dict[str, RegionInfra]) -> None:
    # CI and this machine run as root, where initdb/postgres refuse to start.
    server = psutil.Process(region_stores["eu"].postgres.pid)
    expected = PG_USER if os.geteuid() == 0 else psutil.Process().username()
    assert server.username() == expected
    assert server.ppid() == os.getpid()  # our direct child: we hold the PID we stop


async def test_fresh_postgres_databases_are_isolated(
    fresh_postgres_dsn: str, region_stores: dict[str, RegionInfra]
) -> None:
    other = region_stores["eu"].fresh_postgres_dsn()
    try:
        conn = await asyncpg.connect(fresh_postgres_dsn)
        try:
            await conn.execute("CREATE TABLE only_here (x int)")
        finally:
            await conn.close()
        conn = await asyncpg.connect(other)
        try:
            found = await conn.fetchval("SELECT to_regclass('only_here')")
            assert found is None
        finally:
            await conn.close()
    finally:
        region_stores["eu"].drop_database(other)


async def test_fresh_redis_url_starts_empty(
    fresh_redis_url: str, region_stores: dict[str, RegionInfra]
) -> None:
    client = aioredis.from_url(fresh_redis_url)
    try:
        assert await client.dbsize() == 0
        await client.set("k", "v")
        assert fresh_redis_url != region_stores["eu"].redis_url
    finally:
        await client.aclose()
    again = aioredis.from_url(region_stores["eu"].fresh_redis_url())
    try:
        assert await again.dbsize() == 0
    finally:
        await again.aclose()


async def test_fresh_region_stores_cover_every_region(
    fresh_region_stores: dict[str, RegionStores],
) -> None:
    assert set(fresh_region_stores) == {"eu", "us"}
    dsns = {s.postgres_dsn for s in fresh_region_stores.values()}
    assert len(dsns) == 2


async def test_fresh_broker_has_an_empty_log(fresh_broker: str, kafka_bootstrap: str) -> None:
    assert fresh_broker != kafka_bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=fresh_broker)
    await admin.start()
    try:
        assert "devstack-probe" not in await admin.list_topics()
    finally:
        await admin.close()


def test_stop_ends_every_pid_and_frees_the_ports(tmp_path: Path) -> None:
    started = time.monotonic()
    broker = start_broker(tmp_path)
    infra = start_region_infra("eu", tmp_path, durable=False)
    assert time.monotonic() - started < 15
    procs = [broker, infra.redis, infra.postgres]
    assert all(p.alive() for p in procs)
    infra.stop()
    broker.stop()
    assert all(_gone(p) for p in procs)
    assert all(p.popen.returncode == 0 for p in procs)  # clean shutdowns, not SIGKILL


def test_stop_escalates_to_sigkill_when_term_is_ignored(tmp_path: Path) -> None:
    import signal
    import sys

    from services.devstack.process import spawn

    stubborn = spawn(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        log_path=tmp_path / "stubborn.log",
    )
    deadline = time.monotonic() + 10
    while "ready" not in stubborn.log_tail() and time.monotonic() < deadline:
        time.sleep(0.02)
    stubborn.stop(timeout=0.5)
    assert stubborn.popen.returncode == -signal.SIGKILL


QUORUM_NODE = """
import pathlib, signal, sys, time
me, peer = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def stop(*_):
    me.touch()  # stopping; like a KRaft node, done only once the other one stops too
    while not peer.exists():
        time.sleep(0.01)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
"""


def test_down_stops_processes_that_need_each_other_together_not_by_sigkill(
    tmp_path: Path,
) -> None:
    """The nodes of a KRaft quorum: stopped one by one, the last waited for a quorum that was
    gone until ``down`` killed it (15 s of every ``down``). ``down`` stops each wave at once:
    the apps, then the stores, then the broker nodes."""
    import sys

    from schemas import topology
    from services.devstack import stackfile
    from services.devstack.pids import create_time
    from services.devstack.process import spawn

    a, b = tmp_path / "a.stopping", tmp_path / "b.stopping"
    nodes = [
        spawn(
            name, [sys.executable, "-c", QUORUM_NODE, str(me), str(peer)], log_path=tmp_path / name
        )
        for name, me, peer in (("node-a", a, b), ("node-b", b, a))
    ]
    for node in nodes:
        deadline = time.monotonic() + 10
        while "ready" not in node.log_tail() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "ready" in node.log_tail(), "the stand-in node must have started"
    processes = [
        {
            "region": r,
            "service": "kafka",
            "pid": n.pid,
            "address": "",
            "log": "",
            "create_time": create_time(n.pid),
        }
        for r, n in zip(("eu", "us"), nodes, strict=True)
    ]
    path = tmp_path / "stack.json"
    extra = {"launcher": {"detached": True}, "processes": processes}
    topology.save(topology.Topology("127.0.0.1:1", {}, extra=extra), path)

    stopped = stackfile.down(path, timeout=5.0)

    assert sorted(r.pid for r in stopped) == sorted(n.pid for n in nodes)
    assert [n.popen.wait(5) for n in nodes] == [0, 0]  # both stopped themselves: no SIGKILL


def test_down_stops_apps_then_stores_then_broker_nodes() -> None:
    from services.devstack.stackfile import Record, stop_waves

    recorded = [
        Record("", "broker", 1, "", "", None),
        Record("eu", "redis", 2, "", "", None),
        Record("eu", "postgres", 3, "", "", None),
        Record("eu", "worker", 4, "", "", None),
        Record("eu", "login", 5, "", "", None),
        Record("", "front-door", 6, "", "", None),
        Record("us", "kafka", 7, "", "", None),
    ]
    assert [[r.pid for r in wave] for wave in stop_waves(recorded)] == [[4, 5, 6], [2, 3], [1, 7]]


def test_explicit_binary_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="not an executable"):
        find_binary("tansu", tmp_path / "nope", [])
    with pytest.raises(InfraError, match="not an executable"):
        start_broker(tmp_path, binary=tmp_path / "nope")


# -- the launcher --------------------------------------------------------------------------------


def _our_infra_children() -> list[psutil.Process]:
    names = ("tansu", "redis-server", "postgres")
    return [
        c
        for c in psutil.Process().children()
        if c.status() != psutil.STATUS_ZOMBIE and any(n in c.name() for n in names)
    ]


async def test_infra_only_stack_records_itself_and_stops_every_pid(tmp_path: Path) -> None:
    from schemas import names, topology
    from services.devstack.stack import Stack

    before = {c.pid for c in _our_infra_children()}
    stack = Stack.start(["eu", "us"], tmp_path, durable=False, with_apps=False)
    try:
        topo = topology.load(stack.stack_file)
        assert set(topo.regions) == {"eu", "us"}
        assert topo.introspection_client_id == names.DEV_RESOURCE_SERVER_ID  # a registered client
        assert len(topo.introspection_client_secret) >= 32
        assert stack.stack_file.stat().st_mode & 0o077 == 0  # the secret is not world-readable
        admin = AIOKafkaAdminClient(bootstrap_servers=topo.kafka_bootstrap)
        await admin.start()
        try:
            assert set(await admin.list_topics()) >= {names.TOPIC_EVENTS, names.TOPIC_DEADLETTER}
        finally:
            await admin.close()
        pids = [p for r in topo.regions.values() for p in r.pids.values()]
        assert len(pids) == 4
    finally:
        stack.stop()
    assert not any(psutil.pid_exists(p) and _alive(p) for p in pids)
    assert not stack.stack_file.exists()
    assert {c.pid for c in _our_infra_children()} == before


def test_up_forgets_the_signing_keys_of_an_earlier_stack(tmp_path: Path) -> None:
    """Every ``up`` starts with an empty log and empty stores, so the earlier stack's signing
    keys must go too: kept, its tokens would verify again while its revocations are gone."""
    from services.devstack.stack import Stack

    earlier = tmp_path / "keys" / "eu" / "earlier-stack.key"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("a signing key of the stack that ran here before")
    stack = Stack.start(["eu"], tmp_path, durable=False, with_apps=False)
    try:
        assert stack.settings["eu"].key_dir == earlier.parent
        assert not earlier.exists()
    finally:
        stack.stop()


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def test_a_failed_start_stops_what_already_started(tmp_path: Path) -> None:
    from services.devstack.stack import Stack

    before = {c.pid for c in _our_infra_children()}
    # --base-port plan: the broker gets busy-1 (free), eu's Redis gets `busy` (taken).
    with _busy_port_after_a_free_one() as busy, pytest.raises(InfraError, match="eu-redis"):
        Stack.start(["eu"], tmp_path, durable=False, with_apps=False, base_port=busy - 1)
    assert {c.pid for c in _our_infra_children()} == before


@contextlib.contextmanager
def _busy_port_after_a_free_one() -> Iterator[int]:
    for _ in range(50):
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            busy = int(blocker.getsockname()[1])
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", busy - 1))
                except OSError:
                    continue
            yield busy
            return
    raise AssertionError("no free port below a busy one")


def test_cli_up_detach_status_down(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from schemas import topology
    from services.admin.authplane import app

    runner = CliRunner()
    args = ["--base-dir", str(tmp_path)]
    up = runner.invoke(
        app, ["up", "--regions", "eu", "--infra-only", "--detach", "--free-ports", *args]
    )
    assert up.exit_code == 0, up.output
    # The hint must stop THIS stack, not the default one.
    assert f"authplanedown--base-dir{tmp_path}" in "".join(up.output.split())
    pids = list(topology.load(tmp_path / "stack.json").region("eu").pids.values())
    status = runner.invoke(app, ["status", *args])
    assert status.exit_code == 0, status.output
    assert "dead" not in status.output
    down = runner.invoke(app, ["down", *args])
    assert down.exit_code == 0, down.output
    assert not any(_alive(p) for p in pids)
    after = runner.invoke(app, ["status", *args])
    assert after.exit_code == 1
    assert "no stack file" in after.output
    again = runner.invoke(app, ["down", *args])  # clean-up scripts call down unconditionally
    assert again.exit_code == 0, again.output
    assert "nothing to stop" in again.output


def test_cli_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from services.admin.authplane import app

    runner = CliRunner()
    for regions, message in (("eu,eu", "listed twice"), ("e-u", "short identifier")):
        result = runner.invoke(app, ["up", "--regions", regions, "--base-dir", str(tmp_path)])
        assert result.exit_code == 1
        assert message in result.output
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_down_never_signals_a_process_it_did_not_start(tmp_path: Path) -> None:
    import subprocess
    import sys

    from schemas import topology
    from services.devstack import stackfile

    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        record = {
            "region": "eu",
            "service": "redis",
            "pid": stranger.pid,
            "address": "",
            "log": "",
            "create_time": psutil.Process(stranger.pid).create_time() - 3600,
        }
        topo = topology.Topology("127.0.0.1:1", {}, extra={"processes": [record]})
        topology.save(topo, tmp_path / "stack.json")
        # Same PID, different start time: a recycled PID that now belongs to someone else.
        assert stackfile.down(tmp_path / "stack.json") == []
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


async def test_region_and_fresh_databases_carry_the_migrated_schema(
    region_stores: dict[str, RegionInfra], fresh_postgres_dsn: str
) -> None:
    from schemas import names

    assert all(infra.migrated for infra in region_stores.values())
    for dsn in (region_stores["us"].postgres_dsn, fresh_postgres_dsn):
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT to_regclass($1)::text", names.TABLE_EVENT_ARCHIVE)
        finally:
            await conn.close()


METADATA_PATH = "/.well-known/oauth-authorization-server"


def test_full_two_region_stack_starts_answers_and_stops_every_pid(tmp_path: Path) -> None:
    import httpx

    from schemas import topology
    from schemas.settings import default_issuer
    from services.devstack.stack import Stack

    started = time.monotonic()
    stack = Stack.start(["eu", "us"], tmp_path, durable=False)
    try:
        elapsed = time.monotonic() - started
        topo = topology.load(stack.stack_file)
        pids = {(name, svc): pid for name, r in topo.regions.items() for svc, pid in r.pids.items()}
        assert set(pids) == {
            (r, s) for r in ("eu", "us") for s in ("redis", "postgres", "login", "worker")
        }
        assert all(_alive(pid) for pid in pids.values())
        for region in topo.regions.values():
            assert httpx.get(region.login_url + "/healthz", timeout=5).status_code == 200
            metadata = httpx.get(region.login_url + METADATA_PATH, timeout=5).json()
            assert metadata["issuer"] == default_issuer(region.name)
            assert metadata["token_endpoint"] == region.login_url + "/oauth2/token"
            assert (tmp_path / "logs" / f"{region.name}-worker.log").exists()
        assert elapsed < 60
    finally:
        stack.stop()
    assert not any(_alive(pid) for pid in pids.values())
    assert not _alive(stack.broker.pid)
