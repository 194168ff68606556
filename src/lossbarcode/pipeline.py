"""The whole estimate in one place: minima -> curves per pair -> triangles per triple -> barcode.

This is Algorithm 1 of paper 002 (plus paper 004's triangles) for a landscape that fits in one
process; the workflow runs the same steps as separate jobs, one file per arrow.
"""

from __future__ import annotations

import itertools

from torch import Tensor

from . import barcode
from .curves import Curve, fit_curve
from .landscape import Landscape
from .minima import descend, unique_minima
from .simplex import Triangle, fit_triangle


def find_minima(landscape: Landscape, starts: Tensor, *, tol: float = 1e-3, **descend_kw) -> Tensor:
    """Descends from every start together and keeps the distinct minima, lowest first."""
    found = descend(landscape, starts, **descend_kw)
    return found[unique_minima(found, landscape.evaluate(found), tol)]


def fit_curves(landscape: Landscape, minima: Tensor, method: str = "polychain", **curve_kw) -> dict[tuple[int, int], Curve]:
    """One fitted curve for every pair ``i < j`` of minima."""
    return {
        (i, j): fit_curve(landscape, minima[i], minima[j], method, what=f"curve {i}-{j}", **curve_kw)
        for i, j in itertools.combinations(range(len(minima)), 2)
    }


def fit_triangles(landscape: Landscape, minima: Tensor, curves: dict, **triangle_kw) -> dict[tuple[int, int, int], Triangle]:
    """One fitted triangle for every triple ``i < j < k`` of minima, on the curves of its sides."""
    return {
        (i, j, k): fit_triangle(
            landscape, (minima[i], minima[j], minima[k]), (curves[i, j], curves[i, k], curves[j, k]),
            what=f"triangle {i}-{j}-{k}", **triangle_kw,
        )
        for i, j, k in itertools.combinations(range(len(minima)), 3)
    }


def estimate_barcode(
    landscape: Landscape,
    minima: Tensor,
    method: str = "polychain",
    *,
    triangles: bool = False,
    profile_points: int = 61,
    grid: int = 30,
    curve_kw: dict | None = None,
    triangle_kw: dict | None = None,
) -> dict:
    """Fits curves (and triangles) between ``minima`` and returns ``barcode.summary`` of them,
    with the measured minima losses, edge maxima and, with triangles, per-triple lifespans."""
    values = landscape.evaluate(minima).double().cpu().numpy()
    curves = fit_curves(landscape, minima, method, **(curve_kw or {}))
    edges = {pair: float(curve.profile(profile_points)[1].max()) for pair, curve in curves.items()}
    faces, lifespans = {}, {}
    if triangles:
        for triple, triangle in fit_triangles(landscape, minima, curves, **(triangle_kw or {})).items():
            lifespans[triple] = triangle.lifespan(grid, profile_points=profile_points)
            faces[triple] = lifespans[triple]["max"]
    result = barcode.summary(values, edges, faces)
    result.update(
        minima=values.tolist(),
        edges={f"{i}-{j}": w for (i, j), w in edges.items()},
        triangles={"-".join(map(str, t)): s for t, s in lifespans.items()},
    )
    return result
