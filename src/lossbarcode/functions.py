"""Analytic 2-D landscapes with known topology: oracles for the barcode estimates.

Each is an ``AnalyticFunction``: a torch function on ``[batch, 2]`` points and a box that holds all
of its minima and saddles, with the function high on the box's boundary, so that sublevel-set
persistence on a fine grid of the box (``barcode.sublevel_persistence``) is the exact barcode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class AnalyticFunction:
    name: str
    fn: Callable[[Tensor], Tensor]
    bounds: tuple[tuple[float, float], tuple[float, float]]

    def landscape(self):
        from .landscape import FunctionLandscape

        return FunctionLandscape(self.fn, 2)

    def on_grid(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(xs, ys, values[len(xs), len(ys)])`` on an ``n`` x ``n`` grid of the box."""
        xs = np.linspace(*self.bounds[0], n)
        ys = np.linspace(*self.bounds[1], n)
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        points = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1))
        with torch.no_grad():
            values = self.fn(points).numpy().reshape(n, n)
        return xs, ys, values

    def random_points(self, count: int, generator: torch.Generator) -> Tensor:
        lo = torch.tensor([b[0] for b in self.bounds], dtype=torch.float64)
        hi = torch.tensor([b[1] for b in self.bounds], dtype=torch.float64)
        return lo + (hi - lo) * torch.rand(count, 2, generator=generator, dtype=torch.float64)


def _camel(p: Tensor) -> Tensor:
    x, y = p[:, 0], p[:, 1]
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


six_hump_camel = AnalyticFunction("six-hump camel", _camel, ((-2.2, 2.2), (-1.2, 1.2)))


def gaussian_wells(centres, depths, widths, confinement: float = 0.05, name: str = "gaussian wells") -> AnalyticFunction:
    """``confinement * |x|^2 - sum_k depth_k exp(-|x - c_k|^2 / (2 width_k^2))``."""
    c = torch.tensor(centres, dtype=torch.float64)
    d = torch.tensor(depths, dtype=torch.float64)
    w = torch.tensor(widths, dtype=torch.float64)

    def fn(p: Tensor) -> Tensor:
        sq = ((p[:, None, :] - c.to(p)) ** 2).sum(-1)
        return confinement * (p * p).sum(-1) - (d.to(p) * torch.exp(-sq / (2 * w.to(p) ** 2))).sum(-1)

    reach = float(c.abs().max() + 3 * w.max())
    return AnalyticFunction(name, fn, ((-reach, reach), (-reach, reach)))


#: Five wells of different depths and widths, no symmetry.
five_wells = gaussian_wells(
    centres=[(-1.6, -0.9), (0.3, -1.5), (1.7, 0.2), (-0.4, 1.3), (0.2, 0.1)],
    depths=[1.0, 0.8, 1.3, 0.6, 0.9],
    widths=[0.55, 0.5, 0.6, 0.45, 0.5],
    name="five gaussian wells",
)


def ring_of_wells(wells: int = 3, radius: float = 1.0, peak: float = 2.0, name: str = "three wells on a ring") -> AnalyticFunction:
    """Wells on a circle around a central peak: one index-1 feature, born at the highest saddle of
    the ring and dying at the peak. Polar form ``2 (r - radius)^2 + 0.5 (1 - cos(k phi)) r^3
    + 0.15 sin(phi + 0.3) r + peak exp(-r^2 / (2 (radius / 3)^2))``; the sine makes the wells
    unequal so that no two saddles tie."""

    def fn(p: Tensor) -> Tensor:
        r = torch.linalg.vector_norm(p, dim=-1)
        phi = torch.atan2(p[:, 1], p[:, 0])
        ring = 2.0 * (r - radius) ** 2
        # The angular terms fade towards the centre (as r^3 and r), keeping the peak smooth.
        wells_term = 0.5 * (1 - torch.cos(wells * phi)) * r**3 + 0.15 * torch.sin(phi + 0.3) * r
        bump = peak * torch.exp(-(r**2) / (2 * (radius / 3) ** 2))
        return ring + wells_term + bump

    box = 2.2 * radius
    return AnalyticFunction(name, fn, ((-box, box), (-box, box)))


def bent_valley(bend: float = 3.6, name: str = "bent valley") -> AnalyticFunction:
    """Two minima at the ends of a circular valley of radius 1 that turns by ``bend`` radians,
    with a saddle halfway along: the minimum-energy path follows the arc, so a curve with few bends
    has to cut across the valley's steep walls. ``4 (r - 1)^2 + 0.3 (1 + cos(pi phi / h))
    + 0.05 phi / h + 4 relu(|phi| - h)^2`` with ``h = bend / 2``: minima -0.05 and 0.05, saddle 0.6."""
    half = bend / 2

    def fn(p: Tensor) -> Tensor:
        r = torch.linalg.vector_norm(p, dim=-1)
        phi = torch.atan2(p[:, 1], p[:, 0])
        along = 0.3 * (1 + torch.cos(math.pi * phi / half)) + 0.05 * phi / half
        beyond = 4 * torch.relu(phi.abs() - half) ** 2
        return 4.0 * (r - 1.0) ** 2 + along + beyond

    return AnalyticFunction(name, fn, ((-2.0, 2.0), (-2.0, 2.0)))


def _wells_and_walls(s: Tensor, wells, walls) -> Tensor:
    """A profile along a valley's coordinate ``s`` (or the differences ``s[:, k]`` to each feature):
    Gaussian wells ``(centre, depth, width)`` and walls ``(centre, height, width)``."""
    value = torch.zeros_like(s[..., 0] if s.ndim > 1 else s)
    for k, (centre, size, width) in enumerate([(c, -d, w) for c, d, w in wells] + list(walls)):
        offset = s[:, k] if s.ndim > 1 else s - centre
        value = value + size * torch.exp(-(offset**2) / (2 * width**2))
    return value


#: Wells along ``arc_of_wells``'s valley (angle, depth, width) and the walls between them (angle, height,
#: width): a thin, a wide and a very thin wall, of different heights.
ARC_WELLS = [(-1.6, 0.3, 0.25), (-0.55, 0.45, 0.25), (0.5, 0.35, 0.25), (1.55, 0.4, 0.25)]
ARC_WALLS = [(-1.075, 0.5, 0.05), (-0.025, 0.9, 0.25), (1.025, 0.7, 0.035)]


def arc_of_wells(name: str = "four wells along an arc") -> AnalyticFunction:
    """A circular valley of radius 1 turning by about 240 degrees, with four wells along it separated by
    walls of widths 0.035 to 0.25 (``ARC_WELLS``, ``ARC_WALLS``; angles in radians, which at r = 1 are
    lengths): every minimum-energy path follows the arc and crosses walls thinner than a straight
    profile's spacing. ``4 (r - 1)^2 + r^2 (wells and walls(phi) + 4 relu(|phi| - 2.1)^2)``; the r^2 fades
    the angular terms towards the centre, where the angle is undefined, and none jumps across phi = pi."""

    def fn(p: Tensor) -> Tensor:
        r = torch.linalg.vector_norm(p, dim=-1)
        phi = torch.atan2(p[:, 1], p[:, 0])
        beyond = 4 * torch.relu(phi.abs() - 2.1) ** 2
        return 4.0 * (r - 1.0) ** 2 + r**2 * (_wells_and_walls(phi, ARC_WELLS, ARC_WALLS) + beyond)

    return AnalyticFunction(name, fn, ((-2.0, 2.0), (-2.0, 2.0)))


#: Wells along ``sine_valley`` (x, depth, width) and walls (x, height, width).
SINE_WELLS = [(-1.9, 0.4, 0.3), (-0.6, 0.3, 0.3), (0.6, 0.5, 0.3), (1.9, 0.35, 0.3)]
SINE_WALLS = [(-1.25, 0.6, 0.03), (0.0, 0.45, 0.4), (1.25, 0.8, 0.1)]


def sine_valley(name: str = "four wells along a sine valley") -> AnalyticFunction:
    """A valley along y = 0.7 sin(1.5 x), steep across (5 times the squared offset), with four wells and
    walls of widths 0.03, 0.4 and 0.1 in x between them (``SINE_WELLS``, ``SINE_WALLS``): paths between
    far minima snake through the valley's bends and over thin and wide walls."""

    def fn(p: Tensor) -> Tensor:
        x, y = p[:, 0], p[:, 1]
        across = 5.0 * (y - 0.7 * torch.sin(1.5 * x)) ** 2
        beyond = 4 * torch.relu(x.abs() - 2.4) ** 2
        return across + _wells_and_walls(x, SINE_WELLS, SINE_WALLS) + beyond

    return AnalyticFunction(name, fn, ((-3.0, 3.0), (-2.0, 2.0)))


#: Wells around ``ring_valley`` (angle, depth, width) and walls (angle, height, width).
RING_WELLS = [(0.0, 0.4, 0.4), (2.2, 0.3, 0.4), (4.1, 0.5, 0.4)]
RING_WALLS = [(1.1, 0.7, 0.04), (3.15, 0.5, 0.12), (5.2, 0.9, 0.35)]


def ring_valley(name: str = "three wells in a ring valley") -> AnalyticFunction:
    """A closed circular valley of radius 1 with three wells and walls of widths 0.04, 0.12 and 0.35
    between them (``RING_WELLS``, ``RING_WALLS``, angles wrapped to the nearest turn): three minima,
    curved paths, and a hill in the middle (``2 exp(-r^2 / 0.18)``), so one index-1 bar too. The angular
    terms are multiplied by r^2, which fades them towards the centre, where the angle is undefined."""
    features = RING_WELLS + RING_WALLS

    def fn(p: Tensor) -> Tensor:
        r = torch.linalg.vector_norm(p, dim=-1)
        phi = torch.atan2(p[:, 1], p[:, 0])
        angles = torch.tensor([c for c, _, _ in features], dtype=p.dtype, device=p.device)
        offsets = torch.remainder(phi[:, None] - angles + math.pi, 2 * math.pi) - math.pi
        hill = 2.0 * torch.exp(-(r**2) / 0.18)
        return 4.0 * (r - 1.0) ** 2 + r**2 * _wells_and_walls(offsets, RING_WELLS, RING_WALLS) + hill

    return AnalyticFunction(name, fn, ((-2.0, 2.0), (-2.0, 2.0)))
