"""Spread of the saddle and minima losses per model (paper 002, Fig 18): mean ± standard deviation of the
maxima along the optimized curves and of the losses at the minima, pooled over a model's runs; faded
where some of the pooled curve maxima had not converged."""

from __future__ import annotations

import math
from statistics import fmean, pstdev
from typing import TYPE_CHECKING

from .records import CONVERGED, UNCONVERGED, checked, datasets, edge_convergence, estimate_state, limits, models
from .style import LOSS, convergence_handles, headline, legend_below, model_axis, opacity, panels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "model", "quantity", "x", "mean", "std", "n", "unconverged")


def _curve_maxima(run: dict) -> list[tuple[float, str]]:
    convergence = edge_convergence(run)
    return [(v, estimate_state(convergence[edge])) for edge, v in run["barcode"]["edges"].items()]


# quantity -> ((value, state) pairs it pools from one run, x offset within the model's slot, marker)
QUANTITIES = {
    "curve maxima": (_curve_maxima, 0.08, "o"),
    "minima": (lambda r: [(v, CONVERGED) for v in r["barcode"]["minima"]["train_loss"]], -0.08, "s"),
}


def rows(runs: list[dict]) -> list[dict]:
    """One row per error bar. The std is the population one (ddof=0) of the pooled values; a curve that
    never connected its minima (infinite maximum) is left out and not counted in n; unconverged: how
    many of the n had not converged."""
    out = []
    for dataset in datasets(runs):
        mine = [r for r in runs if r["dataset"] == dataset]
        for slot, model in enumerate(models(mine)):
            for quantity, (values_of, offset, _) in QUANTITIES.items():
                pooled = [(v, state) for r in mine if r["model"] == model for v, state in values_of(r)
                          if math.isfinite(v)]
                if pooled:
                    values = [v for v, _ in pooled]
                    out.append(dict(dataset=dataset, model=model, quantity=quantity, x=slot + offset,
                                    mean=fmean(values), std=pstdev(values), n=len(values),
                                    unconverged=sum(state == UNCONVERGED for _, state in pooled)))
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
            # the line joins the models' means; each mean and its spread faded on its own
            ax.plot([r["x"] for r in bars], [r["mean"] for r in bars], color=colours[quantity], lw=1.2,
                    alpha=opacity(UNCONVERGED if any(r["unconverged"] for r in bars) else CONVERGED))
            for bar in bars:
                ax.errorbar(bar["x"], bar["mean"], yerr=bar["std"], color=colours[quantity], marker=marker, ms=5,
                            lw=1.2, capsize=4, alpha=opacity(UNCONVERGED if bar["unconverged"] else CONVERGED))
        ax.set_ylim(*limits([r["mean"] + s * r["std"] for r in mine for s in (-1, 1)], pad=0.1))
        model_axis(ax, models([r for r in runs if r["dataset"] == dataset]).values())
        ax.set(title=dataset_title, ylabel=LOSS)
    legend_below(fig, [*(Line2D([], [], color=colours[q], marker=m, label=f"{q}, mean ± std")
                         for q, (_, _, m) in QUANTITIES.items()),
                       *convergence_handles([UNCONVERGED] * any(r["unconverged"] for r in table), marker="o",
                                            ms=5, lw=1.2)])
    headline(fig, title, scale, datasets(runs).values())
    return fig
