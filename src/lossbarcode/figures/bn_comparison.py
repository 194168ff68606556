"""With and without BatchNorm (paper 002, Fig 5): the losses at the minima and at the saddles (finite
H0 deaths) of each architecture next to those of its BN counterpart."""

from __future__ import annotations

import math
from statistics import fmean
from typing import TYPE_CHECKING

from .records import checked, datasets, limits
from .style import LOSS, headline, legend_below, model_axis, panels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "architecture", "variant", "quantity", "x", "value")
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
    """One row per minimum and per finite saddle of every run."""
    out = []
    for dataset in datasets(runs):
        mine = [r for r in runs if r["dataset"] == dataset]
        for slot, architecture in enumerate(architectures(mine)):
            for r in (r for r in mine if _architecture(r) == architecture):
                variant = "with BN" if "-bn-" in r["model"] else "without BN"
                x = slot + VARIANTS[variant]
                for loss in r["barcode"]["minima"]["train_loss"]:
                    out.append(dict(dataset=dataset, architecture=architecture, variant=variant,
                                    quantity="minima", x=x, value=loss))
                for _, death in r["barcode"]["h0"]:
                    if math.isfinite(death):
                        out.append(dict(dataset=dataset, architecture=architecture, variant=variant,
                                        quantity="saddles", x=x, value=death))
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
                ax.scatter([r["x"] for r in points], [r["value"] for r in points], marker=marker, s=28,
                           facecolors="none" if quantity == "minima" else colours[variant],
                           edgecolors=colours[variant], linewidths=1.2, zorder=3)
                for x in sorted({r["x"] for r in points}):
                    mean = fmean(r["value"] for r in points if r["x"] == x)
                    ax.plot([x - 0.12, x + 0.12], [mean, mean], color=colours[variant], lw=2)
        ax.set_ylim(*limits([r["value"] for r in mine], pad=0.1))
        model_axis(ax, architectures([r for r in runs if r["dataset"] == dataset]).values())
        ax.set(title=dataset_title, ylabel=LOSS, xlabel="architecture")
    handles = [Line2D([], [], color=c, lw=2, label=f"{v} (bar: mean)") for v, c in colours.items()]
    handles += [Line2D([], [], ls="", marker=m, color="0.3", markerfacecolor="none" if q == "minima" else "0.3",
                       label=q) for q, m in QUANTITIES.items()]
    legend_below(fig, handles, ncols=4)
    headline(fig, title, scale, datasets(runs).values())
    return fig
