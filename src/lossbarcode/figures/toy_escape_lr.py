"""The smallest learning rate that escapes the local minimum against its bar height (paper 002, Fig 12):
left the polynomials, right the escape rate of every start, their mean per polynomial and the
least-squares line (its slope, intercept and R^2 are rows of the csv)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .style import headline, legend_below, panels, styled
from .toy_escape_polynomials import draw_family
from .toy_records import data_title, finite, ramp, single

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("series", "member", "start", "bar_height", "escape_lr", "slope", "intercept", "r2", "n")


def rows(runs: list[dict]) -> list[dict]:
    """Rows "start" (one per polynomial and start), "mean" (one per polynomial) and one "fit" row."""
    record = single(runs, "bar_heights", "escape_lr", "escape_lr_mean", "starts", "fit")
    out = [dict(series="start", member=k, start=x0, bar_height=h, escape_lr=lr)
           for k, (h, lrs) in enumerate(zip(record["bar_heights"], record["escape_lr"], strict=True))
           for x0, lr in zip(record["starts"], lrs, strict=True)]
    out += [dict(series="mean", member=k, bar_height=h, escape_lr=lr)
            for k, (h, lr) in enumerate(zip(record["bar_heights"], record["escape_lr_mean"], strict=True))]
    return out + [dict(series="fit", **record["fit"])]


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    from matplotlib.lines import Line2D

    record = single(runs, "polynomials", "curves", "bar_heights", "escape_lr", "fit")
    table = rows(runs)
    colours = ramp(len(record["bar_heights"]))
    fig, (left, right) = panels(2, width=5.0)
    draw_family(fig, left, record)
    starts = [r for r in table if r["series"] == "start" and math.isfinite(r["escape_lr"])]
    means = [r for r in table if r["series"] == "mean" and math.isfinite(r["escape_lr"])]
    right.scatter([r["bar_height"] for r in starts], [r["escape_lr"] for r in starts], s=14, facecolor="none",
                  edgecolor=[colours[r["member"]] for r in starts], lw=0.8)
    right.scatter([r["bar_height"] for r in means], [r["escape_lr"] for r in means], s=36, marker="D",
                  color=[colours[r["member"]] for r in means], zorder=3)
    fit = record["fit"]
    if fit["slope"] is not None:
        hs = [min(record["bar_heights"]), max(record["bar_heights"])]
        right.plot(hs, [fit["slope"] * h + fit["intercept"] for h in hs], color="0.3", lw=1, ls="--")
    right.ticklabel_format(useOffset=False)
    right.set(xlabel="bar height of the local minimum (loss units)", ylabel="smallest escaping learning rate",
              title=f"fit: lr = {fit['slope']:.4g} h + {fit['intercept']:.4g}, R² = {fit['r2']:.3f}"
              if fit["slope"] is not None else f"no fit: {fit['n']} escaping start(s)")
    spread = max((max(f) - min(f) for f in map(finite, record["escape_lr"]) if f), default=0.0)  # over starts
    unstable = ", ".join(f"{2 / c:.3g}" for c in sorted({round(p["c1"], 9) for p in record["polynomials"]}))
    notes = [f"x1 turns unstable at lr = 2 / p''(x1) = {unstable}"]
    if missing := len(record["bar_heights"]) - len(means):
        notes.append(f"{missing} polynomial(s) with no escaping rate left out")
    legend_below(fig, [
        Line2D([], [], color="0.35", marker="o", mfc="none", lw=0,
               label=f"one start of {len(record['starts'])} near x1 (spread within a polynomial ≤ {spread:.1g})"),
        Line2D([], [], color="0.35", marker="D", lw=0, label="mean over starts"),
        Line2D([], [], color="0.3", ls="--", label="least-squares line over all starts"),
    ] + [Line2D([], [], lw=0, label=note) for note in notes], ncols=2)
    headline(fig, title, scale, [data_title(record)])
    return fig
