"""``authplane``: the dev launcher (up / down / status) and database migrations.

authplane up [--regions eu,us] [--detach] [--no-wait] [--port-offset N | --free-ports]
authplane status | down | env [--region R]
authplane db upgrade [--dsn DSN]
authplane replay --region R [--target all|redis|postgres] [--since T] [--pause-live] [--restart]
authplane checksum --region R [--json] | verify --region R | reseed --from-region eu[,us] [--force]
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from schemas.settings import Settings, SettingsError
from services.admin.cliargs import non_utf8_argument
from services.core.topology import TopologyError
from services.core.topology import load as load_topology
from services.devstack import env as shell_env
from services.devstack import ports as dev_ports
from services.devstack import stackfile
from services.devstack.infra import apply_migrations, migrations_available
from services.devstack.kafka_jars import choose_broker
from services.devstack.process import InfraError
from services.devstack.ready import describe, wait_until_ready
from services.devstack.stack import Stack

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
db_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Database migrations.")
app.add_typer(db_app, name="db")
console = Console()

BaseDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Holds stack.json, logs, keys, data [default: AUTHPLANE_STACK_FILE's directory]"
    ),
]


def main() -> None:
    not_text = non_utf8_argument(sys.argv[1:])
    if not_text is not None:
        raise SystemExit(_fail(not_text).exit_code)
    app()


def _fail(message: str) -> typer.Exit:
    # Expected failures are one line, never a traceback; details are in the log it names.
    Console(stderr=True, soft_wrap=True).print(
        f"[red]error:[/red] {message.splitlines()[0]}", highlight=False
    )
    return typer.Exit(1)


def _base_dir(option: Path | None) -> Path:
    return option if option is not None else Settings.from_env().stack_file.parent


@app.command()
def up(
    regions: Annotated[str, typer.Option(help="Comma-separated region names.")] = "eu,us",
    detach: Annotated[bool, typer.Option(help="Leave the stack running and return.")] = False,
    wait: Annotated[
        bool, typer.Option(help="Return only once every region is ready (--no-wait: at once).")
    ] = True,
    port_offset: Annotated[
        int,
        typer.Option(
            envvar="AUTHPLANE_DEV_PORT_OFFSET",
            help="Shift every stable port (README: Ports) by N.",
        ),
    ] = 0,
    free_ports: Annotated[
        bool,
        typer.Option(envvar="AUTHPLANE_DEV_FREE_PORTS", help="Any free ports, not stable ones."),
    ] = False,
    base_port: Annotated[
        int | None, typer.Option(min=1024, max=65000, help="Consecutive ports from N.")
    ] = None,
    base_dir: BaseDirOption = None,
    infra_only: Annotated[bool, typer.Option(help="Broker and stores only.")] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for /healthz, then as long for readiness.")
    ] = 60.0,
    broker: Annotated[
        str, typer.Option(help="kafka (KRaft, one node per region) | tansu | auto.")
    ] = "auto",
) -> None:
    """Start a broker and, per region, Redis, Postgres, a login endpoint and a projector."""
    names = [r.strip() for r in regions.split(",") if r.strip()]
    try:
        kind, why = choose_broker(broker)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    console.print(why, highlight=False)
    try:
        base = Settings.from_env()
        directory = _base_dir(base_dir)
        plan = None if free_ports or base_port else dev_ports.stable_plan(names, port_offset)
        with console.status("starting the stack..."):
            stack = Stack.start(
                names,
                directory,
                base=base,
                inherited_env=os.environ,
                detach=detach,
                base_port=base_port,
                port_plan=plan,
                with_apps=not infra_only,
                ready_timeout=timeout,
                broker=kind,
                say=lambda line: console.print(line, highlight=False),
            )
        if wait and not infra_only:
            _wait_ready(stack, timeout)
    except (InfraError, SettingsError, TopologyError) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted during start-up; everything started was stopped") from None
    _print_processes(stackfile.records_of(stack), stack.stack_file, stack.broker_kind)
    if not infra_only:
        _print_next_commands(stack.stack_file, ready=wait)
    if detach:
        stack.release()
        console.print(f"detached: stop it with [bold]{_down_command(stack.stack_file)}[/bold]")
        return
    raise typer.Exit(_run_foreground(stack))


def _wait_ready(stack: Stack, timeout: float) -> None:
    """Block until every region is ready; on failure stop the stack and raise."""
    with console.status("waiting for every region to be ready...") as spinner:
        try:
            wait_until_ready(
                load_topology(stack.stack_file),
                timeout,
                dead=lambda: [f"{p.name} (log: {p.log_path})" for p in stack.dead()],
                on_pending=lambda pending: spinner.update(f"waiting for: {describe(pending)}"),
            )
        except BaseException:
            stack.stop()
            raise
    console.print("[green]ready[/green]: every region answers /readyz and its projector is live")


def _custom_dir(stack_file: Path) -> Path | None:
    """The stack's directory when it is not the default one (commands then need --base-dir)."""
    default_dir = Settings().stack_file.parent.resolve()
    return stack_file.parent if stack_file.parent.resolve() != default_dir else None


def _down_command(stack_file: Path) -> str:
    custom = _custom_dir(stack_file)
    return "authplane down" + (f" --base-dir {shlex.quote(str(custom))}" if custom else "")


def _print_next_commands(stack_file: Path, *, ready: bool) -> None:
    custom = _custom_dir(stack_file)
    lines = shell_env.next_commands(load_topology(stack_file), custom)
    if not ready:
        console.print("not waiting for readiness (--no-wait): `authplane status` shows it")
    console.print("next, in another terminal in this directory:", highlight=False)
    for line in lines:
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def _run_foreground(stack: Stack) -> int:
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    console.print("running; Ctrl-C stops everything")
    code = 0
    while not stopping.wait(0.5):
        dead = stack.dead()
        if dead:
            names = ", ".join(f"{p.name} (log: {p.log_path})" for p in dead)
            Console(stderr=True, soft_wrap=True).print(
                f"[red]error:[/red] exited unexpectedly: {names}"
            )
            code = 1
            break
    with console.status("stopping..."):
        stack.stop()
    console.print("stopped")
    return code


@app.command()
def status(base_dir: BaseDirOption = None) -> None:
    """Show which recorded processes are alive, and each login endpoint's /readyz."""
    path = _base_dir(base_dir) / "stack.json"
    try:
        topo = load_topology(path)
        records = stackfile.records(topo)
    except TopologyError as exc:
        raise _fail(str(exc)) from None
    _print_processes(records, path, stackfile.broker_kind(topo), live=True)
    if not all(r.alive() for r in records):
        raise typer.Exit(1)


@app.command()
def down(base_dir: BaseDirOption = None) -> None:
    """Stop the processes recorded in the stack file (and only those). With no stack running it
    says so and succeeds, so clean-up scripts may call it unconditionally."""
    path = _base_dir(base_dir) / "stack.json"
    if not path.exists():
        console.print(f"no stack running (no stack file at {path}): nothing to stop")
        return
    try:
        stopped = stackfile.down(path)
    except TopologyError as exc:
        raise _fail(str(exc)) from None
    console.print(f"stopped {len(stopped)} process(es); removed {path}")


@app.command("env")
def env_exports(
    region: Annotated[
        str | None, typer.Option(help="Only this region (adds AUTHPLANE_URL).")
    ] = None,
    base_dir: BaseDirOption = None,
) -> None:
    """Print shell exports for the running stack: eval "$(authplane env)"."""
    path = _base_dir(base_dir) / "stack.json"
    try:
        pairs = shell_env.exports(load_topology(path), path, region)
    except TopologyError as exc:
        raise _fail(str(exc)) from None
    typer.echo(shell_env.render(pairs), nl=False)


@db_app.command("upgrade")
def db_upgrade(
    dsn: Annotated[str | None, typer.Option(help="[default: AUTHPLANE_POSTGRES_DSN]")] = None,
) -> None:
    """Apply the Alembic migrations to a Postgres database."""
    if not migrations_available():
        raise _fail("migrations are not available in this checkout (migrations/runner.py)")
    try:
        target = dsn or Settings.from_env().postgres_dsn
        apply_migrations(target)
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise _fail(f"migrating {_redact(target)} failed: {exc}") from None
    console.print(f"migrated {_redact(target)}")


RECOVERY_MODULE = "streams.replay"
RegionOption = Annotated[str, typer.Option(help="Region name as in the stack file.")]


def _run_recovery(args: list[str], base_dir: Path | None) -> None:
    """Run the recovery engine (streams/) as a child with our stdio; exit with its code.

    A child, not an import: services/ never imports streams/. The child is this interpreter
    running the installed package's ``streams.replay`` (both are in the same distribution), and
    inherits our environment unread: it reads its own settings. Ctrl-C reaches the child
    directly (same terminal), which reports and exits; we wait for it and pass its code on.
    """
    stack_file = base_dir / "stack.json" if base_dir else Settings.from_env().stack_file
    argv = [sys.executable, "-m", RECOVERY_MODULE, "--stack-file", str(stack_file), *args]
    child = subprocess.Popen(argv)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    raise typer.Exit(code if code >= 0 else 128 - code)


@app.command()
def replay(
    region: RegionOption,
    target: Annotated[str, typer.Option(help="all | redis | postgres")] = "all",
    since: Annotated[
        str | None, typer.Option(help="Only events produced at or after this ISO 8601 time.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 5000,
    pause_live: Annotated[
        bool, typer.Option(help="Pause the region's live projector for the replay.")
    ] = False,
    restart: Annotated[bool, typer.Option(help="Ignore an interrupted run's checkpoint.")] = False,
    plain: Annotated[bool, typer.Option(help="Plain progress lines even on a terminal.")] = False,
    base_dir: BaseDirOption = None,
) -> None:
    """Rebuild a region's projections from the event log (resumes an interrupted run)."""
    args = ["replay", "--region", region, "--target", target, "--batch-size", str(batch_size)]
    args += ["--since", since] if since else []
    args += [flag for flag, on in _flags(pause_live=pause_live, restart=restart, plain=plain) if on]
    _run_recovery(args, base_dir)


@app.command()
def checksum(
    region: RegionOption,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
    base_dir: BaseDirOption = None,
) -> None:
    """Print a stable digest of a region's projected state, per kind of record and overall."""
    _run_recovery(["checksum", "--region", region, *(["--json"] if json_output else [])], base_dir)


@app.command()
def verify(
    region: RegionOption,
    batch_size: Annotated[int, typer.Option(min=1)] = 5000,
    base_dir: BaseDirOption = None,
) -> None:
    """Rebuild a region from the log into scratch stores and compare; exit 2 on drift."""
    _run_recovery(["verify", "--region", region, "--batch-size", str(batch_size)], base_dir)


@app.command()
def reseed(
    from_region: Annotated[str, typer.Option(help="Region(s) whose archive to republish: eu,us")],
    force: Annotated[bool, typer.Option(help="Publish even if the topics hold events.")] = False,
    base_dir: BaseDirOption = None,
) -> None:
    """Refill an empty event log from regions' event archives (deduplicated, in order)."""
    _run_recovery(
        ["reseed", "--from-region", from_region, *(["--force"] if force else [])], base_dir
    )


@app.command()
def drill(
    name: Annotated[
        str, typer.Argument(help="region-crash | region-partition | wan-latency | rolling-restart")
    ],
    rate: Annotated[float, typer.Option(min=0.5, help="Operations per second (load).")] = 6.0,
    fault_s: Annotated[float, typer.Option(min=1.0, help="Seconds the fault lasts.")] = 20.0,
    base_dir: Annotated[Path | None, typer.Option(help="[default: a new temp directory]")] = None,
) -> None:
    """Run a disaster drill on a fresh 3-region Kafka stack under load and print its figures."""
    from services.devstack.drill.runner import DRILLS, run_and_print

    if name not in DRILLS:
        raise _fail(f"unknown drill {name!r} (one of: {', '.join(DRILLS)})")
    try:
        run_and_print(name, rate, fault_s, base_dir, console)
    except InfraError as exc:
        raise _fail(str(exc)) from None


def _flags(**flags: bool) -> list[tuple[str, bool]]:
    return [("--" + name.replace("_", "-"), on) for name, on in flags.items()]


def _redact(dsn: str) -> str:
    # Never echo a password that may be embedded in the DSN.
    scheme, sep, rest = dsn.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return dsn
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


def _print_processes(
    records: list[stackfile.Record], path: Path, broker: str, live: bool = False
) -> None:
    table = Table(title=f"authplane stack on {broker} ({path})")
    for column in ("region", "service", "pid", "address", "state"):
        table.add_column(column, overflow="fold")
    for r in records:
        state = "alive" if r.alive() else "[red]dead[/red]"
        if live and r.service == "login" and r.alive():
            state += f", {stackfile.readiness(r.address)}"
        table.add_row(r.region or "-", r.service, str(r.pid), r.address, state)
    console.print(table)


if __name__ == "__main__":
    main()
