"""The one look every figure shares: fonts, grid, palettes, panel size, resolution, headline.

matplotlib and seaborn are imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .records import UNCONVERGED, ZERO

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 200
PANEL = (4.4, 4.0)  # inches per dataset panel
MIN_WIDTH = 7.0  # inches: room for the headline and a legend below even with one panel
LOSS = "train loss (cross-entropy, nats)"
MARKERS = "osD^vPX*"
# A value resting on an unconverged estimate is drawn faded: its opacity times FADED, in every figure.
FADED = 0.3
# A bar that converged within its tolerance of zero (two minima connected without a barrier) is marked
# by a flat dash at its birth, so that it reads as a finding and not as a missing bar.
ZERO_MARK = dict(marker="_", ms=11, mew=2.2)
NOT_CONVERGED = "faded: not converged (still moving, or no record)"
NO_BARRIER = "connected, no barrier (converged within tolerance of 0)"


@contextmanager
def theme():
    """seaborn's white grid at paper scale, fonts embedded as text in PDFs."""
    import matplotlib as mpl
    import seaborn as sns

    with sns.axes_style("whitegrid"), sns.plotting_context("paper"):
        with mpl.rc_context({"pdf.fonttype": 42, "axes.titleweight": "bold"}):
            yield


def styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Runs a figure function inside the theme.

    Ticks and the constrained layout are made at draw time from whatever settings are active then, so the
    figure is drawn once inside the theme: saved anywhere later, it keeps the look.
    """

    @functools.wraps(draw)
    def wrapper(*args, **kwargs) -> Figure:
        with theme():
            fig = draw(*args, **kwargs)
            fig.draw_without_rendering()
        return fig

    return wrapper


def panels(n: int, *, models: int = 0, width: float = PANEL[0], height: float = PANEL[1]) -> tuple[Figure, list[Axes]]:
    """A figure of n side-by-side panels, each wider when it has many models to show. A bare Figure, not
    pyplot: nothing global to close or leak; png/pdf are made by Agg and the pdf backend, no display needed."""
    fig, (row,) = grid(1, n, models=models, width=width, height=height)
    return fig, row


def grid(
    rows: int, columns: int, *, models: int = 0, width: float = PANEL[0], height: float = PANEL[1],
    height_ratios: list[float] | None = None,
) -> tuple[Figure, list[list[Axes]]]:
    """Panels in rows and columns (``panels`` is the one-row case): a column per dataset, as wide as
    ``panels`` makes it; ``height`` is the whole figure's. The panels of a column share their x axis, so
    a strip under a panel lines up with it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(columns * max(width, 0.45 * models + 1.6), MIN_WIDTH), height), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False, sharex="col" if rows > 1 else False,
                        gridspec_kw={"height_ratios": height_ratios})
    return fig, [list(row) for row in axes]


def headline(fig: Figure, title: str, scale: str, dataset_titles: Iterable[str]) -> None:
    """Title plus what the figure is made of: the scale and the data actually used, wrapped to the
    figure's width (the layout makes room for a suptitle's height, never for its width)."""
    from matplotlib.font_manager import FontProperties

    points = FontProperties(size="large").get_size_in_points()
    chars = int(fig.get_figwidth() * 72 / (0.55 * points))
    data = textwrap.fill(f"{scale} scale · data: {', '.join(dataset_titles)}", chars)
    fig.suptitle(f"{textwrap.fill(title, chars)}\n{data}", fontsize="large")


def legend_below(fig: Figure, handles: list, ncols: int = 2) -> None:
    """Figure legends sit under the panels, where they can cover no data."""
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, fontsize="small", frameon=False)


def model_colours(models: Iterable[str]) -> dict[str, tuple]:
    """Models come in a meaningful order (depth, size), so a sequential palette, its pale end cut off."""
    import seaborn as sns

    models = list(models)
    ramp = sns.color_palette("viridis", as_cmap=True)
    return {m: ramp(0.85 * i / max(len(models) - 1, 1)) for i, m in enumerate(models)}


def group_colours(groups: Iterable[str]) -> dict[str, tuple]:
    """Unordered groups (datasets, experiments, variants): a colour-blind-safe categorical palette."""
    import seaborn as sns

    groups = list(groups)
    return dict(zip(groups, sns.color_palette("colorblind", len(groups)), strict=True))


def model_axis(ax: Axes, labels: Iterable[str]) -> None:
    """Categorical x axis of models at 0, 1, 2...: long names wrapped, or slanted when there are many."""
    labels = list(labels)
    if len(labels) > 6:
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticks(range(len(labels)), [textwrap.fill(s, 12) for s in labels])
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_xlabel("model")
    ax.grid(axis="x", visible=False)


def opacity(state: str, alpha: float = 1.0) -> float:
    """The alpha of a value in ``state`` that is otherwise drawn with ``alpha``."""
    return alpha * FADED if state == UNCONVERGED else alpha


def point_style(state: str, marker: str, alpha: float = 1.0) -> dict:
    """scatter keywords for a value in ``state`` otherwise drawn as ``marker`` with ``alpha``: faded when
    it has not converged, the zero dash for a bar (or what it ends at) without a barrier."""
    if state == ZERO:
        return dict(marker=ZERO_MARK["marker"], linewidths=ZERO_MARK["mew"], s=ZERO_MARK["ms"] ** 2, alpha=alpha)
    return dict(marker=marker, alpha=opacity(state, alpha))


def convergence_handles(states: Iterable[str], colour="0.35", **line) -> list:
    """Legend entries for the look of unconverged values and of zero bars, those of ``states`` that
    occur; ``line``: how the figure's values are drawn (marker, lw...), for the faded entry."""
    from matplotlib.lines import Line2D

    states = set(states)
    handles = []
    if UNCONVERGED in states:
        handles.append(Line2D([], [], color=colour, alpha=FADED, label=NOT_CONVERGED, **{"lw": 1.8, **line}))
    if ZERO in states:
        handles.append(Line2D([], [], color=colour, ls="none", label=NO_BARRIER, **ZERO_MARK))
    return handles
