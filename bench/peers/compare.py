"""The side-by-side table: each figure for authplane and Keycloak, its method, and the ratio.

Pure (no I/O besides JSON files), so the arithmetic and the aims are unit-tested.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One compared figure.

    ``higher_is_better`` says which way the ratio authplane/Keycloak should point: for
    throughput a ratio above 1 means authplane is faster; for latency and bytes a ratio below
    1 means authplane is better. ``aim`` is the issue's target for the ratio (None: no aim),
    read the same way (a minimum when higher is better, a maximum otherwise). A figure that
    was not produced (its run failed more requests than a figure may carry) is NaN, and
    ``errors`` says why; otherwise ``errors`` gives each side's error rate and kinds.
    """

    name: str
    unit: str
    authplane: float
    keycloak: float
    method: str
    higher_is_better: bool = True
    aim: float | None = None
    errors: str = ""

    @property
    def ratio(self) -> float | None:
        """authplane / Keycloak, or None when Keycloak's figure is zero (nothing to divide by)
        or either figure was not produced."""
        if math.isnan(self.authplane) or math.isnan(self.keycloak) or not self.keycloak:
            return None
        return self.authplane / self.keycloak

    @property
    def meets_aim(self) -> bool | None:
        """Whether the ratio reaches the aim; None when there is no aim or no ratio."""
        ratio = self.ratio
        if self.aim is None or ratio is None:
            return None
        return ratio >= self.aim if self.higher_is_better else ratio <= self.aim


def aim_text(row: Row) -> str:
    """``>= 3x`` / ``<= 0.2x`` / ``-``."""
    if row.aim is None:
        return "-"
    return f"{'>=' if row.higher_is_better else '<='} {row.aim:g}x"


def verdict(row: Row) -> str:
    met = row.meets_aim
    return "-" if met is None else ("met" if met else "MISSED")


def render(rows: list[Row]) -> str:
    """A fixed-width table for the terminal, then each figure's method."""
    header = f"{'figure':<40} {'authplane':>12} {'Keycloak':>12} {'ratio':>8} {'aim':>8}  "
    lines = [header + "verdict", "-" * (len(header) + 7)]
    for row in rows:
        ratio = "n/a" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(
            f"{row.name + ' (' + row.unit + ')':<40} {_value(row.authplane):>12} "
            f"{_value(row.keycloak):>12} {ratio:>8} {aim_text(row):>8}  {verdict(row)}"
        )
    lines.append("")
    lines.extend(
        f"- {row.name}: {row.method}" + (f" [{row.errors}]" if row.errors else "") for row in rows
    )
    return "\n".join(lines)


def render_markdown(rows: list[Row], keycloak: str) -> str:
    """The same rows as a Markdown table for the README (figure, both values, ratio, aim,
    verdict, method with the run's error rates)."""
    lines = [
        f"| figure | authplane | Keycloak {keycloak} | ratio | aim | method |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "n/a" if row.ratio is None else f"{row.ratio:.2f}"
        aim = aim_text(row).replace(">=", "≥").replace("<=", "≤")
        aim = aim if row.aim is None else f"{aim} ({verdict(row).lower()})"
        method = row.method + (f" Errors: {row.errors}." if row.errors else "")
        lines.append(
            f"| {row.name} | {_value(row.authplane)} {row.unit} | {_value(row.keycloak)} | "
            f"{ratio} | {aim} | {method} |"
        )
    return "\n".join(lines)


def _value(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.1f}"


def save(rows: list[Row], context: dict[str, str], path: Path) -> None:
    """Write the rows and the run's context (versions, machine, noise caveat) as JSON."""
    payload = {"context": context, "rows": [asdict(row) for row in rows]}
    path.write_text(json.dumps(payload, indent=2) + "\n")


def load(path: Path) -> tuple[list[Row], dict[str, str]]:
    """Read what :func:`save` wrote; KeyError/TypeError on a file of another shape."""
    payload = json.loads(path.read_text())
    return [Row(**row) for row in payload["rows"]], dict(payload["context"])
