"""Figures from run records: one dict per trained model with its barcode.json under "barcode".

Each kind is a module with ``rows(runs)`` (the numbers it plots, one row per plotted item) and
``figure(runs, *, scale, title)`` drawn from exactly those rows; ``render`` saves both. matplotlib is
imported only when a figure is drawn, so importing this package keeps job start-up cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from ..io import atomic_write, write_csv
from . import (
    barcodes, bn_comparison, curve_profiles, embedding, generalization, h1_diagram, robustness, saddle_spread,
    to_score, triangle_budgets, triangle_surface,
)
from . import (
    toy_barcode_1d, toy_escape_lr, toy_escape_polynomials, toy_escape_regimes, toy_escape_steps,
    toy_escape_trajectory, toy_insertion, toy_orthogonal_gradient, toy_tangent_gradient,
)
from .style import DPI

_MODULES: dict[str, ModuleType] = {
    "barcodes": barcodes,
    "to_score": to_score,
    "saddle_spread": saddle_spread,
    "h1_diagram": h1_diagram,
    "triangle_surface": triangle_surface,
    "triangle_budgets": triangle_budgets,
    "bn_comparison": bn_comparison,
    "embedding": embedding,
    "curve_profiles": curve_profiles,
    "generalization": generalization,
    "robustness": robustness,
    "toy_barcode_1d": toy_barcode_1d,
    "escape_regimes": toy_escape_regimes,
    "escape_trajectory": toy_escape_trajectory,
    "escape_polynomials": toy_escape_polynomials,
    "escape_lr_vs_barrier": toy_escape_lr,
    "escape_steps": toy_escape_steps,
    "insertion": toy_insertion,
    "tangent_gradient": toy_tangent_gradient,
    "orthogonal_gradient": toy_orthogonal_gradient,
}
KINDS: dict[str, Callable] = {kind: module.figure for kind, module in _MODULES.items()}


def render(kind: str, runs: list[dict], *, scale: str, title: str, out: str | Path) -> list[Path]:
    """Draws one kind and writes out.png, out.pdf and out.csv (the plotted numbers), each atomically.

    Returns the png and pdf paths. ``out``'s own suffix, if any, is replaced.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown figure kind {kind!r}; expected one of {', '.join(KINDS)}")
    module = _MODULES[kind]
    fig = module.figure(runs, scale=scale, title=title)
    out = Path(out)
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    for path in paths:
        # No creation date in the pdf, so rerunning on the same records gives the same bytes. A tight
        # box: a legend wider than the panels (long experiment labels) grows the figure, never cut.
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else None
        atomic_write(path, lambda f, fmt=path.suffix[1:], md=metadata: fig.savefig(
            f, format=fmt, dpi=DPI, metadata=md, bbox_inches="tight", pad_inches=0.1))

    write_csv(out.with_suffix(".csv"), module.COLUMNS, module.rows(runs))
    return paths
