"""The training loss inside each run's learned triangle (paper 004, Figs 2 and 3): the measured samples of
the triangle (its sides are the fitted curves, its corners the minima) laid out on an equilateral
triangle, coloured by the loss between them; one panel per run, titled with the model and its test
error.

A run with several triangles shows the one with the longest index-1 lifespan (its highest point minus
its highest side), the one whose barrier inside is the tallest; the CSV names it and says of how many.
The panels share one colour scale when every panel's range of losses covers at least half of their
joint range; otherwise each panel has its own colour bar, as in the paper. Under each panel, whether the
triangle's maximum converged (its record's verdict).
"""

from __future__ import annotations

import math
import textwrap
from statistics import fmean
from typing import TYPE_CHECKING

import numpy as np

from .records import CONVERGED, checked, datasets, limits, triangle_convergence, verdict
from .style import LOSS, grid, headline, legend_below, styled

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "model", "run", "triangle", "lifespan", "verdict", "triangles_in_run", "test_error", "point",
           "b0", "b1", "b2", "x", "y", "train_loss")
HEIGHT = math.sqrt(3) / 2
#: The corners of the drawn triangle: vertex i of the triangle (its i-th minimum) at CORNERS[i].
CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, HEIGHT]])
LEVELS = 16  # filled contour bands per colour scale
MAX_COLUMNS = 3
SHARED = 0.5  # panels share a colour scale when each covers at least this share of the joint range


def plane(points) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric points ``[m, 3]`` as (x, y) on the equilateral triangle with corners ``CORNERS``."""
    xy = np.asarray(points, dtype=float).reshape(-1, 3) @ CORNERS
    return xy[:, 0], xy[:, 1]


def lifespan(face: dict) -> float:
    """A triangle's index-1 lifespan (paper 004 Alg. 2): its maximum minus its highest side."""
    return face["max"] - max(face["side_max"])


def needs_grids(run: dict, kind: str) -> dict:
    """The run's triangle grids; a clear error when it has none."""
    grids = run["barcode"].get("triangle_grids") or {}
    if not grids:
        raise ValueError(
            f"run {run['run']!r} (experiment {run.get('experiment', '?')}) has no triangle grids to draw the "
            f"{kind} figure from: it needs triangles: true in its experiment (paper 004 triangles fitted on "
            f"every triple of minima) and a barcode.json written since the triangles' samples are kept")
    return grids


def error_rate(run: dict) -> float:
    """100 minus the mean held-out accuracy of the run's minima, in %; NaN when none is recorded."""
    accuracies = [a for a in run["barcode"]["minima"].get("test_accuracy") or [] if a is not None]
    return 100 * (1 - fmean(accuracies)) if accuracies else math.nan


def samples(run: dict, name: str, grid_: dict, *, accuracy: bool = False, **extra) -> list[dict]:
    """One row per measured sample of triangle ``name``: its barycentric and plane coordinates and its
    training loss; with ``accuracy`` also its training accuracy (a fraction, NaN when not recorded)."""
    x, y = plane(grid_["points"])
    hits = grid_.get("train_accuracy") or [math.nan] * len(grid_["points"])
    out = []
    for k, (b, loss, hit) in enumerate(zip(grid_["points"], grid_["train_loss"], hits, strict=True)):
        row = dict(dataset=run["dataset"], model=run["model"], run=run["run"], triangle=name, **extra, point=k,
                   b0=b[0], b1=b[1], b2=b[2], x=float(x[k]), y=float(y[k]), train_loss=loss)
        if accuracy:
            row["train_accuracy"] = hit
        out.append(row)
    return out


def ordered(runs: list[dict]) -> list[dict]:
    """Runs by dataset (in the order the records name them), then by the models' order key."""
    rank = {d: i for i, d in enumerate(datasets(runs))}
    return sorted(runs, key=lambda r: (rank[r["dataset"]], r["order"], r["model"], r["run"]))


def chosen(run: dict) -> tuple[str, float]:
    """The run's triangle with the longest index-1 lifespan (the first by name among equals), and that lifespan."""
    grids = needs_grids(run, "triangle_surface")
    faces = run["barcode"].get("triangles") or {}
    spans = {name: lifespan(faces[name]) if name in faces else math.nan for name in sorted(grids)}
    best = max(spans, key=lambda name: (spans[name] if not math.isnan(spans[name]) else -math.inf))
    return best, spans[best]


def record_rows(run: dict) -> list[dict]:
    """The samples of one run's longest-lived triangle, with its convergence verdict."""
    name, span = chosen(run)
    grids = run["barcode"]["triangle_grids"]
    return samples(run, name, grids[name], lifespan=span, verdict=verdict(triangle_convergence(run).get(name)),
                   triangles_in_run=len(grids), test_error=error_rate(run))


def convergence_note(verdict_: str) -> str:
    """How a panel says whether its triangle's maximum converged."""
    return "converged" if verdict_ == CONVERGED else f"not converged ({verdict_})"


def rows(runs: list[dict]) -> list[dict]:
    """One row per plotted sample: the samples of each run's longest-lived triangle, runs in panel order."""
    return [row for r in ordered(checked(runs)) for row in record_rows(r)]


def value_range(points: list[dict], key: str, scale: float = 1.0) -> tuple[float, float] | None:
    """The finite values' (min, max), widened a little when they are all equal; None when there are none."""
    finite = [scale * p[key] for p in points if math.isfinite(p[key])]
    if not finite:
        return None
    lo, hi = min(finite), max(finite)
    if hi == lo:
        return limits([lo])
    return lo, hi


def draw(ax: Axes, points: list[dict], key: str, *, cmap, span: tuple[float, float] | None, scale: float = 1.0,
         highest: bool = False, corners: list[str] | None = None):
    """The measured values of one triangle as filled contours between its samples (Delaunay
    triangulation of the samples; triangles touching a non-finite value are left blank), the outline,
    the minima at the corners and, with ``highest``, the highest sample. Returns the contour set
    (None when there are no values to draw)."""
    from matplotlib.tri import Triangulation

    ax.plot(*np.vstack([CORNERS, CORNERS[:1]]).T, color="0.15", lw=0.8)
    ax.scatter(*CORNERS.T, s=34, facecolor="white", edgecolor="0.1", lw=1.1, zorder=4, clip_on=False)
    for (cx, cy), name, (dx, dy, ha, va) in zip(CORNERS, corners or [], (
            (-0.02, -0.04, "right", "top"), (0.02, -0.04, "left", "top"), (0.0, 0.05, "center", "bottom"))):
        ax.text(cx + dx, cy + dy, f"min. {name}", ha=ha, va=va, fontsize="small")
    ax.set(aspect="equal", xlim=(-0.2, 1.2), ylim=(-0.12, HEIGHT + 0.12))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    x = np.array([p["x"] for p in points])
    y = np.array([p["y"] for p in points])
    z = np.array([scale * p[key] for p in points], dtype=float)
    if span is None or len(z) < 3:
        return None
    mesh = Triangulation(x, y)
    finite = np.isfinite(z)
    mesh.set_mask(~finite[mesh.triangles].all(axis=1))
    levels = np.linspace(*span, LEVELS + 1)
    filled = ax.tricontourf(mesh, np.where(finite, z, span[0]), levels=levels, cmap=cmap, extend="neither")
    if highest and np.ptp(z[finite]) > 0:  # a flat map has no highest sample to show
        top = int(np.argmax(np.where(finite, z, -np.inf)))
        ax.scatter([x[top]], [y[top]], marker="x", s=40, color="#d62728", lw=1.6, zorder=5, clip_on=False)
    return filled


def colour_bar(fig: Figure, ax: Axes, filled, label: str, missing: str) -> None:
    """The panel's own colour bar; where nothing could be drawn, a note saying why instead."""
    from matplotlib.ticker import MaxNLocator

    if filled is None:
        ax.text(0.5, 0.4, missing, ha="center", va="center", transform=ax.transAxes, color="0.3", fontsize="small")
    else:
        fig.colorbar(filled, ax=ax, shrink=0.8, label=label, ticks=MaxNLocator(5))


def markers(fig: Figure, columns: int) -> None:
    """The legend under the panels: in one row when there are three columns of panels or more."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="none", marker="o", ms=6, markerfacecolor="white", markeredgecolor="0.1",
                      label="minimum (a corner of the triangle)"),
               Line2D([], [], color="0.15", lw=0.8, label="side: the fitted curve between two minima")]
    handles.append(Line2D([], [], ls="none", marker="x", ms=6, color="#d62728", mew=1.6,
                          label="highest measured loss in the triangle"))
    legend_below(fig, handles, ncols=len(handles) if columns >= 3 else 1)


def wrap(*lines: str, width: int = 34) -> str:
    """Panel title lines, each wrapped to a panel's width."""
    return "\n".join(textwrap.fill(line, width) for line in lines)


def layout(n: int) -> tuple[int, int]:
    """(rows, columns) for n panels: at most ``MAX_COLUMNS`` columns, the rows as evenly filled as can be."""
    rows_ = math.ceil(n / MAX_COLUMNS)
    return rows_, math.ceil(n / rows_)


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    import seaborn as sns

    runs = ordered(checked(runs))
    several = len(datasets(runs)) > 1
    n_rows, n_columns = layout(len(runs))
    fig, axes = grid(n_rows, n_columns, width=3.7, height=3.5 * n_rows + 1.3)
    cells = [ax for row in axes for ax in row]
    for ax in cells[len(runs):]:
        ax.remove()
    panels = [record_rows(r) for r in runs]
    ranges = [value_range(points, "train_loss") for points in panels]
    finite = [span for span in ranges if span is not None]
    joint = (min(lo for lo, _ in finite), max(hi for _, hi in finite)) if finite else None
    shared = bool(finite) and all(hi - lo >= SHARED * (joint[1] - joint[0]) for lo, hi in finite)
    cmap = sns.color_palette("viridis", as_cmap=True)
    drawn = []
    for ax, r, points, span in zip(cells, runs, panels, ranges):
        first = points[0]
        filled = draw(ax, points, "train_loss", cmap=cmap, span=joint if shared and span else span, highest=True,
                      corners=first["triangle"].split("-"))
        drawn.append(filled)
        error = first["test_error"]
        held_out = r.get("held_out") or "test"
        quality = f"{held_out} error {error:.1f}%" if math.isfinite(error) else f"no {held_out} accuracy recorded"
        ax.set_title(wrap(r["model_label"], *([r["dataset_title"]] if several else []), quality), fontsize="medium")
        which = f", the longest-lived of {first['triangles_in_run']}" if first["triangles_in_run"] > 1 else ""
        ax.set_xlabel(f"triangle {first['triangle']}{which}\nindex-1 lifespan {first['lifespan']:.3g} nats\n"
                      f"{convergence_note(first['verdict'])}", fontsize="small")
        if not shared or filled is None:
            colour_bar(fig, ax, filled, LOSS, "no finite loss measured")
    if shared and any(f is not None for f in drawn):
        from matplotlib.ticker import MaxNLocator

        fig.colorbar(next(f for f in drawn if f is not None), ax=cells[:len(runs)], shrink=0.6,
                     label=f"{LOSS}, one scale for all panels", ticks=MaxNLocator(6))
    markers(fig, n_columns)
    headline(fig, title, scale, datasets(runs).values())
    return fig
