"""The family of polynomials whose local minimum's bar height is varied (paper 002, Fig 15): left the
polynomials coloured by bar height, right each one minus the lowest-bar member, which shows where they
differ (for approach 2 only by a_6 (x - x1)^6: flat to 5th order at x1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .records import limits
from .style import headline, panels, styled
from .toy_records import LOSS, X, colourbar, data_title, ramp, single

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("member", "bar_height", "barrier", "lead", "x1", "x_max", "x2", "y1", "y_max", "y2")


def rows(runs: list[dict]) -> list[dict]:
    """One row per polynomial: our bar height, the analytic barrier, a_6 and its critical points."""
    record = single(runs, "polynomials")
    return [dict(member=k, bar_height=p["bar"]["height"], barrier=p["barrier"], lead=p["coefficients"][-1],
                 **{key: p[key] for key in ("x1", "x_max", "x2", "y1", "y_max", "y2")})
            for k, p in enumerate(record["polynomials"])]


def draw_family(fig, ax, record: dict) -> None:
    """The family's curves coloured by bar height, with its colour bar and the minima and barriers marked."""
    heights = record["bar_heights"]
    for colour, curve, p in zip(ramp(len(heights)), record["curves"], record["polynomials"], strict=True):
        ax.plot(curve["x"], curve["loss"], color=colour, lw=1.1)
        ax.scatter([p["x1"], p["x_max"], p["x2"]], [p["y1"], p["y_max"], p["y2"]], color=[colour], s=10, zorder=3)
    # Far past the global minima the x^6 term takes over; the view stops a little above the barriers.
    lows, highs = [p["y2"] for p in record["polynomials"]], [p["y_max"] for p in record["polynomials"]]
    span = max(highs) - min(lows)
    ax.set(ylim=(min(lows) - 0.25 * span, max(highs) + 0.6 * span), xlabel=X, ylabel=LOSS,
           title="polynomials, dots at their critical points")
    colourbar(fig, ax, heights, "bar height of the local minimum")


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    record = single(runs, "polynomials", "curves", "bar_heights")
    fig, (left, right) = panels(2, width=5.0)
    draw_family(fig, left, record)
    base = np.array(record["curves"][int(np.argmin(record["bar_heights"]))]["loss"])
    shown = np.array(record["curves"][0]["x"]) <= max(p["x2"] for p in record["polynomials"])
    differences = [np.array(curve["loss"]) - base for curve in record["curves"]]
    for colour, curve, difference in zip(ramp(len(differences)), record["curves"], differences, strict=True):
        right.plot(curve["x"], difference, color=colour, lw=1.1)
    right.axvline(record["polynomials"][0]["x1"], color="0.4", lw=0.8, ls="--")
    right.set(ylim=limits(np.concatenate([d[shown] for d in differences]), pad=0.1), xlabel=X,
              ylabel=f"difference of {LOSS}", title="minus the lowest-bar member (dashed: x1)")
    headline(fig, title, scale, [data_title(record)])
    return fig
