"""Index-1 persistence diagram (paper 004, Fig 4): every H1 bar of the filtered complex as a (birth, death)
point, and every triangle's own lifespan (Alg. 2) as a hollow point; the farther above the diagonal, the
less convex the landscape."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .records import checked, datasets, limits, models
from .style import MARKERS, headline, model_colours, panels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "model", "run", "source", "birth", "death")
SOURCES = {"h1": "H1 bar of the complex", "triangle_lifespans": "triangle lifespan (Alg. 2)"}


def rows(runs: list[dict]) -> list[dict]:
    """One row per point; a run without triangles simply has no lifespans."""
    return [
        dict(dataset=r["dataset"], model=r["model"], run=r["run"], source=SOURCES[key], birth=birth, death=death)
        for r in runs
        for key in SOURCES
        for birth, death in r["barcode"].get(key, [])
    ]


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    from matplotlib.lines import Line2D

    runs = checked(runs)
    table = rows(runs)
    colours = model_colours(models(runs))
    markers = {d: MARKERS[i % len(MARKERS)] for i, d in enumerate(datasets(runs))}
    fig, (ax,) = panels(1, width=7.2, height=5.2)

    lo, hi = limits([row[k] for row in table for k in ("birth", "death")], pad=0.08)
    top = hi
    if any(math.isinf(row["death"]) for row in table):
        # Cycles no triangle ever fills (e.g. a run without triangles) live forever: a band above the rest.
        top = hi + 0.08 * (hi - lo)
        ax.axhline(top, color="0.5", lw=0.8, ls=":")
        ax.text(lo, top, " death = ∞", va="bottom", fontsize="small", color="0.3")
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.9)
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in table:
        groups.setdefault((row["model"], row["dataset"], row["source"]), []).append(row)
    for (model, dataset, source), points in groups.items():
        colour = colours[model]
        ax.scatter([p["birth"] for p in points], [min(p["death"], top) for p in points], marker=markers[dataset],
                   s=30, lw=1.2, edgecolor=colour, facecolor=colour if source == SOURCES["h1"] else "none",
                   alpha=0.85, clip_on=False, zorder=3)
    if not any(row["source"] == SOURCES["h1"] for row in table):
        ax.text(0.04, 0.96, "no index-1 features:\nH1 is empty in every run", transform=ax.transAxes, va="top")
    ax.set(xlim=(lo, hi), ylim=(lo, top + 0.07 * (hi - lo)), aspect="equal",
           xlabel="birth (train loss, nats)", ylabel="death (train loss, nats)")
    # Finite ticks only: the band above hi holds the deaths at infinity.
    ax.set_yticks([t for t in ax.get_yticks() if lo <= t <= hi])

    def key(label: str, **kw) -> Line2D:
        return Line2D([], [], ls="none", ms=6, label=label, **kw)

    grey = "0.35"
    sections = {
        "colour: model": [key(label, marker="o", color=colours[m]) for m, label in models(runs).items()],
        "marker: dataset": [key(t, marker=markers[d], color=grey) for d, t in datasets(runs).items()],
        "fill: what the point is": [
            key(SOURCES["h1"], marker="o", color=grey),
            key(SOURCES["triangle_lifespans"], marker="o", markerfacecolor="none", markeredgecolor=grey),
        ],
    }
    legend = ax.legend(handles=[h for header, keys in sections.items() for h in (key(header), *keys)],
                       loc="upper left", bbox_to_anchor=(1.03, 1), fontsize="small", handletextpad=0.4)
    for text in legend.get_texts():
        if text.get_text() in sections:
            text.set_weight("bold")
    headline(fig, title, scale, datasets(runs).values())
    return fig
