"""The learned triangle under several training regimes and budgets (paper 004, Fig 1): one column per run
record, titled with its experiment's label (e.g. trainable or fixed sides' centres, and the epochs), the
training loss inside the triangle on top and the training accuracy under it, each map with its own colour
bar. The records come from experiments that differ only in the triangle's recipe; they are drawn in the
order given. A run with several triangles shows the first by name; under it, whether its maximum converged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .records import checked, datasets, experiment_label, models, triangle_convergence, verdict
from .style import LOSS, grid, headline, styled
from .triangle_surface import colour_bar, convergence_note, draw, markers, needs_grids, samples, value_range, wrap

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "experiment", "model", "run", "triangle", "verdict", "point", "b0", "b1", "b2", "x", "y",
           "train_loss", "train_accuracy")
ACCURACY = "train accuracy (%)"


def record_rows(run: dict) -> list[dict]:
    """The samples of one record's triangle (the first by name), with its convergence verdict."""
    grids = needs_grids(run, "triangle_budgets")
    name = min(grids)
    return samples(run, name, grids[name], accuracy=True, experiment=experiment_label(run),
                   verdict=verdict(triangle_convergence(run).get(name)))


def rows(runs: list[dict]) -> list[dict]:
    """One row per plotted sample of each record's triangle, records in the order given; train_accuracy
    is the fraction (0..1) measured there, NaN when the triangle file predates it."""
    return [row for r in checked(runs) for row in record_rows(r)]


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    import seaborn as sns

    runs = checked(runs)
    several_datasets, several_models = len(datasets(runs)) > 1, len(models(runs)) > 1
    fig, (tops, bottoms) = grid(2, len(runs), width=3.4, height=7.4)
    loss_map = sns.color_palette("viridis", as_cmap=True)
    # dark is good in both rows: low loss, high accuracy
    accuracy_map = sns.color_palette("viridis_r", as_cmap=True)
    for k, (top, bottom, r) in enumerate(zip(tops, bottoms, runs, strict=True)):
        points = record_rows(r)
        corners = points[0]["triangle"].split("-")
        filled = draw(top, points, "train_loss", cmap=loss_map, span=value_range(points, "train_loss"), highest=True,
                      corners=corners)
        colour_bar(fig, top, filled, LOSS, "no finite loss measured")
        extra = [t for t, on in ((r["model_label"], several_models), (r["dataset_title"], several_datasets)) if on]
        top.set_title(wrap(experiment_label(r), *extra, width=30), fontsize="medium")
        filled = draw(bottom, points, "train_accuracy", cmap=accuracy_map, scale=100.0,
                      span=value_range(points, "train_accuracy", 100.0), corners=corners)
        colour_bar(fig, bottom, filled, ACCURACY, "no accuracy recorded\n(a triangle file from\nbefore it was kept)")
        bottom.set_xlabel(f"triangle {points[0]['triangle']}, {convergence_note(points[0]['verdict'])}",
                          fontsize="small")
        if k == 0:
            top.set_ylabel("train loss", fontsize="medium")
            bottom.set_ylabel("train accuracy", fontsize="medium")
    markers(fig, len(runs))
    headline(fig, title, scale, datasets(runs).values())
    return fig
