"""One region's stores (Redis + Postgres) started together, and helpers that hand a test a
clean slate on them without restarting anything."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from migrations.runner import upgrade
from services.devstack import postgres, redis
from services.devstack.process import HOST, ManagedProcess, run_in_thread

TEMPLATE_DATABASE = "authplane_template"
"""A migrated database nobody connects to, copied by ``CREATE DATABASE ... TEMPLATE``."""


@dataclass(frozen=True)
class RegionStores:
    """Where one region's state lives (what a service or a test needs to reach it)."""

    region: str
    redis_url: str
    postgres_dsn: str


@dataclass
class RegionInfra:
    """A region's running stores; ``redis_url`` and ``postgres_dsn`` are what services need."""

    region: str
    redis: ManagedProcess
    postgres: ManagedProcess
    migrated: bool = False
    _redis_dbs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _pg_dbs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def redis_url(self) -> str:
        return self.redis.address

    @property
    def postgres_dsn(self) -> str:
        return self.postgres.address

    @property
    def pids(self) -> dict[str, int]:
        return {"redis": self.redis.pid, "postgres": self.postgres.pid}

    def fresh_redis_url(self) -> str:
        """A flushed logical database of this region's Redis that no other caller gets."""
        index = 1 + (next(self._redis_dbs) - 1) % (redis.DATABASES - 1)
        redis.flush(int(self.redis.details["port"]), index)
        return f"redis://{HOST}:{self.redis.details['port']}/{index}"

    def fresh_postgres_dsn(self, prefix: str = "t") -> str:
        """A new database, migrated like ``authplane`` (copied from the template)."""
        name = f"{prefix}_{self.region}_{next(self._pg_dbs)}"
        port = int(self.postgres.details["port"])
        admin = postgres.dsn(port, postgres.SUPERUSER)
        run_in_thread(lambda: asyncio.run(postgres.create_database(admin, name, TEMPLATE_DATABASE)))
        return postgres.dsn(port, name)

    def drop_database(self, dsn: str) -> None:
        name = dsn.rsplit("/", 1)[1]
        admin = postgres.dsn(int(self.postgres.details["port"]), postgres.SUPERUSER)
        run_in_thread(lambda: asyncio.run(_drop_database(admin, name)))

    def stop(self) -> None:
        # Postgres first: it takes longest and nothing depends on Redis to shut down.
        self.postgres.stop()
        self.redis.stop()


def start_region_infra(
    region: str,
    base_dir: Path,
    *,
    durable: bool = True,
    die_with_parent: bool = False,
    ports: tuple[int, int] | None = None,
) -> RegionInfra:
    """Start ``region``'s Redis and Postgres under ``base_dir/<region>/`` and migrate them."""
    root = base_dir / "data" / region
    redis_port, postgres_port = ports or (None, None)
    logs = base_dir / "logs"
    rds = redis.start_redis(
        root / "redis",
        name=f"{region}-redis",
        log_path=logs / f"{region}-redis.log",
        die_with_parent=die_with_parent,
        fixed_port=redis_port,
    )
    try:
        pg = postgres.start_postgres(
            root / "postgres",
            name=f"{region}-postgres",
            durable=durable,
            log_path=logs / f"{region}-postgres.log",
            die_with_parent=die_with_parent,
            fixed_port=postgres_port,
            database=None,
        )
    except BaseException:
        rds.stop()
        raise
    infra = RegionInfra(region, rds, pg)
    try:
        _prepare_databases(pg)
        infra.migrated = True
    except BaseException:
        infra.stop()
        raise
    return infra


def apply_migrations(dsn: str) -> None:
    """Run the Alembic migrations (``migrations.runner.upgrade``) on ``dsn``.

    On its own thread: the upgrade drives asyncio and must not touch a caller's event loop.
    """
    run_in_thread(lambda: upgrade(dsn))


def _prepare_databases(pg: ManagedProcess) -> None:
    # Migrate once, then copy: a template copy is far cheaper than a second migration run.
    port = int(pg.details["port"])
    admin = postgres.dsn(port, postgres.SUPERUSER)
    run_in_thread(lambda: asyncio.run(postgres.create_database(admin, TEMPLATE_DATABASE)))
    apply_migrations(postgres.dsn(port, TEMPLATE_DATABASE))
    run_in_thread(
        lambda: asyncio.run(
            postgres.create_database(admin, postgres.DATABASE, template=TEMPLATE_DATABASE)
        )
    )


async def _drop_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        # FORCE ends sessions a test left open, so a leak cannot block the drop.
        ident = '"' + name.replace('"', '""') + '"'
        await conn.execute(f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)")
    finally:
        await conn.close()
