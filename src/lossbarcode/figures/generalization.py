"""Barcodes and generalization (paper 002 §5, Fig 6): for each dataset, the minima barcodes of the
experiments (type 1: small constant learning rate; type 2: annealed) side by side on one loss axis, and
under them, at the same x, each minimum's test accuracy. The paper's finding: type 1's saddles sit higher
and its test accuracy is lower."""

from __future__ import annotations

import math
from statistics import fmean
from typing import TYPE_CHECKING

from .records import checked, datasets, limits
from .style import LOSS, grid, headline, legend_below, model_axis, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "experiment", "run", "minimum", "x", "birth", "death", "test_accuracy")
SLOT = 0.8  # share of an experiment's unit slot that its bars spread over


def label(run: dict) -> str:
    """How figures name a run's experiment: its label, else its id."""
    return run.get("experiment_label") or run["experiment"]


def experiments(runs: list[dict]) -> list[str]:
    """Experiment labels in the order the runs first name them."""
    return list(dict.fromkeys(label(r) for r in runs))


def rows(runs: list[dict]) -> list[dict]:
    """One row per bar: x spreads an experiment's bars, lowest minimum first, across its slot (slot i is
    the panel's i-th experiment). test_accuracy is the fraction (0..1) the record holds, NaN if none."""
    out = []
    for dataset in datasets(runs):
        mine = [r for r in runs if r["dataset"] == dataset]
        for slot, experiment in enumerate(experiments(mine)):
            bars = sorted(
                (
                    (birth, death, r["run"], name, math.nan if accuracy is None else accuracy)
                    for r in mine
                    if label(r) == experiment
                    for name, birth, death, accuracy in zip(
                        r["barcode"]["minima"]["names"],
                        r["barcode"]["minima"]["train_loss"],
                        r["barcode"]["h0_graph_deaths"],
                        r["barcode"]["minima"].get("test_accuracy") or [None] * len(r["barcode"]["minima"]["names"]),
                        strict=True,
                    )
                ),
                key=lambda bar: bar[:2],
            )
            for k, (birth, death, run, name, accuracy) in enumerate(bars):
                x = slot + SLOT * ((k + 0.5) / len(bars) - 0.5)
                out.append(dict(dataset=dataset, experiment=experiment, run=run, minimum=name, x=x, birth=birth,
                                death=death, test_accuracy=accuracy))
    return out


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    import seaborn as sns
    from matplotlib.lines import Line2D

    runs = checked(runs)
    table = rows(runs)
    names = experiments(runs)
    colours = dict(zip(names, sns.color_palette("colorblind", len(names)), strict=True))
    # Per dataset a column: the barcodes on top, the test accuracies in a strip under them, sharing x.
    fig, (tops, strips) = grid(2, len(datasets(runs)), models=2 * len(names), height=6.4, height_ratios=[2.6, 1])
    for ax, strip, (dataset, dataset_title) in zip(tops, strips, datasets(runs).items(), strict=True):
        bars = [row for row in table if row["dataset"] == dataset]
        for row in bars:
            colour = colours[row["experiment"]]
            if math.isinf(row["death"]):
                # A minimum that never dies: an arrow to the top of the axis, whatever its range.
                ax.annotate(
                    "", xy=(row["x"], 1), xycoords=("data", "axes fraction"), xytext=(row["x"], row["birth"]),
                    textcoords="data", arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.8, shrinkA=0, shrinkB=0),
                )
            else:
                ax.vlines(row["x"], row["birth"], row["death"], color=colour, lw=1.8)
        # A dot at every birth, so zero-length bars stay visible.
        ax.scatter([r["x"] for r in bars], [r["birth"] for r in bars], s=10, zorder=3,
                   color=[colours[r["experiment"]] for r in bars])
        ax.set_ylim(*limits([r["birth"] for r in bars] + [r["death"] for r in bars], pad=0.1))
        ax.set(title=dataset_title, ylabel=LOSS)

        held_out = next(r.get("held_out") or "test" for r in runs if r["dataset"] == dataset)
        scored = [r for r in bars if math.isfinite(r["test_accuracy"])]
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
    ], ncols=max(len(names), 3))
    headline(fig, title, scale, datasets(runs).values())
    return fig
