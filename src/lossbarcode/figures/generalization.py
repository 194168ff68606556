"""Barcodes and generalization (paper 002 §5, Fig 6): for each dataset, the minima barcodes of the
experiments (type 1: small constant learning rate; type 2: annealed) side by side on one loss axis, and
under them, at the same x, each minimum's test accuracy. The paper's finding: type 1's saddles sit higher
and its test accuracy is lower."""

from __future__ import annotations

import math
from statistics import fmean
from typing import TYPE_CHECKING

from .barcodes import bars, draw_bars
from .records import checked, datasets, experiment_label, experiments, limits
from .style import LOSS, convergence_handles, grid, group_colours, headline, legend_below, model_axis, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "experiment", "run", "minimum", "x", "birth", "death", "state", "test_accuracy")
SLOT = 0.8  # share of an experiment's unit slot that its bars spread over


def rows(runs: list[dict]) -> list[dict]:
    """One row per bar: x spreads an experiment's bars, lowest minimum first, across its slot (slot i is
    the panel's i-th experiment). test_accuracy is the fraction (0..1) the record holds, NaN if none."""
    out = []
    for dataset in datasets(runs):
        mine = [r for r in runs if r["dataset"] == dataset]
        for slot, experiment in enumerate(experiments(mine)):
            out += [dict(dataset=dataset, experiment=experiment, **{k: bar[k] for k in COLUMNS[2:]})
                    for bar in bars([r for r in mine if experiment_label(r) == experiment], slot, SLOT)]
    return out


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    from matplotlib.lines import Line2D

    runs = checked(runs)
    table = rows(runs)
    names = experiments(runs)
    colours = group_colours(names)
    # Per dataset a column: the barcodes on top, the test accuracies in a strip under them, sharing x.
    fig, (tops, strips) = grid(2, len(datasets(runs)), models=2 * len(names), height=6.4, height_ratios=[2.6, 1])
    for ax, strip, (dataset, dataset_title) in zip(tops, strips, datasets(runs).items(), strict=True):
        mine = [row for row in table if row["dataset"] == dataset]
        draw_bars(ax, mine, [colours[row["experiment"]] for row in mine])
        ax.set(title=dataset_title, ylabel=LOSS)

        held_out = next(r.get("held_out") or "test" for r in runs if r["dataset"] == dataset)
        scored = [r for r in mine if math.isfinite(r["test_accuracy"])]
        for experiment in experiments([r for r in runs if r["dataset"] == dataset]):
            points = [r for r in scored if r["experiment"] == experiment]
            if not points:
                continue
            xs = [r["x"] for r in points]
            strip.scatter(xs, [100 * r["test_accuracy"] for r in points], marker="D", s=16, zorder=3,
                          color=colours[experiment])
            # The experiment's mean accuracy, across its slot: the two types' levels compare at a glance.
            strip.hlines(100 * fmean(r["test_accuracy"] for r in points), min(xs) - 0.05, max(xs) + 0.05,
                         color=colours[experiment], lw=1.2, alpha=0.7)
        if scored:
            strip.set_ylim(*limits([100 * r["test_accuracy"] for r in scored], pad=0.25))
        else:
            strip.text(0.5, 0.5, f"no {held_out} accuracy recorded", transform=strip.transAxes, ha="center",
                       va="center", color="0.3")
        model_axis(strip, experiments([r for r in runs if r["dataset"] == dataset]))
        strip.set(xlabel="experiment (its minima by train loss, lowest first)", ylabel=f"{held_out} accuracy (%)")
        ax.set_xlabel("")
        ax.tick_params(axis="x", labelbottom=False)

    grey = "0.35"
    legend_below(fig, [
        *(Line2D([], [], color=colours[e], lw=2.5, label=e) for e in names),
        Line2D([], [], color=grey, marker="o", ms=3, lw=1.8, label="minimum's loss → its death (saddle)"),
        Line2D([], [], color=grey, marker="^", ms=6, lw=1.8, label="never dies (death = ∞)"),
        Line2D([], [], color=grey, marker="D", ms=4, lw=1.2, label="minimum's accuracy; line: mean"),
        *convergence_handles([row["state"] for row in table], grey, marker="o", ms=3),
    ], ncols=max(len(names), 3))
    headline(fig, title, scale, datasets(runs).values())
    return fig
