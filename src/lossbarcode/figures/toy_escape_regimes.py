"""Three regimes of gradient descent from near a local minimum (paper 002, Fig 14, Appendix D approach 1):
left the last iterates of each learning rate (a bifurcation diagram: one point where descent settles,
a band where it oscillates), right the steps it takes to leave the local minimum for good."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .style import headline, legend_below, panels, styled
from .toy_records import REGIME_LABELS, REGIMES, X, data_title, finite, plain_log, regime_colours, single

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("lr", "regime", "final_x", "tail_min", "tail_max", "steps_to_escape")


def rows(runs: list[dict]) -> list[dict]:
    """One row per learning rate; tail_min/max: the range of its last iterates (equal once settled)."""
    record = single(runs, "lr", "regime", "final_x", "tail", "steps_to_escape")
    tails = [finite(t) for t in record["tail"]]
    return [dict(lr=lr, regime=regime, final_x=x, tail_min=min(tail, default=x), tail_max=max(tail, default=x),
                 steps_to_escape=steps)
            for lr, regime, x, tail, steps in zip(record["lr"], record["regime"], record["final_x"], tails,
                                                  record["steps_to_escape"], strict=True)]


def shade(ax, ranges: list[dict], colours: dict, spacing: float) -> None:
    """Each regime's learning rates as a pale band behind the data."""
    for r in ranges:
        ax.axvspan(r["lo"] - spacing / 2, r["hi"] + spacing / 2, color=colours[r["regime"]], alpha=0.15, lw=0)


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    from matplotlib.patches import Patch

    record = single(runs, "lr", "regime", "tail", "ranges", "polynomial")
    colours = regime_colours()
    spacing = record["lr"][1] - record["lr"][0]
    poly = record["polynomial"]
    fig, (left, right) = panels(2)
    for regime in REGIMES:
        points = [(lr, x) for lr, g, tail in zip(record["lr"], record["regime"], record["tail"], strict=True)
                  if g == regime for x in finite(tail)]
        if points:
            left.scatter(*zip(*points), s=2, color=colours[regime], lw=0)
    for name, at in (("x1 (local min)", poly["x1"]), ("barrier", poly["x_max"]), ("x2 (global min)", poly["x2"])):
        left.axhline(at, color="0.4", lw=0.8, ls="--")
        left.annotate(name, (1, at), xycoords=("axes fraction", "data"), xytext=(-3, 2), textcoords="offset points",
                      ha="right", va="bottom", fontsize="x-small", color="0.3")
    left.set(xlabel="learning rate", ylabel=X,
             title=f"last 32 of {record['steps']} iterates from x0 = {record['start']:.2f}")
    # nan where descent does not escape, so that the line breaks there
    steps = [s if math.isfinite(s) else math.nan for s in record["steps_to_escape"]]
    right.plot(record["lr"], steps, color=colours["escapes"], marker="o", ms=2.5, lw=0.8)
    right.set(yscale="log", xlabel="learning rate", ylabel="steps to leave the basin for good",
              title="steps to escape (escaping rates only)")
    plain_log(right)
    for ax in (left, right):
        shade(ax, record["ranges"], colours, spacing)
        ax.set_xlim(record["lr"][0] - spacing, record["lr"][-1] + spacing)
    legend_below(fig, [Patch(color=colours[r], alpha=0.5, label=REGIME_LABELS[r]) for r in REGIMES], ncols=1)
    headline(fig, title, scale, [data_title(record)])
    return fig
