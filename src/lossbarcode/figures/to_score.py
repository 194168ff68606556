"""TO-score per model (paper 002, Fig 3): the bottleneck distance from the minima barcode to the ideal one
(a single bar that never dies), by the graph rule (solid) and the authors' direct rule (dashed).

A score is as converged as the curves it rests on, and faded where one had not converged: by the graph
rule, the curves that end the finite H0 bars; by the direct rule, which takes each minimum's cheapest
curve to any lower one, every curve of the run.
"""

from __future__ import annotations

import math
from statistics import fmean
from typing import TYPE_CHECKING

from .records import (
    UNCONVERGED, checked, combined, datasets, edge_convergence, estimate_state, h0_states, limits, models,
)
from .style import convergence_handles, group_colours, headline, legend_below, model_axis, opacity, panels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "model", "run", "x", "to_score", "to_score_direct", "to_score_state", "to_score_direct_state")
CONVENTION = "euclidean"
RULES = (("to_score", "graph rule", "-", "o"), ("to_score_direct", "direct rule", "--", "s"))


def score_state(run: dict) -> str:
    """The state of the run's TO-score by the graph rule: that of its finite H0 bars together."""
    return combined(state for state, death in zip(h0_states(run), run["barcode"]["h0_graph_deaths"], strict=True)
                    if math.isfinite(death))


def rows(runs: list[dict]) -> list[dict]:
    """One row per run; x is the model's place among all models; each score's state as the module says."""
    x = {m: i for i, m in enumerate(models(runs))}
    return [
        dict(
            dataset=r["dataset"], model=r["model"], run=r["run"], x=x[r["model"]],
            to_score=r["barcode"]["to_score"][CONVENTION], to_score_direct=r["barcode"]["to_score_direct"][CONVENTION],
            to_score_state=score_state(r),
            to_score_direct_state=combined(estimate_state(c) for c in edge_convergence(r).values()),
        )
        for r in runs
    ]


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    from matplotlib.lines import Line2D

    runs = checked(runs)
    table = rows(runs)
    fig, (ax,) = panels(1, models=len(models(runs)), width=6.4, height=5.2)
    # 0 is the ideal score, so the axis starts there; an infinite score (minima never connected) sits
    # on the top edge as a triangle.
    top = limits([0.0] + [row[key] for row in table for key, *_ in RULES], pad=0.08)[1]
    colours = group_colours(datasets(runs))
    for dataset in datasets(runs):
        mine = [row for row in table if row["dataset"] == dataset]
        xs = sorted({row["x"] for row in mine})
        for key, _, dashes, marker in RULES:
            state = f"{key}_state"
            # Several runs of one model: each is a marker, the line joins their means (faded if one is).
            means = [fmean(row[key] for row in mine if row["x"] == x) for x in xs]
            ax.plot(xs, [min(m, top) for m in means], dashes, color=colours[dataset], lw=1.6,
                    alpha=opacity(combined(row[state] for row in mine)))
            for row in mine:
                ax.scatter(row["x"], min(row[key], top), color=colours[dataset], marker=marker, s=26, zorder=3,
                           facecolor=colours[dataset] if key == "to_score" else "white", alpha=opacity(row[state]))
            for x in {row["x"] for row in mine if math.isinf(row[key])}:
                ax.scatter(x, top, color=colours[dataset], marker="^", s=60, clip_on=False, zorder=4)
                ax.annotate("∞", (x, top), xytext=(6, -4), textcoords="offset points", va="top", color=colours[dataset])
    ax.set_ylim(-0.03 * top, top)
    model_axis(ax, models(runs).values())
    ax.set_ylabel("TO-score (bottleneck distance, Euclidean, nats)")
    # the datasets' lines at full strength in the legend, however their runs converged
    handles = [Line2D([], [], ls=dashes, color=colours[dataset], lw=1.6, label=f"{dataset_title}, {rule}")
               for dataset, dataset_title in datasets(runs).items() for _, rule, dashes, _ in RULES]
    states = [row[f"{key}_state"] for row in table for key, *_ in RULES]
    legend_below(fig, handles + convergence_handles([s for s in states if s == UNCONVERGED], marker="o", ms=5))
    headline(fig, title, scale, datasets(runs).values())
    return fig
