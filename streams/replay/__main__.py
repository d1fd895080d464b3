"""``python -m streams.replay <command>``: the engine behind ``authplane replay|checksum|verify|
reseed``. Exit codes: 0 done, 1 could not run (one line on stderr), 2 ran but found trouble
(dead-lettered events, drift, or skipped archive rows: the summary says which)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from schemas.epoch import epoch_ms
from schemas.settings import Settings
from streams.replay import checksum, reseed, verify
from streams.replay.endpoints import Endpoints, ReplayError, load
from streams.replay.replay import ReplayOptions, render, replay
from streams.replay.targets import Target

PROG = "python -m streams.replay"
EXIT_ERROR = 1
EXIT_TROUBLE = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help=__doc__
)

Region = Annotated[str, typer.Option(help="Region name as in the stack file.")]
BatchSize = Annotated[int, typer.Option(min=1, help="Events per batch.")]


@app.callback()
def _stack_file(
    ctx: typer.Context,
    stack_file: Annotated[Path | None, typer.Option(help="[default: AUTHPLANE_STACK_FILE]")] = None,
) -> None:
    ctx.obj = stack_file


def parse_since(raw: str | None, now: datetime | None = None) -> int | None:
    """``--since`` as epoch milliseconds (ISO 8601; UTC when it names no zone), or None.

    Raises ReplayError when it is not ISO 8601 or lies after ``now`` (default: the clock)."""
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
    return epoch_ms(moment)


@app.command("replay", help="Rebuild a region's projections from the log.")
def replay_command(
    ctx: typer.Context,
    region: Region,
    target: Annotated[Target, typer.Option(help="What to rebuild.")] = "all",
    since: Annotated[
        str | None,
        typer.Option(help="Only events produced at or after (ISO 8601, UTC if no zone)."),
    ] = None,
    batch_size: BatchSize = 5000,
    pause_live: Annotated[
        bool, typer.Option("--pause-live", help="Pause the live projector meanwhile.")
    ] = False,
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore an interrupted run's checkpoint.")
    ] = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="Progress lines even on a terminal.")
    ] = False,
) -> None:
    async def work(endpoints: Endpoints) -> int:
        options = ReplayOptions(
            region=region,
            target=target,
            since_ms=parse_since(since),
            batch_size=batch_size,
            pause_live=pause_live,
            restart=restart,
            plain_progress=plain,
            max_event_skew_s=Settings.from_env().max_event_skew_s,
        )
        summary = await replay(endpoints, options)
        print(render(summary))
        if summary.deadlettered:
            print(f"exit {EXIT_TROUBLE}: {summary.deadlettered} event(s) were dead-lettered")
            return EXIT_TROUBLE
        return 0

    _execute(ctx, work, check=lambda: parse_since(since))


@app.command("checksum", help="Digest of a region's projected state.")
def checksum_command(
    ctx: typer.Context,
    region: Region,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    _execute(ctx, lambda endpoints: checksum.run(endpoints, region, json_output))


@app.command("verify", help="Rebuild into a scratch store and compare.")
def verify_command(ctx: typer.Context, region: Region, batch_size: BatchSize = 5000) -> None:
    _execute(ctx, lambda endpoints: verify.run(endpoints, region, batch_size))


@app.command("reseed", help="Republish the archive(s) into an empty log.")
def reseed_command(
    ctx: typer.Context,
    from_region: Annotated[str, typer.Option(help="Region(s), comma-separated.")],
    force: Annotated[bool, typer.Option("--force", help="Even if the topics hold events.")] = False,
) -> None:
    regions = [r.strip() for r in from_region.split(",") if r.strip()]
    _execute(ctx, lambda endpoints: reseed.run(endpoints, regions, force, Settings.from_env()))


def _execute(
    ctx: typer.Context,
    work: Callable[[Endpoints], Awaitable[int]],
    check: Callable[[], object] = lambda: None,
) -> NoReturn:
    """Run ``work`` on the stack file's endpoints and exit with its code: 1 with one line on
    stderr for a ReplayError (``check`` runs first, before anything is touched), 130 on Ctrl-C."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        check()
        endpoints = load(ctx.obj or Settings.from_env().stack_file)
        code = asyncio.run(_as_coroutine(work(endpoints)))
    except ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        code = EXIT_INTERRUPTED
    raise typer.Exit(code)


async def _as_coroutine(awaitable: Awaitable[int]) -> int:
    return await awaitable


def main() -> None:
    """Parse ``sys.argv`` and run the command; exits with the code in the module docstring."""
    app(prog_name=PROG)


if __name__ == "__main__":
    main()
