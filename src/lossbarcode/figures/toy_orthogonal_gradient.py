"""The gradient's component orthogonal to the point chain, accumulated over each epoch at every point, at
several moments of training (paper 002, Appendix H, Fig 20); right its total over the points per epoch,
which falls to nearly zero as the chain settles in the valley."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .style import headline, panels, styled
from .toy_records import data_title, plain_log, single
from .toy_tangent_gradient import COLUMNS, profiles
from .toy_tangent_gradient import rows as _rows

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["COLUMNS", "rows", "figure"]
QUANTITY = "orthogonal_sum"
LABEL = "|orthogonal gradient|, summed over the epoch"


def rows(runs: list[dict]) -> list[dict]:
    """One row per point of the chain at each drawn moment (epoch)."""
    return _rows(runs, QUANTITY)


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    record = single(runs, "epochs", "moments", "per_step")
    fig, (left, right) = panels(2, width=5.0)
    profiles(fig, left, record, rows(runs), LABEL)
    totals = [sum(e[QUANTITY]) for e in record["epochs"]]
    right.plot([e["first_step"] for e in record["epochs"]], totals, color="0.3", marker="o", ms=2.5, lw=0.8)
    right.set(yscale="log", xlabel="training step at the epoch's start", ylabel="|orthogonal gradient|, summed",
              title=f"summed over the points and each epoch of {record['epoch']} steps")
    plain_log(right)
    headline(fig, title, scale, [data_title(record)])
    return fig
