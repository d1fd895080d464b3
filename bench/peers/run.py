"""`python -m bench peers`: authplane and Keycloak in the same run, driven by wrk.

Order: fetch/build Keycloak (cached), start a one-region authplane stack, create a ``keycloak``
database on that region's Postgres, start Keycloak at authplane's argon2id parameters, then
measure both sides figure by figure with the login processes on core 0 and everything else
(data plane, Postgres, wrk) on core 1; then the whole box; then restart Keycloak at its own
argon2 defaults for one more password-grant figure.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import secrets
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.login import PASSWORD, bench_settings, create_user, wait_user_everywhere
from bench.peers import admin, drive, keycloak, pin
from bench.peers.compare import Row, render, render_markdown, save
from bench.peers.drive import Run
from bench.peers.memory import (
    database_bytes,
    jvm_heap_used,
    recent_session_ids,
    redis_used_memory,
    session_key_bytes,
    session_rows,
)
from bench.peers.profile import report, start_sampling
from bench.peers.side import Side, time_until_inactive
from bench.peers.systems import (
    CHEAP_POLICY,
    CHEAP_REALM,
    CHEAP_USERNAME,
    REGION,
    USERNAME,
    authplane_side,
    create_cheap_user,
    data_plane_pids,
    database_of,
    keycloak_side,
    login_pid,
)
from bench.peers.wrk import TRANSPORT_ERRORS, wrk_binary
from services.devstack import postgres
from services.devstack.stack import Stack

RESULTS = Path("docs/benchmarks-peers.json")
ERRORS_METHOD = (
    "errors: each wrk run counts unexpected answers per HTTP status and requests with no answer "
    "per kind (connect, read, write, timeout); they are printed beside each figure. A run with "
    f"more than {100 * drive.ERROR_RATE_MAX:g} % of its requests failed gives no figure (n/a)."
)
MIN_SESSIONS = 500
DEFAULTS_DB = "keycloak_defaults"
CAVEAT = (
    "measured on a shared 2-core machine with other jobs running; absolute figures are noisy, "
    "ratios less so. Re-run on a quiet machine for the README."
)


def start_stack(base_dir: Path) -> Stack:
    """The one-region authplane stack both sides are compared on (``bench_settings``: the
    lockout out of reach, as Keycloak's realm has brute-force detection off)."""
    return Stack.start([REGION], base_dir, inherited_env=dict(os.environ), base=bench_settings())


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench peers")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--logouts", type=int, default=30, help="logout-then-introspect samples")
    parser.add_argument("--version", default=keycloak.VERSION, help="Keycloak version")
    parser.add_argument(
        "--start-timeout", type=float, default=600.0, help="seconds to wait for Keycloak to start"
    )
    parser.add_argument("--no-defaults", action="store_true", help="skip Keycloak's defaults")
    parser.add_argument("--profile", type=Path, help="py-spy profiles of authplane into DIR")
    parser.add_argument(
        "--profile-only", action="store_true", help="only the authplane profiles (no Keycloak)"
    )
    parser.add_argument(
        "--no-keycloak",
        action="store_true",
        help="authplane alone: introspection and refresh per login core (and --profile), "
        "for before/after comparisons on a machine without Keycloak; writes no results JSON",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="with --no-keycloak: runs of each figure (median)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    parser.add_argument("--note", default=CAVEAT, help="caveat stored with the results")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    wrk_binary()  # fail before the minutes of set-up, with the install command
    if args.profile_only or args.no_keycloak:
        _authplane_only(args)
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(ERRORS_METHOD)
    print("== fetching the peer")
    kc_home = keycloak.fetch(args.version)
    keycloak.build(kc_home)
    with tempfile.TemporaryDirectory(prefix="authplane-peers-") as tmp:
        stack = start_stack(Path(tmp) / "stack")
        try:
            _with_stack(stack, kc_home, Path(tmp), args)
        finally:
            stack.stop()


def _show(
    shown: list[Row], extra: list[str], args: argparse.Namespace, rows: list[Row] | None = None
) -> None:
    """Print ``shown`` (and ``extra``) and save every row so far, so a later phase that
    fails loses nothing measured before it."""
    print()
    print(render(shown))
    for line in extra:
        print(line)
    context = {
        "keycloak": args.version,
        "jdk": str(keycloak.java_home() or "java on PATH"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "note": args.note,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save(rows if rows is not None else shown, context, args.out)
    print(f"\nwrote {args.out}; `python -m bench --plot` draws it")


def _with_stack(
    stack: Stack, kc_home: Path, tmp: Path, args: argparse.Namespace
) -> tuple[list[Row], list[str]]:
    create_user(stack, USERNAME)
    asyncio.run(wait_user_everywhere(stack, USERNAME))
    settings = stack.settings[REGION]
    pg_port = int(stack.regions[REGION].postgres.details["port"])
    admin_dsn = postgres.dsn(pg_port, postgres.SUPERUSER)
    asyncio.run(postgres.create_database(admin_dsn, "keycloak"))
    jdbc = f"jdbc:postgresql://127.0.0.1:{pg_port}/keycloak"
    equal = keycloak.Argon2(
        settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism
    )
    print(
        f"== starting Keycloak {args.version} (argon2 m={equal.memory_kib} KiB, "
        f"t={equal.iterations}, p={equal.parallelism}: authplane's parameters)"
    )
    admin_password = secrets.token_urlsafe(18)
    kc = keycloak.start(kc_home, jdbc, tmp, equal, admin_password, args.start_timeout)
    try:
        admin.create_realm(kc, equal.password_policy(), {USERNAME: PASSWORD})
        rows, extra = _compare(stack, kc, admin_dsn, args)
    finally:
        kc.stop()
    _show(rows, extra, args)
    if not args.no_defaults:
        try:
            rows.append(_defaults_row(stack, kc_home, tmp, admin_password, args))
        except (RuntimeError, OSError, httpx.HTTPError) as exc:
            print(f"   Keycloak at its defaults not measured: {exc}")
        else:
            _show(rows[-1:], [], args, rows)
    print("\nthe README's table (docs/benchmarks-peers.json holds the same rows):\n")
    print(render_markdown(rows, args.version))
    return rows, extra


def _place(stack: Stack, kc: keycloak.Keycloak, isolated: bool) -> None:
    logins = [
        pid for p in stack.apps if p.details.get("service") == "login" for pid in pin.spread(p.pid)
    ]
    servers = [*logins, *pin.spread(kc.process.pid)]
    if isolated and pin.two_cores():
        pin.pin(servers, pin.SERVER_CORES)
        pin.pin(data_plane_pids(stack), pin.DATA_PLANE_CORES)
    else:
        pin.pin([*servers, *data_plane_pids(stack)], pin.all_cores())


def _compare(
    stack: Stack, kc: keycloak.Keycloak, admin_dsn: str, args: argparse.Namespace
) -> tuple[list[Row], list[str]]:
    ours, theirs = authplane_side(stack), keycloak_side(kc)
    seconds = args.seconds
    _place(stack, kc, isolated=True)
    sides = (ours, theirs)
    print("== password grants, isolated (login process on core 0, the rest on core 1)")
    pw = _each(sides, lambda side: _password(side, seconds))
    ceiling = drive.argon2_ceiling(stack.settings[REGION], pin.SERVER_CORES, seconds)
    print("== introspection")
    intro = _each(sides, lambda side: drive.introspections(side, seconds))
    print("== refresh grants")
    refresh = _each(sides, lambda side: drive.refresh_grants(side, seconds))
    print("== logout, then introspect until inactive")
    logout = {side.name: time_until_inactive(side, args.logouts) for side in sides}
    print("== password grants, whole box")
    _place(stack, kc, isolated=False)
    box = _each(sides, lambda side: _password(side, seconds))
    box_ceiling = drive.argon2_ceiling(stack.settings[REGION], pin.all_cores(), seconds)
    extra = _details(pw, intro, refresh, box, ceiling, box_ceiling)
    _place(stack, kc, isolated=True)
    print("== memory per session")
    memory = _MemoryProbe(stack, kc, admin_dsn)
    memory.measure(seconds)
    extra += _absolute_aims(intro["authplane"], refresh["authplane"], memory)
    if args.profile is not None:
        extra += _profiles(stack, ours, args.profile, seconds)
    rows = [
        *_throughput_rows(pw, intro, refresh, box),
        *_latency_rows(logout),
        *memory.rows(),
    ]
    return rows, extra


Runs = dict[str, Run | None]
"""Per side name, its run, or None when the run failed more than ``drive.ERROR_RATE_MAX``."""

NOT_MEASURED = float("nan")


def _each(sides: tuple[Side, ...], measure: Callable[[Side], Run]) -> Runs:
    """``measure`` each side; a run with too many errors gives no figure (None, said why)
    and the comparison goes on with the next one."""
    runs: Runs = {}
    for side in sides:
        try:
            runs[side.name] = measure(side)
        except drive.TooManyErrors as exc:
            print(f"   no figure: {exc}")
            runs[side.name] = None
    return runs


def _per_core(run: Run | None) -> float:
    return NOT_MEASURED if run is None else run.per_core


def _good_rate(run: Run | None) -> float:
    return NOT_MEASURED if run is None else run.wrk.rate


def _absolute_aims(intro: Run | None, refresh: Run | None, memory: _MemoryProbe) -> list[str]:
    per_session = memory.rows()[0].authplane
    checks = [
        ("introspection per login core", _per_core(intro), "<", 3000.0),
        ("refresh grants per login core", _per_core(refresh), "<", 1000.0),
        ("Redis bytes per session (used_memory)", per_session, ">", 1024.0),
        ("MEMORY USAGE of a session hash", memory.key_bytes, ">", 1024.0),
    ]
    lines = ["", "authplane against the issue's absolute aims:"]
    for name, value, fails_if, bound in checks:
        aim = f"{'>=' if fails_if == '<' else '<='} {bound:,.0f}"
        if math.isnan(value):
            lines.append(f"   {name:<40} {'n/a':>10}   aim {aim:<12} not measured")
            continue
        missed = value < bound if fails_if == "<" else value > bound
        lines.append(
            f"   {name:<40} {value:>10,.0f}   aim {aim:<12} {'MISSED' if missed else 'met'}"
        )
    return lines


def _password(side: Side, seconds: float) -> Run:
    # Twice the length: a login takes ~100s of ms, so a short run counts few of them.
    return drive.password_grants(side, 2 * seconds, warmup=min(2.0, seconds))


def _throughput_rows(pw: Runs, intro: Runs, refresh: Runs, box: Runs) -> list[Row]:
    wrk_note = "wrk pinned to core 1 with the data plane; login process alone on core 0"
    per_core = "divided by the login process's CPU cores (uvicorn process / JVM, from /proc)"
    return [
        _rate("password grant, equal argon2id, isolated", "logins/s", pw,
              "wrk, 4 connections, one user, 2x the run length after a warm-up; " + wrk_note,
              aim=1.0),
        _rate("password grant, equal argon2id, whole box", "logins/s", box,
              "as above, every process allowed on both cores"),
        _rate("introspection", "requests/s", intro,
              "wrk, 32 connections, one live access token, RFC 7662; " + wrk_note),
        _rate("introspection per login core", "requests/s/core", intro,
              "requests/s " + per_core, aim=3.0, per_core=True),
        _rate("refresh grant", "grants/s", refresh,
              "wrk, 8 threads x 1 connection, each rotating 8 sessions round-robin; " + wrk_note),
        _rate("refresh grant per login core", "grants/s/core", refresh,
              "grants/s " + per_core, aim=5.0, per_core=True),
    ]  # fmt: skip


def _rate(
    name: str,
    unit: str,
    runs: Runs,
    method: str,
    aim: float | None = None,
    per_core: bool = False,
) -> Row:
    ours, theirs = runs["authplane"], runs["Keycloak"]
    value = _per_core if per_core else _good_rate
    return Row(name, unit, value(ours), value(theirs), method, aim=aim, errors=_errors(runs))


def _errors(runs: Runs) -> str:
    """Each side's error rate and kinds, e.g. ``authplane: no errors; Keycloak: 0.10 % ...``."""
    return "; ".join(
        f"{name}: "
        + ("no figure (errors above the limit)" if run is None else run.wrk.describe_errors())
        for name, run in runs.items()
    )


def _latency_rows(logout: dict[str, list[float]]) -> list[Row]:
    a, k = logout["authplane"], logout["Keycloak"]
    method = (
        f"{len(a)} sessions one at a time: logout (authplane POST /v1/logout, Keycloak "
        "OIDC logout with the refresh token), then introspect until inactive; ms from "
        "sending the logout (Python client, same region)"
    )
    return [
        Row(
            "logout -> inactive, p50",
            "ms",
            statistics.median(a),
            statistics.median(k),
            method,
            higher_is_better=False,
        ),
        Row("logout -> inactive, max", "ms", max(a), max(k), method, higher_is_better=False),
    ]


def _details(
    pw: Runs, intro: Runs, refresh: Runs, box: Runs, ceiling: float, box_ceiling: float
) -> list[str]:
    lines = ["", "load generator and login-process CPU (cores busy) per run:"]
    for label, runs in (
        ("password isolated", pw),
        ("introspection", intro),
        ("refresh", refresh),
        ("password whole box", box),
    ):
        for name, run in runs.items():
            if run is None:
                lines.append(f"   {label:<20} {name:<10} no figure (errors above the limit)")
                continue
            lines.append(
                f"   {label:<20} {name:<10} wrk {run.wrk.cpu_cores:4.2f} cores, login "
                f"{run.login_cores:4.2f} cores, p50 {run.wrk.p50_ms:7.1f} ms, p99 "
                f"{run.wrk.p99_ms:7.1f} ms, 503 retries {run.wrk.retry}, "
                f"{run.wrk.describe_errors()} (connect/read/write/timeout "
                + "/".join(str(run.wrk.errors.get(k, 0)) for k in TRANSPORT_ERRORS)
                + ")"
            )
    isolated, whole = _good_rate(pw["authplane"]), _good_rate(box["authplane"])
    lines += [
        "",
        "authplane password logins against the argon2id-only ceiling (same parameters, the "
        "login endpoint's thread count, a process pinned the same way):",
        f"   isolated (core {pin.SERVER_CORES}): {isolated:.1f} / "
        f"{ceiling:.1f} = {isolated / ceiling:.3f}   (aim >= 0.9)",
        f"   whole box: {whole:.1f} / {box_ceiling:.1f} = {whole / box_ceiling:.3f}",
    ]
    return lines


class _MemoryProbe:
    """Bytes per session, from sessions made for it: a user whose password check is cheap
    on each side (authplane: argon2id at its minimum cost, stored in the hash; Keycloak: a
    realm with one PBKDF2 iteration), so thousands of sessions take seconds, not minutes.
    What a session costs to hold does not depend on how its password was checked."""

    def __init__(self, stack: Stack, kc: keycloak.Keycloak, admin_dsn: str) -> None:
        self.stack = stack
        self.settings = stack.settings[REGION]
        self.kc = kc
        self.admin_dsn = admin_dsn
        jdk = keycloak.java_home()
        self.jcmd = (jdk / "bin" / "jcmd") if jdk else Path("jcmd")
        self.start: dict[str, float] = {}
        self.end: dict[str, float] = {}
        self.key_bytes = 0.0
        self.seconds = 0.0

    def measure(self, seconds: float) -> None:
        self.seconds = 3 * seconds
        create_cheap_user(self.stack, CHEAP_USERNAME)
        asyncio.run(wait_user_everywhere(self.stack, CHEAP_USERNAME))
        admin.create_realm(self.kc, CHEAP_POLICY, {CHEAP_USERNAME: PASSWORD}, realm=CHEAP_REALM)
        ours = authplane_side(self.stack, CHEAP_USERNAME)
        theirs = keycloak_side(self.kc, CHEAP_REALM, CHEAP_USERNAME)
        self.start = self._sample()
        # Sessions are counted from the stores, not from wrk: its error rate does not matter.
        # authplane re-hashes a password stored with other argon2 parameters at its first
        # login (services.login.rehash), so after a few cheap logins its sessions come at the
        # full-cost rate: more rounds (at most 3) until MIN_SESSIONS exist on each side.
        counts = {
            ours.name: lambda: asyncio.run(session_rows(self.settings.postgres_dsn)),
            theirs.name: lambda: admin.active_sessions(self.kc, CHEAP_REALM),
        }
        for side in (ours, theirs):
            for _ in range(3):
                drive.password_grants(side, self.seconds, connections=8, error_limit=1.0)
                if counts[side.name]() - self.start[self._count_key(side.name)] >= MIN_SESSIONS:
                    break
        time.sleep(2.0)  # let the projector apply the last session.started events
        self.end = self._sample()
        self.key_bytes = asyncio.run(self._key_bytes())

    @staticmethod
    def _count_key(side_name: str) -> str:
        return "sessions" if side_name == "authplane" else "kc_sessions"

    def _sample(self) -> dict[str, float]:
        db = database_of(self.settings.postgres_dsn)
        return {
            "heap": jvm_heap_used(self.jcmd, self.kc.jvm_pid),
            "kc_db": asyncio.run(database_bytes(self.admin_dsn, "keycloak")),
            "kc_sessions": admin.active_sessions(self.kc, CHEAP_REALM),
            "redis": asyncio.run(redis_used_memory(self.settings.redis_url)),
            "pg": asyncio.run(database_bytes(self.admin_dsn, db)),
            "sessions": asyncio.run(session_rows(self.settings.postgres_dsn)),
        }

    async def _key_bytes(self) -> float:
        ids = await recent_session_ids(self.settings.postgres_dsn, 200)
        return await session_key_bytes(self.settings.redis_url, ids)

    def _per(self, key: str, count_key: str) -> float:
        count = self.end[count_key] - self.start[count_key]
        return (self.end[key] - self.start[key]) / count if count > 0 else 0.0

    def rows(self) -> list[Row]:
        hot_a, hot_k = self._per("redis", "sessions"), self._per("heap", "kc_sessions")
        db_a, db_k = self._per("pg", "sessions"), self._per("kc_db", "kc_sessions")
        few = min(
            self.end["sessions"] - self.start["sessions"],
            self.end["kc_sessions"] - self.start["kc_sessions"],
        )
        # A full GC leaves a few MB of heap noise; under ~500 sessions it swamps the figure.
        warning = "TOO FEW SESSIONS FOR A STEADY FIGURE; " if few < MIN_SESSIONS else ""
        made = warning + (
            f"{self.end['sessions'] - self.start['sessions']:.0f} authplane and "
            f"{self.end['kc_sessions'] - self.start['kc_sessions']:.0f} Keycloak sessions "
            f"made by rounds of {self.seconds:.0f} s of wrk password grants (8 connections, "
            f"until {MIN_SESSIONS} sessions, at most 3 rounds) by a user whose password check "
            "starts cheap (authplane re-hashes it to full cost at its first login)"
        )
        return [
            Row(
                "memory per session (hot store)",
                "bytes",
                hot_a,
                hot_k,
                f"{made}; authplane: Redis used_memory delta / sessions (MEMORY USAGE of one "
                f"session hash: {self.key_bytes:.0f} B); Keycloak: JVM heap used after a full "
                "GC (jcmd GC.run, GC.heap_info) delta / sessions",
                higher_is_better=False,
                aim=0.2,
            ),
            Row(
                "Postgres bytes per session",
                "bytes",
                db_a,
                db_k,
                f"{made}; pg_database_size delta / sessions (authplane's region database, "
                "Keycloak's database; both on the same server)",
                higher_is_better=False,
            ),
            Row(
                "memory per session (hot + Postgres)",
                "bytes",
                hot_a + db_a,
                hot_k + db_k,
                "sum of the two rows above",
                higher_is_better=False,
            ),
        ]


def _defaults_row(
    stack: Stack,
    kc_home: Path,
    tmp: Path,
    admin_password: str,
    args: argparse.Namespace,
) -> Row:
    print("== starting Keycloak again, at its own argon2 defaults, on a fresh database")
    # A fresh database: Keycloak creates its bootstrap admin only on an empty one, and on a
    # restart over the first database its admin API answered 401 to that admin's token.
    port = int(stack.regions[REGION].postgres.details["port"])
    asyncio.run(postgres.create_database(postgres.dsn(port, postgres.SUPERUSER), DEFAULTS_DB))
    jdbc = f"jdbc:postgresql://127.0.0.1:{port}/{DEFAULTS_DB}"
    defaults = keycloak.Argon2()
    kc = keycloak.start(kc_home, jdbc, tmp, defaults, admin_password, args.start_timeout)
    try:
        ours = authplane_side(stack)
        admin.create_realm(kc, defaults.password_policy(), {USERNAME: PASSWORD})
        _place(stack, kc, isolated=True)
        theirs = keycloak_side(kc)
        runs = _each((ours, theirs), lambda side: _password(side, args.seconds))
    finally:
        kc.stop()
    return _rate(
        "password grant, Keycloak at its defaults, isolated",
        "logins/s",
        runs,
        "as the isolated row; Keycloak's realm policy hashAlgorithm(argon2) with the "
        "provider's own memory, iterations and parallelism; authplane at its own settings",
    )


def _profiles(stack: Stack, ours: Side, out: Path, seconds: float) -> list[str]:
    """py-spy over exactly the counted wrk run (after the logins that make its tokens)."""
    out.mkdir(parents=True, exist_ok=True)
    login = login_pid(stack)
    projector = next(p.pid for p in stack.apps if p.details.get("service") == "worker")
    lines = ["", "profiles (authplane, a separate pass so sampling does not touch the figures):"]
    spies: list[subprocess.Popen[bytes] | None] = []

    def sample(*targets: tuple[int, str]) -> None:
        spies.extend(start_sampling(pid, seconds, out / name) for pid, name in targets)

    drive.password_grants(
        ours, 2 * seconds, warmup=2.0, on_start=lambda: sample((login, "password-login.txt"))
    )
    drive.introspections(ours, seconds, on_start=lambda: sample((login, "introspection-login.txt")))
    drive.refresh_grants(
        ours,
        seconds,
        on_start=lambda: sample((login, "refresh-login.txt"), (projector, "refresh-projector.txt")),
    )
    for spy in spies:
        if spy is not None:
            spy.wait(60)
    lines += report("password grants, login process", out / "password-login.txt")
    lines += report("introspection, login process", out / "introspection-login.txt")
    lines += report("refresh, login process", out / "refresh-login.txt")
    lines += report("refresh, projector (applying token.refreshed)", out / "refresh-projector.txt")
    return lines


def _authplane_only(args: argparse.Namespace) -> None:
    """No Keycloak: ``--no-keycloak`` measures authplane's introspection and refresh figures
    (placed as in the full run), then profiles them if ``--profile`` is given;
    ``--profile-only`` only profiles."""
    with tempfile.TemporaryDirectory(prefix="authplane-peers-") as tmp:
        stack = start_stack(Path(tmp) / "stack")
        try:
            create_user(stack, USERNAME)
            asyncio.run(wait_user_everywhere(stack, USERNAME))
            if pin.two_cores():
                pin.pin(pin.spread(login_pid(stack)), pin.SERVER_CORES)
                pin.pin(data_plane_pids(stack), pin.DATA_PLANE_CORES)
            ours = authplane_side(stack)
            if args.no_keycloak:
                for line in _alone(ours, args.seconds, args.repeat):
                    print(line)
            if args.profile is not None or args.profile_only:
                out = args.profile or Path("profiles")
                for line in _profiles(stack, ours, out, args.seconds):
                    print(line)
        finally:
            stack.stop()


def _alone(ours: Side, seconds: float, repeat: int) -> list[str]:
    """Introspection and refresh ``repeat`` times each, alternating; one line per run and the
    median per core (on a shared machine single runs scatter by tens of percent)."""
    lines = ["", "authplane alone (login process on core 0; wrk and the data plane on core 1):"]
    per_core: dict[str, list[float]] = {"introspection": [], "refresh grant": []}
    for _ in range(max(1, repeat)):
        for label, run in (
            ("introspection", drive.introspections(ours, seconds)),
            ("refresh grant", drive.refresh_grants(ours, seconds)),
        ):
            per_core[label].append(run.per_core)
            lines.append(
                f"   {label:<14} {run.wrk.rate:8.1f}/s, login {run.login_cores:4.2f} cores -> "
                f"{run.per_core:8.1f}/s per core; wrk {run.wrk.cpu_cores:4.2f} cores, "
                f"p50 {run.wrk.p50_ms:6.1f} ms, p99 {run.wrk.p99_ms:6.1f} ms"
            )
    for label, figures in per_core.items():
        lines.append(f"   median {label:<14} {statistics.median(figures):8.1f}/s per login core")
    return lines
