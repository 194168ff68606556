"""Minima barcodes per model (paper 002, Figs 2 and 4): one vertical bar per minimum, from its loss to the
loss at which it merges into a lower minimum (H0 of the graph of curves)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .records import checked, datasets, limits, models
from .style import LOSS, headline, legend_below, model_axis, model_colours, panels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "model", "run", "minimum", "x", "birth", "death")
SLOT = 0.7  # share of a model's unit slot that its bars spread over


def rows(runs: list[dict]) -> list[dict]:
    """One row per bar; x spreads a model's bars, lowest minimum first, across its slot."""
    out = []
    for dataset in datasets(runs):
        mine = [r for r in runs if r["dataset"] == dataset]
        for slot, model in enumerate(models(mine)):
            bars = sorted(
                (
                    (birth, death, r["run"], name)
                    for r in mine
                    if r["model"] == model
                    for name, birth, death in zip(
                        r["barcode"]["minima"]["names"],
                        r["barcode"]["minima"]["train_loss"],
                        r["barcode"]["h0_graph_deaths"],
                        strict=True,
                    )
                ),
                key=lambda bar: bar[:2],
            )
            for k, (birth, death, run, name) in enumerate(bars):
                x = slot + SLOT * ((k + 0.5) / len(bars) - 0.5)
                out.append(dict(dataset=dataset, model=model, run=run, minimum=name, x=x, birth=birth, death=death))
    return out


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    from matplotlib.lines import Line2D

    runs = checked(runs)
    table = rows(runs)
    colours = model_colours(models(runs))
    fig, axes = panels(len(datasets(runs)), models=len(models(runs)))
    for ax, (dataset, dataset_title) in zip(axes, datasets(runs).items(), strict=True):
        bars = [row for row in table if row["dataset"] == dataset]
        for row in bars:
            colour = colours[row["model"]]
            if math.isinf(row["death"]):
                # The global minimum (or one no curve links to a lower one) never dies: an arrow to the top of the
                # axis, whatever its range.
                ax.annotate(
                    "", xy=(row["x"], 1), xycoords=("data", "axes fraction"), xytext=(row["x"], row["birth"]),
                    textcoords="data", arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.8, shrinkA=0, shrinkB=0),
                )
            else:
                ax.vlines(row["x"], row["birth"], row["death"], color=colour, lw=1.8)
        # A dot at every birth, so zero-length bars stay visible.
        ax.scatter([r["x"] for r in bars], [r["birth"] for r in bars], s=10, zorder=3,
                   color=[colours[r["model"]] for r in bars])
        ax.set_ylim(*limits([r["birth"] for r in bars] + [r["death"] for r in bars], pad=0.1))
        model_axis(ax, models([r for r in runs if r["dataset"] == dataset]).values())
        ax.set(title=dataset_title, ylabel=LOSS)

    grey = "0.35"
    legend_below(fig, [
        Line2D([], [], color=grey, marker="o", ms=3, lw=1.8, label="minimum's loss → its death (saddle)"),
        Line2D([], [], color=grey, marker="^", ms=6, lw=1.8, label="global minimum, or never connected (death = ∞)"),
    ])
    headline(fig, title, scale, datasets(runs).values())
    return fig
