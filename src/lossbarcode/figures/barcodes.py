"""Minima barcodes per model (paper 002, Figs 2 and 4): one vertical bar per minimum, from its loss to the
loss at which it merges into a lower minimum (H0 of the graph of curves). A bar whose ending curve had
not converged is faded; one that converged within its tolerance of zero is marked as such."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .records import ZERO, checked, datasets, h0_states, limits, models
from .style import (
    LOSS, ZERO_MARK, convergence_handles, headline, legend_below, model_axis, model_colours, opacity, panels, styled,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "model", "run", "minimum", "x", "birth", "death", "state")
SLOT = 0.7  # share of a model's unit slot that its bars spread over


def bars(runs: list[dict], slot: int, share: float = SLOT) -> list[dict]:
    """The bars of these runs' minima, lowest birth first, spread across ``share`` of unit slot
    ``slot``: one dict per minimum with its run, name, x, birth, death, state (``records.h0_states``) and
    test accuracy (NaN if the record has none)."""
    out = []
    for r in runs:
        minima = r["barcode"]["minima"]
        accuracies = minima.get("test_accuracy") or [None] * len(minima["names"])
        out += [dict(run=r["run"], minimum=name, birth=birth, death=death, state=state,
                     test_accuracy=math.nan if accuracy is None else accuracy)
                for name, birth, death, state, accuracy in zip(minima["names"], minima["train_loss"],
                                                               r["barcode"]["h0_graph_deaths"], h0_states(r),
                                                               accuracies, strict=True)]
    out.sort(key=lambda bar: (bar["birth"], bar["death"]))
    for k, bar in enumerate(out):
        bar["x"] = slot + share * ((k + 0.5) / len(out) - 0.5)
    return out


def draw_bars(ax, rows: list[dict], colours: list) -> None:
    """Each row's bar from its birth to its death, an arrow to the top of the axis where it never dies
    (the global minimum, or one no curve links to a lower one), and a dot at every birth so that
    zero-length bars stay visible, a dash instead for a bar that converged within its tolerance of zero;
    faded where it has not converged. ``colours`` one per row."""
    for row, colour in zip(rows, colours, strict=True):
        alpha = opacity(row["state"])
        if math.isinf(row["death"]):
            ax.annotate(
                "", xy=(row["x"], 1), xycoords=("data", "axes fraction"), xytext=(row["x"], row["birth"]),
                textcoords="data",
                arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.8, shrinkA=0, shrinkB=0, alpha=alpha),
            )
        else:
            ax.vlines(row["x"], row["birth"], row["death"], color=colour, lw=1.8, alpha=alpha)
        if row["state"] == ZERO:
            ax.plot(row["x"], row["birth"], color=colour, zorder=3, **ZERO_MARK)
        else:
            ax.scatter(row["x"], row["birth"], s=10, zorder=3, color=colour, alpha=alpha)
    ax.set_ylim(*limits([r["birth"] for r in rows] + [r["death"] for r in rows], pad=0.1))


def rows(runs: list[dict]) -> list[dict]:
    """One row per bar; x spreads a model's bars, lowest minimum first, across its slot."""
    out = []
    for dataset in datasets(runs):
        mine = [r for r in runs if r["dataset"] == dataset]
        for slot, model in enumerate(models(mine)):
            out += [dict(dataset=dataset, model=model, **{k: bar[k] for k in COLUMNS[2:]})
                    for bar in bars([r for r in mine if r["model"] == model], slot)]
    return out


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    from matplotlib.lines import Line2D

    runs = checked(runs)
    table = rows(runs)
    colours = model_colours(models(runs))
    fig, axes = panels(len(datasets(runs)), models=len(models(runs)))
    for ax, (dataset, dataset_title) in zip(axes, datasets(runs).items(), strict=True):
        mine = [row for row in table if row["dataset"] == dataset]
        draw_bars(ax, mine, [colours[row["model"]] for row in mine])
        model_axis(ax, models([r for r in runs if r["dataset"] == dataset]).values())
        ax.set(title=dataset_title, ylabel=LOSS)

    grey = "0.35"
    legend_below(fig, [
        Line2D([], [], color=grey, marker="o", ms=3, lw=1.8, label="minimum's loss → its death (saddle)"),
        Line2D([], [], color=grey, marker="^", ms=6, lw=1.8, label="global minimum, or never connected (death = ∞)"),
        *convergence_handles([row["state"] for row in table], grey, marker="o", ms=3),
    ])
    headline(fig, title, scale, datasets(runs).values())
    return fig
