"""Steps gradient descent needs to escape the local minimum, against the learning rate, for a few bar
heights (paper 002, Fig 17): erratic near the escape threshold, in contrast to the threshold itself."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .style import headline, legend_below, panels, styled
from .toy_records import data_title, picks, plain_log, ramp, single

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("member", "bar_height", "lr", "steps_to_escape")
SHOWN = 4  # polynomials drawn: the lowest and highest bars and some between


def rows(runs: list[dict]) -> list[dict]:
    """One row per drawn polynomial and learning rate; steps inf where descent does not escape."""
    record = single(runs, "bar_heights", "steps_to_escape")
    grid = record["steps_to_escape"]
    return [dict(member=k, bar_height=record["bar_heights"][k], lr=lr, steps_to_escape=steps)
            for k in picks(len(record["bar_heights"]), SHOWN)
            for lr, steps in zip(grid["lr"], grid["steps"][k], strict=True)]


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    from matplotlib.lines import Line2D

    record = single(runs, "bar_heights", "steps_to_escape", "escape_lr_mean")
    table = rows(runs)
    colours = ramp(len(record["bar_heights"]))
    fig, (ax,) = panels(1, width=7.0)
    handles = []
    for k in picks(len(record["bar_heights"]), SHOWN):
        mine = [r for r in table if r["member"] == k and math.isfinite(r["steps_to_escape"])]
        ax.plot([r["lr"] for r in mine], [r["steps_to_escape"] for r in mine], color=colours[k], marker="o", ms=2,
                lw=0.7)
        if math.isfinite(record["escape_lr_mean"][k]):
            ax.axvline(record["escape_lr_mean"][k], color=colours[k], lw=0.8, ls="--")
        label = f"bar height {record['bar_heights'][k]:.5g}"
        handles.append(Line2D([], [], color=colours[k], marker="o", ms=3, label=label))
    ax.set(yscale="log", xlabel="learning rate", ylabel="steps to leave the basin for good",
           title=f"from x0 = {record['steps_to_escape']['start']:.3g}; dashed: mean escape rate over starts")
    plain_log(ax)
    legend_below(fig, handles, ncols=2)
    headline(fig, title, scale, [data_title(record)])
    return fig
