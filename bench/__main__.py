"""Run every benchmark in one process, on infrastructure started for the run and stopped after."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
from pathlib import Path

from bench.broker import bench_idle_cpu
from bench.login import (
    bench_logins,
    bench_propagation,
    bench_settings,
    create_user,
    wait_user_everywhere,
)
from bench.projector import bench_projector
from bench.refresh import bench_refresh
from bench.replay import bench_replay
from bench.revocation import bench_introspection, bench_revocation_propagation
from bench.verifier import bench_verifier
from services.devstack.broker import start_broker
from services.devstack.infra import start_region_infra
from services.devstack.stack import Stack


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        epilog="also: `python -m bench peers --help` (authplane beside Keycloak, driven by wrk) "
        "and `python -m bench --plot [RESULTS.json]` (draws docs/benchmarks-peers.png)",
    )
    parser.add_argument("--events", type=int, default=50_000, help="projector events")
    parser.add_argument("--seconds", type=float, default=10.0, help="login benchmark length")
    parser.add_argument("--propagation", type=int, default=300, help="logins timed eu -> us")
    parser.add_argument("--revocations", type=int, default=1000, help="revocations timed eu -> us")
    parser.add_argument(
        "--replay", type=int, nargs=2, default=(50_000, 200_000), help="replay sizes (growth)"
    )
    parser.add_argument(
        "--broker",
        choices=("tansu", "kafka", "both"),
        default="both",
        help="the broker(s) the two-region stack benchmarks run on (one stack each)",
    )
    parser.add_argument("--idle", type=float, default=10.0, help="idle CPU measurement (s)")
    return parser.parse_args()


async def run_stack_benches(stack: Stack, args: argparse.Namespace) -> None:
    username = "bench-user"
    await asyncio.to_thread(create_user, stack, username)
    await wait_user_everywhere(stack, username)
    await bench_logins(stack, username, args.seconds)
    await bench_propagation(stack, username, args.propagation)
    await bench_revocation_propagation(stack, username, args.revocations)
    await bench_introspection(stack, username, args.seconds)
    await bench_refresh(stack, username, args.seconds)
    await asyncio.to_thread(bench_idle_cpu, stack, args.idle)


def main() -> None:
    # `python -m bench peers ...` and `--plot` are their own commands (bench/peers/).
    if sys.argv[1:2] == ["peers"]:
        from bench.peers.run import main as peers

        peers(sys.argv[2:])
        return
    if sys.argv[1:2] == ["--plot"]:
        from bench.peers.plot import plot
        from bench.peers.run import RESULTS

        print(f"wrote {plot(Path(sys.argv[2]) if len(sys.argv) > 2 else RESULTS)}")
        return
    args = parse_args()
    cores = os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="authplane-bench-") as tmp:
        infra = start_region_infra("bench", Path(tmp), durable=True, die_with_parent=True)
        try:
            asyncio.run(bench_projector(infra, args.events))
            for alg in ("RS256", "ES256", "EdDSA"):
                asyncio.run(bench_verifier(infra.fresh_redis_url(), alg=alg))
            broker = start_broker(Path(tmp) / "replay-broker", die_with_parent=True)
            try:
                asyncio.run(bench_replay(infra, broker.address, args.replay))
            finally:
                broker.stop()
        finally:
            infra.stop()
        kinds = ("tansu", "kafka") if args.broker == "both" else (args.broker,)
        for kind in kinds:
            print(f"\n##### two-region stack on {kind}")
            stack = Stack.start(
                ["eu", "us"],
                Path(tmp) / f"stack-{kind}",
                inherited_env=dict(os.environ),
                broker=kind,
                # 8 concurrent logins of one user: each in-flight password check holds a lockout
                # reservation, which would answer 429 past the default limit of 5.
                base=bench_settings(),
            )
            try:
                asyncio.run(run_stack_benches(stack, args))
            finally:
                stack.stop()


if __name__ == "__main__":
    main()
