"""A 1-D function and its minima barcode (paper 002, Fig 1): left the function with each minimum's bar
drawn at the minimum, from its loss up to the saddle where it merges into a lower minimum; right the
bars side by side, exact (sublevel-set persistence on the grid) against ours (descent, point chains, H0)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .records import limits
from .style import headline, legend_below, panels, styled
from .toy_records import LOSS, X, data_title, single

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("source", "minimum", "x", "birth", "death", "length")
SOURCES = {"exact": "exact (sublevel sets on the grid)", "pipeline": "ours (descent, point chains, H0)"}


def rows(runs: list[dict]) -> list[dict]:
    """One row per bar, minima numbered from the lowest; x is where the minimum lies."""
    record = single(runs, "x", "loss", "exact", "pipeline", "minima", "minima_loss")
    xs, values = np.array(record["x"]), np.array(record["loss"])
    found = sorted(zip(record["minima_loss"], record["minima"], strict=True))
    out = []
    for source in SOURCES:
        for k, (birth, death) in enumerate(record[source]):
            # An exact bar is born at a grid value; ours at a minimum found by descent.
            x = float(xs[np.argmin(np.abs(values - birth))]) if source == "exact" else found[k][1]
            out.append(dict(source=source, minimum=k, x=x, birth=birth, death=death, length=death - birth))
    return out


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    import seaborn as sns
    from matplotlib.lines import Line2D

    record = single(runs, "x", "loss")
    table = rows(runs)
    colours = dict(zip(SOURCES, sns.color_palette("colorblind")[:2], strict=True))
    fig, (left, right) = panels(2)
    left.plot(record["x"], record["loss"], color="0.25", lw=1.2)
    top = max(record["loss"])
    for row in table:
        # Bars at the minimum, ours a little right of the exact one, so that both stay visible.
        x = row["x"] + (0.08 if row["source"] == "pipeline" else -0.08)
        death = row["death"] if math.isfinite(row["death"]) else top
        for ax, at in ((left, x), (right, row["minimum"] + (0.12 if row["source"] == "pipeline" else -0.12))):
            ax.vlines(at, row["birth"], death, color=colours[row["source"]], lw=2.2, alpha=0.9)
            ax.scatter([at], [row["birth"]], color=colours[row["source"]], s=12, zorder=3)
            if not math.isfinite(row["death"]):
                ax.scatter([at], [death], marker="^", color=colours[row["source"]], s=28, zorder=3)
    ylim = limits(record["loss"] + [r["birth"] for r in table], pad=0.05)
    left.set(ylim=ylim, xlabel=X, ylabel=LOSS, title="function and bars at its minima")
    n = 1 + max(r["minimum"] for r in table)
    right.set_xticks(range(n), [f"{k}" for k in range(n)])
    right.set(xlim=(-0.6, n - 0.4), ylim=ylim, xlabel="minimum (0 = global, then by loss)", ylabel=LOSS,
              title=f"largest |ours - exact| {record.get('max_difference', math.nan):.1e}\n"
                    f"(grid resolution {record.get('resolution', math.nan):.1e} in loss)")
    right.grid(axis="x", visible=False)
    legend_below(fig, [Line2D([], [], color=c, lw=2.2, label=f"{SOURCES[s]}") for s, c in colours.items()]
                 + [Line2D([], [], color="0.35", marker="^", lw=0, label="global minimum (death = ∞)")], ncols=3)
    headline(fig, title, scale, [data_title(record)])
    return fig
