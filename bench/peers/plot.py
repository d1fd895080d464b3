"""`python -m bench --plot`: the side-by-side figures of the last `python -m bench peers` run as
a PNG (matplotlib, from the ``bench`` extra: ``pip install -e '.[bench]'``)."""

from __future__ import annotations

from pathlib import Path

from bench.peers.compare import Row, aim_text, load

PNG = Path("docs/benchmarks-peers.png")


def plot(results: Path, out: Path = PNG) -> Path:
    """Draw one panel per figure (authplane and Keycloak bars, the ratio in the title) and
    write ``out``. FileNotFoundError if ``results`` is missing; ImportError (with the install
    hint) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("the plot needs matplotlib: pip install -e '.[bench]'") from exc
    rows, context = load(results)
    columns = 3
    lines = (len(rows) + columns - 1) // columns
    fig, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.0 * lines), squeeze=False)
    for ax, row in zip(axes.flat, rows, strict=False):
        _panel(ax, row)
    for ax in list(axes.flat)[len(rows) :]:
        ax.axis("off")
    fig.suptitle(
        f"authplane vs Keycloak {context.get('keycloak', '')} ({context.get('when', '')}; "
        f"{context.get('machine', '')})\n{context.get('note', '')}",
        fontsize=9,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _panel(ax: object, row: Row) -> None:
    values = [0.0 if v != v else v for v in (row.authplane, row.keycloak)]
    bars = ax.bar(["authplane", "Keycloak"], values, color=["#2b6cb0", "#a0aec0"])  # type: ignore[attr-defined]
    ax.bar_label(bars, labels=[_label(v) for v in (row.authplane, row.keycloak)], fontsize=8)  # type: ignore[attr-defined]
    ratio = "n/a" if row.ratio is None else f"{row.ratio:.2f}x"
    better = "higher is better" if row.higher_is_better else "lower is better"
    ax.set_title(f"{row.name}\nratio {ratio} (aim {aim_text(row)}; {better})", fontsize=8)  # type: ignore[attr-defined]
    ax.set_ylabel(row.unit, fontsize=8)  # type: ignore[attr-defined]
    ax.tick_params(labelsize=8)  # type: ignore[attr-defined]
    ax.ticklabel_format(axis="y", style="plain")  # type: ignore[attr-defined]


def _label(value: float) -> str:
    if value != value:  # NaN: the figure was not produced
        return "not measured"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
