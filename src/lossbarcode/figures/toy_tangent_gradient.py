"""The gradient's component along the point chain at every point, averaged over an epoch, at several
moments of training (paper 002, Appendix H, Fig 19); right its mean over the points at every step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .style import headline, panels, styled
from .toy_records import colourbar, data_title, plain_log, ramp, single

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("epoch", "first_step", "last_step", "point", "t", "value")
QUANTITY = "tangent_mean"
LABEL = "|tangent gradient|, mean over the epoch"


def rows(runs: list[dict], quantity: str = QUANTITY) -> list[dict]:
    """One row per point of the chain at each drawn moment (epoch)."""
    record = single(runs, "epochs", "moments")
    return [dict(epoch=e["epoch"], first_step=e["first_step"], last_step=e["last_step"], point=k, t=t, value=v)
            for e in (record["epochs"][m] for m in record["moments"])
            for k, (t, v) in enumerate(zip(e["t"], e[quantity], strict=True))]


def profiles(fig, ax, record: dict, table: list[dict], label: str) -> None:
    """One line per drawn epoch: the value at each point against its position t along the chain."""
    epochs = [record["epochs"][m] for m in record["moments"]]
    for colour, e in zip(ramp(len(epochs)), epochs, strict=True):
        mine = [r for r in table if r["epoch"] == e["epoch"] and r["value"] > 0]  # log axis
        ax.plot([r["t"] for r in mine], [r["value"] for r in mine], color=colour, marker="o", ms=2.5, lw=1)
    ax.set(yscale="log", xlabel="position t of the point along the chain (0, 1: the minima)", ylabel=label,
           title=f"along the chain at {len(epochs)} moments (epochs of {record['epoch']} steps)")
    colourbar(fig, ax, [e["first_step"] for e in epochs], "training step at the epoch's start")


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    record = single(runs, "epochs", "moments", "per_step")
    fig, (left, right) = panels(2, width=5.0)
    profiles(fig, left, record, rows(runs), LABEL)
    right.plot(record["per_step"]["tangent_mean"], color="0.3", lw=0.8)
    right.set(yscale="log", xlabel="training step", ylabel="|tangent gradient|, mean over the points",
              title=f"over training (insertions every {record['insert_every']} steps)")
    plain_log(right)
    headline(fig, title, scale, [data_title(record)])
    return fig
