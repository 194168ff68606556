"""TO-score per model (paper 002, Fig 3): the bottleneck distance from the minima barcode to the ideal one
(a single bar that never dies), by the graph rule (solid) and the authors' direct rule (dashed)."""

from __future__ import annotations

import math
from statistics import fmean
from typing import TYPE_CHECKING

from .records import checked, datasets, limits, models
from .style import group_colours, headline, legend_below, model_axis, panels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "model", "run", "x", "to_score", "to_score_direct")
CONVENTION = "euclidean"
RULES = (("to_score", "graph rule", "-", "o"), ("to_score_direct", "direct rule", "--", "s"))


def rows(runs: list[dict]) -> list[dict]:
    """One row per run; x is the model's place among all models."""
    x = {m: i for i, m in enumerate(models(runs))}
    return [
        dict(
            dataset=r["dataset"], model=r["model"], run=r["run"], x=x[r["model"]],
            to_score=r["barcode"]["to_score"][CONVENTION], to_score_direct=r["barcode"]["to_score_direct"][CONVENTION],
        )
        for r in runs
    ]


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    runs = checked(runs)
    table = rows(runs)
    fig, (ax,) = panels(1, models=len(models(runs)), width=6.4, height=5.2)
    # 0 is the ideal score, so the axis starts there; an infinite score (minima never connected) sits
    # on the top edge as a triangle.
    top = limits([0.0] + [row[key] for row in table for key, *_ in RULES], pad=0.08)[1]
    colours = group_colours(datasets(runs))
    for dataset, dataset_title in datasets(runs).items():
        mine = [row for row in table if row["dataset"] == dataset]
        xs = sorted({row["x"] for row in mine})
        for key, rule, dashes, marker in RULES:
            # Several runs of one model: each is a marker, the line joins their means.
            means = [fmean(row[key] for row in mine if row["x"] == x) for x in xs]
            ax.plot(xs, [min(m, top) for m in means], dashes, color=colours[dataset], lw=1.6,
                    label=f"{dataset_title}, {rule}")
            ax.scatter([row["x"] for row in mine], [min(row[key], top) for row in mine], color=colours[dataset],
                       marker=marker, s=26, zorder=3, facecolor=colours[dataset] if key == "to_score" else "white")
            for x in {row["x"] for row in mine if math.isinf(row[key])}:
                ax.scatter(x, top, color=colours[dataset], marker="^", s=60, clip_on=False, zorder=4)
                ax.annotate("∞", (x, top), xytext=(6, -4), textcoords="offset points", va="top", color=colours[dataset])
    ax.set_ylim(-0.03 * top, top)
    model_axis(ax, models(runs).values())
    ax.set_ylabel("TO-score (bottleneck distance, Euclidean, nats)")
    legend_below(fig, ax.get_legend_handles_labels()[0])
    headline(fig, title, scale, datasets(runs).values())
    return fig
