"""The one record a toy figure is drawn from: a ``lossbarcode.toy`` experiment's result, plus the
workflow's "experiment" and "dataset_title" keys when it adds them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LOSS = "loss (arbitrary units)"
X = "parameter x (arbitrary units)"
REGIMES = ("stays", "escapes", "diverges")  # lossbarcode.toy.REGIMES, not imported: that would load torch
REGIME_LABELS = {
    "stays": "stays: never leaves the local minimum's basin",
    "escapes": "escapes: crosses the barrier, settles at the global minimum",
    "diverges": "diverges, or never settles past the barrier",
}


def single(runs: list[dict], *needed: str) -> dict:
    """The record of a toy figure: exactly one, holding the keys ``needed``."""
    if len(runs) != 1:
        raise ValueError(f"a toy figure is drawn from one experiment result, got {len(runs)} records")
    (record,) = runs
    if missing := [k for k in needed if k not in record]:
        raise ValueError(f"record of {record.get('experiment', 'a toy experiment')!r} lacks {', '.join(missing)}")
    return record


def data_title(record: dict) -> str:
    return record.get("dataset_title") or f"analytic: {record['function']}"


def regime_colours() -> dict[str, tuple]:
    import seaborn as sns

    palette = sns.color_palette("colorblind")
    return {"stays": palette[0], "escapes": palette[2], "diverges": palette[3]}


def ramp(n: int) -> list[tuple]:
    """n colours of an ordered quantity (bar height, training time): viridis without its pale end."""
    import seaborn as sns

    cmap = sns.color_palette("viridis", as_cmap=True)
    return [cmap(0.85 * i / max(n - 1, 1)) for i in range(n)]


def colourbar(fig, ax: Axes, values: Sequence[float], label: str) -> None:
    """A colour bar for ``ramp`` over ``values`` (first value dark, last value light)."""
    import matplotlib as mpl
    import seaborn as sns

    cmap = mpl.colors.ListedColormap(sns.color_palette("viridis", as_cmap=True)(np.linspace(0, 0.85, 256)))
    lo, hi = min(values), max(values)
    norm = mpl.colors.Normalize(lo, hi if hi > lo else lo + 1)
    bar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02)
    bar.set_label(label)
    bar.formatter.set_useOffset(False)


def plain_log(ax: Axes) -> None:
    """Plain numbers (2, 5, 10, 20 ...) on a log y axis, where steps or norms read better than powers."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def picks(count: int, n: int) -> list[int]:
    """``n`` indices spread evenly over range(count), ends included."""
    return sorted({round(i) for i in np.linspace(0, count - 1, min(n, count))})


def finite(values) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]
