"""One gradient-descent trajectory that jumps over the barrier (paper 002, Fig 16): left the iterates on
the polynomial, right the parameter against the step, oscillating around the local minimum until it
leaves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .style import headline, legend_below, panels, styled
from .toy_records import LOSS, X, data_title, ramp, single

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("step", "x", "loss")


def rows(runs: list[dict]) -> list[dict]:
    """One row per iterate, the start being step 0."""
    path = single(runs, "trajectory")["trajectory"]
    return [dict(step=k, x=x, loss=y) for k, (x, y) in enumerate(zip(path["x"], path["loss"], strict=True))]


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    record = single(runs, "trajectory", "curve", "polynomial")
    path, poly, table = record["trajectory"], record["polynomial"], rows(runs)
    colours = ramp(len(table))
    fig, (left, right) = panels(2)
    left.plot(record["curve"]["x"], record["curve"]["loss"], color="0.25", lw=1.2)
    left.plot(path["x"], path["loss"], color="0.6", lw=0.6)
    left.scatter(path["x"], path["loss"], c=colours, s=16, zorder=3)
    left.axvline(poly["x_max"], color="0.4", lw=0.8, ls="--")
    left.set(xlabel=X, ylabel=LOSS, title=f"iterates on the loss, lr {path['lr']:g} ({path['regime']})")
    right.plot([r["step"] for r in table], path["x"], color="0.6", lw=0.6)
    right.scatter([r["step"] for r in table], path["x"], c=colours, s=16, zorder=3)
    for name, at in (("x1", poly["x1"]), ("barrier", poly["x_max"]), ("x2", poly["x2"])):
        right.axhline(at, color="0.4", lw=0.8, ls="--")
        right.annotate(name, (1, at), xycoords=("axes fraction", "data"), xytext=(-3, 2), textcoords="offset points",
                       ha="right", va="bottom", fontsize="x-small", color="0.3")
    right.set(xlabel="step", ylabel=X, title="parameter against step")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    legend_below(fig, [
        Line2D([], [], color=colours[0], marker="o", lw=0, label="first iterate (dark) ... last (light)"),
        Line2D([], [], color="0.4", ls="--", label="barrier (local maximum)"),
    ])
    headline(fig, title, scale, [data_title(record)])
    return fig
