"""Index-1 persistence diagram (paper 004, Fig 4): every H1 bar of the filtered complex as a (birth, death)
point, and every triangle's own lifespan (Alg. 2) as a hollow point; the farther above the diagonal, the
less convex the landscape. A bar whose edge or triangle had not converged is faded, and so is a lifespan
whose triangle had not."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .records import (
    UNCONVERGED, checked, datasets, estimate_state, h1_states, limits, models, triangle_convergence,
)
from .style import MARKERS, convergence_handles, headline, model_colours, opacity, panels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "model", "run", "source", "birth", "death", "state")
SOURCES = {"h1": "H1 bar of the complex", "triangle_lifespans": "triangle lifespan (Alg. 2)"}


def _states(run: dict, key: str) -> list[str]:
    """The state of each point of ``key`` (an H1 bar's, or a lifespan's triangle's: the lifespans are in
    the order of the barcode's triangles)."""
    if key == "h1":
        return h1_states(run)
    triangles = [estimate_state(c) for c in triangle_convergence(run).values()]
    lifespans = run["barcode"].get(key, [])
    return triangles if len(triangles) == len(lifespans) else [UNCONVERGED] * len(lifespans)


def rows(runs: list[dict]) -> list[dict]:
    """One row per point; a run without triangles simply has no lifespans."""
    return [
        dict(dataset=r["dataset"], model=r["model"], run=r["run"], source=SOURCES[key], birth=birth, death=death,
             state=state)
        for r in runs
        for key in SOURCES
        for (birth, death), state in zip(r["barcode"].get(key, []), _states(r, key), strict=True)
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
    groups: dict[tuple[str, str, str, str], list[dict]] = {}
    for row in table:
        groups.setdefault((row["model"], row["dataset"], row["source"], row["state"]), []).append(row)
    for (model, dataset, source, state), points in groups.items():
        colour = colours[model]
        ax.scatter([p["birth"] for p in points], [min(p["death"], top) for p in points], marker=markers[dataset],
                   s=30, lw=1.2, edgecolor=colour, facecolor=colour if source == SOURCES["h1"] else "none",
                   alpha=opacity(state, 0.85), clip_on=False, zorder=3)
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
    if faded := convergence_handles([row["state"] for row in table], grey, marker="o", ms=6, ls="none"):
        sections["opacity: convergence"] = faded
    legend = ax.legend(handles=[h for header, keys in sections.items() for h in (key(header), *keys)],
                       loc="upper left", bbox_to_anchor=(1.03, 1), fontsize="small", handletextpad=0.4)
    for text in legend.get_texts():
        if text.get_text() in sections:
            text.set_weight("bold")
    headline(fig, title, scale, datasets(runs).values())
    return fig
