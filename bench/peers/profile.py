"""Where a process's time goes: py-spy samples it while a load runs; the collapsed stacks are
summed per function (inclusive: the function or anything it called was on the stack)."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

from bench.peers import pin


def start_sampling(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy record of ``pid`` for ``seconds`` into ``out`` (collapsed stacks), pinned off
    the login core; None (and a note) when py-spy is not installed."""
    spy = shutil.which("py-spy") or _venv_tool("py-spy")
    if spy is None:
        print("   (py-spy not installed: `pip install -e '.[bench]'`; no profile)")
        return None
    argv = [
        "taskset",
        "-c",
        pin.DATA_PLANE_CORES if pin.two_cores() else pin.all_cores(),
        spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "250",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(out),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _venv_tool(name: str) -> str | None:
    import sys

    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None


def summarise(
    collapsed: str, top: int = 12, by_self: bool = False
) -> list[tuple[str, float, float]]:
    """(function, inclusive share, self share) for the ``top`` functions by inclusive share
    (``by_self``: by self share),
    from py-spy's raw format (``frame;frame;...;leaf COUNT`` per line). Shares are 0..1 of
    all samples; a function appearing twice in one stack counts once for that stack."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not total:
        return []
    ranked = own if by_self else inclusive
    return [
        (name, inclusive[name] / total, own[name] / total) for name, _ in ranked.most_common(top)
    ]


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``func (module.py)``: lines differ per call site."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({file})" if file else name


def report(title: str, path: Path, top: int = 12) -> list[str]:
    """Lines describing the profile at ``path`` (empty profile: one line saying so)."""
    if not path.exists():
        return [f"   {title}: no profile"]
    rows = summarise(path.read_text(), top, by_self=True)
    lines = [f"   {title} (py-spy; top functions by own time; share of samples: inclusive / self)"]
    lines += [f"     {inc:6.1%} {own:6.1%}  {name}" for name, inc, own in rows]
    return lines
