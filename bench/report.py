"""How benchmarks print: a heading, the method in a sentence, then aligned figures."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def heading(title: str, method: str) -> None:
    print(f"\n== {title}")
    print(f"   method: {method}")


def figure(name: str, value: float, unit: str) -> None:
    print(f"   {name:<44} {value:>12,.2f} {unit}")


def ratio(name: str, measured: float, floor: float, aim: str) -> None:
    print(f"   {name:<44} {measured / floor:>12.3f}   (aim {aim})")


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": statistics.median(ordered), "p99": cuts[98], "max": ordered[-1]}
