"""The training loss along every curve between minima (paper 002, Fig 8), curves between minima of
one quality level told apart from curves between levels.

Levels: a model's minima, sorted by training loss, split in two at their largest gap when that gap
is at least half of their whole spread (the two groups lie further apart than either spreads);
otherwise they are one level. The paper's §7 found two levels among four GPT seeds, with high
barriers between them. A curve whose maximum had not converged is faded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .records import checked, datasets, edge_convergence, estimate_state, limits, models
from .style import LOSS, convergence_handles, headline, legend_below, model_colours, opacity, panels, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "model", "run", "curve", "between", "state", "t", "train_loss")
SAME, ACROSS = "the same level", "different levels"


def levels(losses: list[float]) -> list[int]:
    """0 (the lower level) or 1 for each minimum's loss, by the rule in the module docstring."""
    order = sorted(range(len(losses)), key=losses.__getitem__)
    ranked = [losses[i] for i in order]
    gaps = [b - a for a, b in zip(ranked, ranked[1:])]
    level = [0] * len(losses)
    if gaps and max(gaps) > 0 and max(gaps) >= 0.5 * (ranked[-1] - ranked[0]):
        cut = gaps.index(max(gaps)) + 1
        for i in order[cut:]:
            level[i] = 1
    return level


def rows(runs: list[dict]) -> list[dict]:
    out = []
    for r in runs:
        barcode = r["barcode"]
        names = barcode["minima"]["names"]
        level = dict(zip(names, levels(barcode["minima"]["train_loss"]), strict=True))
        convergence = edge_convergence(r)
        for curve, profile in barcode["profiles"].items():
            a, b = curve.split("-")
            between = SAME if level[a] == level[b] else ACROSS
            state = estimate_state(convergence.get(curve))
            out += [dict(dataset=r["dataset"], model=r["model"], run=r["run"], curve=curve, between=between,
                         state=state, t=t, train_loss=loss)
                    for t, loss in zip(profile["t"], profile["train_loss"], strict=True)]
    return out


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    from matplotlib.lines import Line2D

    runs = checked(runs)
    table = rows(runs)
    colours = model_colours(models(runs))
    styles = {SAME: "-", ACROSS: "--"}
    fig, axes = panels(len(datasets(runs)))
    for ax, (dataset, dataset_title) in zip(axes, datasets(runs).items(), strict=True):
        mine = [row for row in table if row["dataset"] == dataset]
        for (run, curve) in dict.fromkeys((row["run"], row["curve"]) for row in mine):
            points = [row for row in mine if row["run"] == run and row["curve"] == curve]
            ax.plot([p["t"] for p in points], [p["train_loss"] for p in points], lw=1.2,
                    ls=styles[points[0]["between"]], color=colours[points[0]["model"]],
                    alpha=opacity(points[0]["state"]))
        ax.set_ylim(*limits([row["train_loss"] for row in mine], pad=0.08))
        ax.set(title=dataset_title, xlabel="position along the curve, t", ylabel=LOSS)
    grey = "0.35"
    handles = [Line2D([], [], color=grey, ls=style, label=f"curve between minima of {between}")
               for between, style in styles.items()]
    handles += [Line2D([], [], color=colours[m], label=label) for m, label in models(runs).items()]
    handles += convergence_handles([row["state"] for row in table], grey, lw=1.2)
    legend_below(fig, handles)
    headline(fig, title, scale, datasets(runs).values())
    return fig
