"""The point chain with insertion on a bent valley (paper 002, Appendix C, Fig 13): the chain before
optimisation, just after the first and second insertions (new points sit on the chords between the
optimised ones, off the valley) and after training, over the function's contours."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .style import headline, legend_below, panels, styled
from .toy_records import data_title, single

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("snapshot", "step", "point", "t", "x", "y", "loss", "inserted")


def rows(runs: list[dict]) -> list[dict]:
    """One row per chain point per snapshot; ``inserted``: the point is new since the previous snapshot."""
    record = single(runs, "snapshots")
    out, before = [], set()
    for snap in record["snapshots"]:
        for k, ((x, y), t, loss) in enumerate(zip(snap["points"], snap["t"], snap["loss"], strict=True)):
            out.append(dict(snapshot=snap["label"], step=snap["step"], point=k, t=t, x=x, y=y, loss=loss,
                            inserted=bool(before) and t not in before))
        before = set(snap["t"])
    return out


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    import seaborn as sns
    from matplotlib.lines import Line2D

    record = single(runs, "snapshots", "grid")
    table = rows(runs)
    grid = record["grid"]
    values = np.array(grid["loss"]).T  # contour wants [y, x]
    # Levels crowd towards the valley floor, where the chain lives; the steep walls get a few.
    low, high = values.min(), np.quantile(values, 0.5)
    levels = low + (high - low) * np.linspace(0, 1, 16) ** 2
    chain, new = sns.color_palette("colorblind")[3], sns.color_palette("colorblind")[1]
    cmap = sns.color_palette("mako", as_cmap=True)
    fig, axes = panels(len(record["snapshots"]), width=3.6, height=3.9)
    for ax, snap in zip(axes, record["snapshots"], strict=True):
        ax.contourf(grid["x"], grid["y"], values, levels=levels, cmap=cmap, extend="max")
        ax.contour(grid["x"], grid["y"], values, levels=levels, colors="0.85", linewidths=0.3)
        mine = [r for r in table if r["step"] == snap["step"] and r["snapshot"] == snap["label"]]
        ax.plot([r["x"] for r in mine], [r["y"] for r in mine], color=chain, lw=1.2, marker="o", ms=3.5)
        fresh = [r for r in mine if r["inserted"]]
        ax.scatter([r["x"] for r in fresh], [r["y"] for r in fresh], s=45, facecolor="none", edgecolor=new, lw=1.5,
                   zorder=4)
        ax.set(aspect="equal", xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), xlabel="x (arbitrary units)",
               ylabel="y (arbitrary units)",
               title=f"{snap['label']}, step {snap['step']}\nhighest loss on chain {snap['max_loss']:.3g}")
        ax.grid(False)
    legend_below(fig, [
        Line2D([], [], color=chain, marker="o", ms=3.5, label="point chain (endpoints: the two minima)"),
        Line2D([], [], color=new, marker="o", mfc="none", lw=0, ms=7, label="points new since the previous panel"),
        Line2D([], [], color="0.7", lw=0.6, label="loss contours, denser near the valley floor (dark = low)"),
    ], ncols=3)
    headline(fig, title, scale, [data_title(record)])
    return fig
