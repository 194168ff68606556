"""With and without BatchNorm (paper 002, Fig 5): the losses at the minima and at the saddles (finite
H0 deaths) of each architecture next to those of its BN counterpart. A saddle whose curve had not
converged is faded, and so is a mean made of one."""

from __future__ import annotations

import math
from statistics import fmean
from typing import TYPE_CHECKING

from .records import CONVERGED, checked, combined, datasets, h0_states, limits
from .style import (
    LOSS, convergence_handles, headline, legend_below, model_axis, opacity, panels, point_style, styled,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "architecture", "variant", "quantity", "x", "value", "state")
VARIANTS = {"without BN": -0.18, "with BN": 0.18}  # x offset within the architecture's slot
QUANTITIES = {"minima": "o", "saddles": "^"}


def _architecture(run: dict) -> str:
    return run["model"].replace("-bn-", "-")


def architectures(runs: list[dict]) -> dict[str, str]:
    """architecture -> label, ordered like the records (BN suffix and parameter count dropped)."""
    first: dict[str, dict] = {}
    for r in sorted(runs, key=lambda r: (r["order"], r["model"])):
        first.setdefault(_architecture(r), r)
    return {a: r["model_label"].split(" BN")[0].split(" (")[0] for a, r in first.items()}


def rows(runs: list[dict]) -> list[dict]:
    """One row per minimum and per finite saddle of every run; a minimum's loss rests on no curve
    (converged), a saddle is as converged as its H0 bar."""
    out = []
    for dataset in datasets(runs):
        mine = [r for r in runs if r["dataset"] == dataset]
        for slot, architecture in enumerate(architectures(mine)):
            for r in (r for r in mine if _architecture(r) == architecture):
                variant = "with BN" if "-bn-" in r["model"] else "without BN"
                base = dict(dataset=dataset, architecture=architecture, variant=variant, x=slot + VARIANTS[variant])
                for loss in r["barcode"]["minima"]["train_loss"]:
                    out.append(dict(base, quantity="minima", value=loss, state=CONVERGED))
                for death, state in zip(r["barcode"]["h0_graph_deaths"], h0_states(r), strict=True):
                    if math.isfinite(death):
                        out.append(dict(base, quantity="saddles", value=death, state=state))
    return out


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    import seaborn as sns
    from matplotlib.lines import Line2D

    runs = checked(runs)
    table = rows(runs)
    colours = dict(zip(VARIANTS, sns.color_palette("colorblind")[:2], strict=True))
    fig, axes = panels(len(datasets(runs)), models=len(architectures(runs)))
    for ax, (dataset, dataset_title) in zip(axes, datasets(runs).items(), strict=True):
        mine = [row for row in table if row["dataset"] == dataset]
        for variant in VARIANTS:
            for quantity, marker in QUANTITIES.items():
                points = [r for r in mine if r["variant"] == variant and r["quantity"] == quantity]
                for state in dict.fromkeys(r["state"] for r in points):
                    drawn = [r for r in points if r["state"] == state]
                    colour = dict(facecolors="none", edgecolors=colours[variant]) if quantity == "minima" \
                        else dict(color=colours[variant])
                    ax.scatter([r["x"] for r in drawn], [r["value"] for r in drawn], zorder=3, **colour,
                               **{"s": 28, "linewidths": 1.2, **point_style(state, marker)})
                for x in sorted({r["x"] for r in points}):
                    at = [r for r in points if r["x"] == x]
                    mean = fmean(r["value"] for r in at)
                    ax.plot([x - 0.12, x + 0.12], [mean, mean], color=colours[variant], lw=2,
                            alpha=opacity(combined(r["state"] for r in at)))
        ax.set_ylim(*limits([r["value"] for r in mine], pad=0.1))
        model_axis(ax, architectures([r for r in runs if r["dataset"] == dataset]).values())
        ax.set(title=dataset_title, ylabel=LOSS, xlabel="architecture")
    handles = [Line2D([], [], color=c, lw=2, label=f"{v} (bar: mean)") for v, c in colours.items()]
    handles += [Line2D([], [], ls="", marker=m, color="0.3", markerfacecolor="none" if q == "minima" else "0.3",
                       label=q) for q, m in QUANTITIES.items()]
    handles += convergence_handles([r["state"] for r in table], marker="^", ms=6)
    legend_below(fig, handles, ncols=4)
    headline(fig, title, scale, datasets(runs).values())
    return fig
