"""``authplane up|status|down|env``: the dev stack started, inspected, stopped and exported to
a shell (the processes themselves are in ``services.devstack``)."""

from __future__ import annotations

import os
import shlex
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from schemas.settings import Settings, SettingsError
from schemas.topology import TopologyError
from schemas.topology import load as load_topology
from services.admin.authplane.terminal import BaseDirOption, console, fail
from services.admin.authplane.terminal import base_dir as _base_dir
from services.devstack import env as shell_env
from services.devstack import ports as dev_ports
from services.devstack import stackfile
from services.devstack.frontdoor import INSTALL_HINT, haproxy_binary
from services.devstack.kafka_jars import choose_broker
from services.devstack.process import InfraError, ManagedProcess
from services.devstack.ready import describe, wait_until_ready
from services.devstack.stack import Stack


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
    front_door: Annotated[
        bool,
        typer.Option(
            help="HAProxy in front of the login endpoints: one port per home region, failing "
            "over to another region by /readyz (needs haproxy on PATH)."
        ),
    ] = False,
) -> None:
    """Start a broker and, per region, Redis, Postgres, a login endpoint and a projector
    (and with --front-door, HAProxy routing each client to its home region)."""
    names = [r.strip() for r in regions.split(",") if r.strip()]
    try:
        kind, why = choose_broker(broker)
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(why, highlight=False)
    haproxy = _front_door_binary(front_door and not infra_only)
    try:
        base = Settings.from_env()
        directory = _base_dir(base_dir)
        plan = (
            None
            if free_ports or base_port
            else dev_ports.stable_plan(names, port_offset, front_door=haproxy is not None)
        )
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
                front_door=haproxy,
            )
        if wait and not infra_only:
            _wait_ready(stack, timeout)
    except (InfraError, SettingsError, TopologyError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted during start-up; everything started was stopped") from None
    _print_processes(stackfile.records_of(stack), stack.stack_file, stack.broker_kind)
    if not infra_only:
        _print_next_commands(stack.stack_file, ready=wait)
    if detach:
        stack.release()
        console.print(f"detached: stop it with [bold]{_down_command(stack.stack_file)}[/bold]")
        return
    raise typer.Exit(_run_foreground(stack))


def _front_door_binary(wanted: bool) -> Path | None:
    """HAProxy's path when a front door is wanted and installed; when it is wanted but missing,
    says so in one line (how to install it) and the stack starts without one."""
    if not wanted:
        return None
    found = haproxy_binary()
    if found is None:
        console.print(f"[yellow]{INSTALL_HINT}[/yellow]", highlight=False, soft_wrap=True)
    return found


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
    """Watch the stack until Ctrl-C (exit 0) or until no login endpoint is left (exit 1).

    One region's process dying is reported once and does not stop the others: a front door
    then sends that region's clients elsewhere, and a region taken away by hand is how
    failover is tried out on the dev stack."""
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    console.print("running; Ctrl-C stops everything")
    errors = Console(stderr=True, soft_wrap=True)
    reported: set[str] = set()
    code = 0
    while not stopping.wait(0.5):
        processes = stack.processes()
        for proc in processes:
            if proc.name not in reported and not proc.alive():
                reported.add(proc.name)
                errors.print(
                    f"[yellow]warning:[/yellow] exited unexpectedly: {proc.name} "
                    f"(log: {proc.log_path}); the rest keeps running"
                )
        if no_login_left(processes):
            errors.print("[red]error:[/red] no login endpoint is left running")
            code = 1
            break
    with console.status("stopping..."):
        stack.stop()
    console.print("stopped")
    return code


def no_login_left(processes: Sequence[ManagedProcess]) -> bool:
    """True when the stack started login endpoints and every one of them has exited: nothing
    can answer a client any more, so the foreground stack stops."""
    logins = [p for p in processes if p.details.get("service") == "login"]
    return bool(logins) and not any(p.alive() for p in logins)


def status(base_dir: BaseDirOption = None) -> None:
    """Show which recorded processes are alive, and each login endpoint's /readyz."""
    path = _base_dir(base_dir) / "stack.json"
    try:
        topo = load_topology(path)
        records = stackfile.records(topo)
    except TopologyError as exc:
        raise fail(str(exc)) from None
    _print_processes(
        records, path, stackfile.broker_kind(topo), live=True, doors=stackfile.front_door_urls(topo)
    )
    if not all(r.alive() for r in records):
        raise typer.Exit(1)


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
        raise fail(str(exc)) from None
    console.print(f"stopped {len(stopped)} process(es); removed {path}")


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
        raise fail(str(exc)) from None
    typer.echo(shell_env.render(pairs), nl=False)


def _print_processes(
    records: list[stackfile.Record],
    path: Path,
    broker: str,
    live: bool = False,
    doors: dict[str, str] | None = None,
) -> None:
    table = Table(title=f"authplane stack on {broker} ({path})")
    for column in ("region", "service", "pid", "address", "state"):
        table.add_column(column, overflow="fold")
    for r in records:
        state = "alive" if r.alive() else "[red]dead[/red]"
        if live and r.service == "login" and r.alive():
            state += f", {stackfile.readiness(r.address)}"
        if live and r.service == "front-door" and r.alive() and doors:
            state += f", home->serving: {stackfile.front_door_routes(doors)}"
        table.add_row(r.region or "-", r.service, str(r.pid), r.address, state)
    console.print(table)
    _print_clients(load_topology(path).extra.get("clients") or {})


def _print_clients(clients: dict[str, dict[str, object]]) -> None:
    """The dev OAuth clients the stack registered, with their credentials (issue 12): one line
    each, never folded, so a secret can be copied whole."""
    if not clients:
        return
    console.print('OAuth clients (also under "clients" in the stack file):')
    for client_id, c in clients.items():
        grants = c.get("grant_types")
        words = [
            f"  {client_id}",
            f"{c.get('client_type', '')}/{c.get('token_endpoint_auth_method', '')}",
            "grants="
            + (",".join(map(str, grants)) if isinstance(grants, list) and grants else "-"),
        ]
        if c.get("can_introspect"):
            words.append("introspect")
        if c.get("client_secret"):
            words.append(f"client_secret={c['client_secret']}")
        console.print("  ".join(words), highlight=False, markup=False, soft_wrap=True)
