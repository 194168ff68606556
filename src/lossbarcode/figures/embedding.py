"""Loss-preserving embeddings (paper 002 §3.5, Theorem 2): the penalties (bar lengths, death - birth)
of a smaller network's minima, of the same minima embedded into a larger architecture, and of the
larger network's own minima. Theorem 2: embedded, a minimum's penalty does not grow. A penalty whose
curve had not converged is faded, and so is a mean made of one."""

from __future__ import annotations

import math
from statistics import fmean
from typing import TYPE_CHECKING

from .records import checked, combined, datasets, h0_states, limits
from .style import convergence_handles, headline, legend_below, model_axis, opacity, panels, point_style, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "pair", "group", "x", "penalty", "state")
GROUPS = {"smaller network": -0.25, "embedded into the larger": 0.0, "larger network": 0.25}
PENALTY = "penalty: death − birth (train loss, nats)"


def _penalties(run: dict) -> list[tuple[float, str]]:
    """(death - birth, state) of the run's finite H0 bars."""
    barcode = run["barcode"]
    return [(d - b, state) for b, d, state in zip(barcode["minima"]["train_loss"], barcode["h0_graph_deaths"],
                                                  h0_states(run), strict=True) if math.isfinite(d)]


def pairs(runs: list[dict]) -> list[tuple[str, dict, dict | None, dict | None]]:
    """(label, embedded run, smaller run, larger run) for every embedded run, ordered by size."""
    out = []
    for r in sorted((r for r in runs if r.get("source_model")), key=lambda r: (r["order"], r["model"])):
        def find(model):
            return next((s for s in runs if s["model"] == model and s["dataset"] == r["dataset"]
                         and s["experiment"] == r["source_experiment"]), None)

        small, large = find(r["source_model"]), find(r["model"])
        label = f"{small['model_label'] if small else r['source_model']} → {r['model_label']}"
        out.append((label, r, small, large))
    return out


def rows(runs: list[dict]) -> list[dict]:
    out = []
    for dataset in datasets(runs):
        mine = [p for p in pairs(runs) if p[1]["dataset"] == dataset]
        for slot, (label, embedded, small, large) in enumerate(mine):
            for group, run in zip(GROUPS, (small, embedded, large), strict=True):
                for penalty, state in _penalties(run) if run else []:
                    out.append(dict(dataset=dataset, pair=label, group=group, x=slot + GROUPS[group], penalty=penalty,
                                    state=state))
    return out


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    import seaborn as sns
    from matplotlib.lines import Line2D

    runs = checked(runs)
    if not any(r.get("source_model") for r in runs):
        raise ValueError("no embedded runs (records with source_model) to plot")
    table = rows(runs)
    colours = dict(zip(GROUPS, sns.color_palette("colorblind")[:3], strict=True))
    embedded_datasets = {d: t for d, t in datasets(runs).items() if any(p[1]["dataset"] == d for p in pairs(runs))}
    fig, axes = panels(len(embedded_datasets), models=len(pairs(runs)))
    for ax, (dataset, dataset_title) in zip(axes, embedded_datasets.items(), strict=True):
        mine = [row for row in table if row["dataset"] == dataset]
        for group, colour in colours.items():
            points = [r for r in mine if r["group"] == group]
            for state in dict.fromkeys(r["state"] for r in points):
                drawn = [r for r in points if r["state"] == state]
                ax.scatter([r["x"] for r in drawn], [r["penalty"] for r in drawn], color=colour, zorder=3,
                           **{"s": 22, **point_style(state, "o", 0.7)})
            for x in sorted({r["x"] for r in points}):
                at = [r for r in points if r["x"] == x]
                ax.plot([x - 0.1, x + 0.1], [fmean(r["penalty"] for r in at)] * 2, color=colour, lw=2.2,
                        alpha=opacity(combined(r["state"] for r in at)))
        ax.set_ylim(*limits([0.0] + [r["penalty"] for r in mine], pad=0.1))
        model_axis(ax, [p[0] for p in pairs(runs) if p[1]["dataset"] == dataset])
        ax.set(title=dataset_title, ylabel=PENALTY, xlabel="embedding")
    legend_below(fig, [*(Line2D([], [], color=c, marker="o", lw=2, label=f"{g} (bar: mean)") for g, c in colours.items()),
                       *convergence_handles([r["state"] for r in table], marker="o", lw=2)], ncols=3)
    headline(fig, title, scale, embedded_datasets.values())
    return fig
