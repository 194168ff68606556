"""Spread of the saddle and minima losses per model (paper 002, Fig 18): mean ± standard deviation of the
maxima along the optimized curves and of the losses at the minima, pooled over a model's runs."""

from __future__ import annotations

import math
from statistics import fmean, pstdev
from typing import TYPE_CHECKING

from .records import checked, datasets, limits, models
from .style import LOSS, headline, legend_below, model_axis, panels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "model", "quantity", "x", "mean", "std", "n")
# quantity -> (what it pools from one barcode, x offset within the model's slot, marker)
QUANTITIES = {
    "curve maxima": (lambda b: b["edges"].values(), 0.08, "o"),
    "minima": (lambda b: b["minima"]["train_loss"], -0.08, "s"),
}


def rows(runs: list[dict]) -> list[dict]:
    """One row per error bar. The std is the population one (ddof=0) of the pooled values; a curve that
    never connected its minima (infinite maximum) is left out and not counted in n."""
    out = []
    for dataset in datasets(runs):
        mine = [r for r in runs if r["dataset"] == dataset]
        for slot, model in enumerate(models(mine)):
            for quantity, (values_of, offset, _) in QUANTITIES.items():
                values = [v for r in mine if r["model"] == model for v in values_of(r["barcode"]) if math.isfinite(v)]
                if values:
                    out.append(dict(dataset=dataset, model=model, quantity=quantity, x=slot + offset,
                                    mean=fmean(values), std=pstdev(values), n=len(values)))
    return out


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    import seaborn as sns
    from matplotlib.lines import Line2D

    runs = checked(runs)
    table = rows(runs)
    colours = dict(zip(QUANTITIES, sns.color_palette("colorblind")[3:5], strict=True))
    fig, axes = panels(len(datasets(runs)), models=len(models(runs)))
    for ax, (dataset, dataset_title) in zip(axes, datasets(runs).items(), strict=True):
        mine = [row for row in table if row["dataset"] == dataset]
        for quantity, (_, _, marker) in QUANTITIES.items():
            bars = [row for row in mine if row["quantity"] == quantity]
            ax.errorbar([r["x"] for r in bars], [r["mean"] for r in bars], yerr=[r["std"] for r in bars],
                        color=colours[quantity], marker=marker, ms=5, lw=1.2, capsize=4)
        ax.set_ylim(*limits([r["mean"] + s * r["std"] for r in mine for s in (-1, 1)], pad=0.1))
        model_axis(ax, models([r for r in runs if r["dataset"] == dataset]).values())
        ax.set(title=dataset_title, ylabel=LOSS)
    legend_below(fig, [Line2D([], [], color=colours[q], marker=m, label=f"{q}, mean ± std")
                       for q, (_, _, m) in QUANTITIES.items()])
    headline(fig, title, scale, datasets(runs).values())
    return fig
