"""``python -m streams.replay <command>``: the engine behind ``authplane replay|checksum|verify|
reseed``. Exit codes: 0 done, 1 could not run (one line on stderr), 2 ran but found trouble
(dead-lettered events, drift, or skipped archive rows: the summary says which)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from schemas.settings import Settings
from streams.replay import checksum, reseed, verify
from streams.replay.endpoints import Endpoints, ReplayError, load
from streams.replay.replay import ReplayOptions, render, replay
from streams.replay.targets import TARGETS

EXIT_ERROR = 1
EXIT_TROUBLE = 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m streams.replay", description=__doc__)
    top.add_argument("--stack-file", type=Path, help="[default: AUTHPLANE_STACK_FILE]")
    commands = top.add_subparsers(dest="command", required=True)
    rp = commands.add_parser("replay", help="rebuild a region's projections from the log")
    rp.add_argument("--region", required=True)
    rp.add_argument("--target", choices=TARGETS, default="all")
    rp.add_argument("--since", help="only events produced at or after (ISO 8601, UTC if no zone)")
    rp.add_argument("--batch-size", type=int, default=5000)
    rp.add_argument("--pause-live", action="store_true", help="pause the live projector meanwhile")
    rp.add_argument("--restart", action="store_true", help="ignore an interrupted run's checkpoint")
    rp.add_argument("--plain", action="store_true", help="progress lines even on a terminal")
    cs = commands.add_parser("checksum", help="digest of a region's projected state")
    cs.add_argument("--region", required=True)
    cs.add_argument("--json", action="store_true")
    vf = commands.add_parser("verify", help="rebuild into a scratch store and compare")
    vf.add_argument("--region", required=True)
    vf.add_argument("--batch-size", type=int, default=5000)
    rs = commands.add_parser("reseed", help="republish the archive(s) into an empty log")
    rs.add_argument("--from-region", required=True, help="region(s), comma-separated")
    rs.add_argument("--force", action="store_true", help="even if the topics hold events")
    return top


def parse_since(raw: str | None, now: datetime | None = None) -> int | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ReplayError(f"--since {raw!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    if moment > current:
        raise ReplayError(f"--since {raw} is in the future (now {current:%Y-%m-%dT%H:%M:%SZ})")
    return int(moment.timestamp() * 1000)


async def run(args: argparse.Namespace, endpoints: Endpoints) -> int:
    if args.command == "replay":
        options = ReplayOptions(
            region=args.region,
            target=args.target,
            since_ms=parse_since(args.since),
            batch_size=args.batch_size,
            pause_live=args.pause_live,
            restart=args.restart,
            plain_progress=args.plain,
            max_event_skew_s=Settings.from_env().max_event_skew_s,
        )
        summary = await replay(endpoints, options)
        print(render(summary))
        if summary.deadlettered:
            print(f"exit {EXIT_TROUBLE}: {summary.deadlettered} event(s) were dead-lettered")
            return EXIT_TROUBLE
        return 0
    if args.command == "checksum":
        return await checksum.run(endpoints, args.region, args.json)
    if args.command == "verify":
        return await verify.run(endpoints, args.region, args.batch_size)
    regions = [r.strip() for r in args.from_region.split(",") if r.strip()]
    return await reseed.run(endpoints, regions, args.force, Settings.from_env())


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "replay":
            parse_since(args.since)  # before touching anything
        endpoints = load(args.stack_file or Settings.from_env().stack_file)
        return asyncio.run(run(args, endpoints))
    except ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
