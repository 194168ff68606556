"""Triangles spanned by three minima (paper 004), and the index-1 lifespans they give.

A triangle is the piecewise-linear map of the barycentric subdivision of the standard simplex
(paper 004, eq. 6): vertex i goes to the minimum ``vertices[i]``, the midpoint of side (i, j) to the
side centre ``theta_ij`` (the middle of the fitted curve from i to j), the barycentre to the
centre ``theta_123``. With the barycentric coordinates of t sorted as t_a >= t_b >= t_c,

    psi(t) = (t_a - t_b) theta_a + 2 (t_b - t_c) theta_ab + 3 t_c theta_abc,

which is eq. (6) written once instead of six times (the paper labels vertex e_i with theta_{4-i};
we label vertex i with theta_i). Along a side the map is the one-bend chain through the side's
centre, so the triangle's boundary is the cycle of the three curves.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from .checkpoint import Checkpoint
from .curves import GARIPOV, train_on_random_points
from .landscape import Landscape
from .train import Recipe

SIDES = ((0, 1), (0, 2), (1, 2))


class Triangle(nn.Module):
    def __init__(self, vertices: Tensor, side_centres: Tensor, train_sides: bool = False):
        super().__init__()
        self.register_buffer("vertices", vertices.detach().clone())
        sides = side_centres.detach().clone()
        if train_sides:
            self.sides = nn.Parameter(sides)
        else:
            self.register_buffer("sides", sides)
        self.centre = nn.Parameter(self.vertices.mean(0))
        self.landscape: Landscape | None = None

    def weights(self, t: Tensor) -> Tensor:
        """Parameter vectors ``[batch, dim]`` at barycentric coordinates ``t`` (``[batch, 3]``)."""
        t = t.to(self.vertices)
        sorted_t, order = torch.sort(t, dim=-1, descending=True)
        a, b = order[:, 0], order[:, 1]
        side_of = torch.tensor([[-1, 0, 1], [0, -1, 2], [1, 2, -1]], device=t.device)
        side = self.sides[side_of[a, b]]
        return (
            (sorted_t[:, :1] - sorted_t[:, 1:2]) * self.vertices[a]
            + 2 * (sorted_t[:, 1:2] - sorted_t[:, 2:]) * side
            + 3 * sorted_t[:, 2:] * self.centre
        )

    @torch.no_grad()
    def grid(self, n: int = 30, landscape: Landscape | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Measured loss on the simplex grid {(i, j, k) / n}: ``(points [m, 3], loss [m])``."""
        points = simplex_grid(n)
        return points.numpy(), self._losses(landscape, points).numpy()

    @torch.no_grad()
    def lifespan(self, n: int = 30, landscape: Landscape | None = None, refine: int = 3,
                 grid: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
        """Paper 004 Alg. 2 on the grid of step 1/n, each maximum refined by a local zoom.

        Returns the three side maxima (sides (0,1), (0,2), (1,2)), the triangle's maximum, and the
        bar ``[birth, death]`` = [highest side maximum, triangle maximum]. ``grid``: the result of
        ``self.grid(n)`` if already measured (on a network each point costs a pass over the data).
        """
        if grid is None:
            points = simplex_grid(n)
            losses = self._losses(landscape, points)
        else:
            points, losses = (torch.from_numpy(np.asarray(a)) for a in grid)
        side_max = []
        for i, j in SIDES:
            k = 3 - i - j
            on_side = points[:, k] == 0
            side_max.append(self._refined_max(landscape, points[on_side], losses[on_side], 1 / n, refine, k))
        top = max(self._refined_max(landscape, points, losses, 1 / n, refine, None), *side_max)
        return {"side_max": side_max, "max": top, "bar": [max(side_max), top]}

    def _refined_max(self, landscape, points, losses, step, rounds, side_zero) -> float:
        """The maximum of ``losses``, improved by ``rounds`` of zooming grids around the argmax.

        Inside the triangle the zoom is a 5 x 5 grid in the simplex's plane; on a side (the
        coordinate ``side_zero`` is 0) it is 9 points along that side.
        """
        best_point, best = points[int(torch.argmax(losses))], float(losses.max())
        offsets = torch.linspace(-1, 1, 9 if side_zero is not None else 5, dtype=torch.float64)
        if side_zero is not None:
            i, j = (c for c in range(3) if c != side_zero)
            directions = torch.zeros(1, 3, dtype=torch.float64)
            directions[0, i], directions[0, j] = 1.0, -1.0
            moves = offsets[:, None] * directions
        else:
            u = torch.tensor([1.0, -1.0, 0.0], dtype=torch.float64)
            v = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64)
            moves = (offsets[:, None, None] * u + offsets[None, :, None] * v).reshape(-1, 3)
        for _ in range(rounds):
            cand = (best_point + step * moves).clamp_min(0)
            cand = cand / cand.sum(-1, keepdim=True)
            values = self._losses(landscape, cand)
            if float(values.max()) > best:
                best, best_point = float(values.max()), cand[int(torch.argmax(values))]
            step /= 4
        return best

    def _losses(self, landscape: Landscape | None, points: Tensor) -> Tensor:
        landscape = landscape or self.landscape
        if landscape is None:
            raise ValueError("this triangle has no landscape attached; pass landscape=")
        w = self.weights(points)
        return landscape.evaluate(w).detach().double().cpu()


def simplex_grid(n: int) -> Tensor:
    """All barycentric points (i, j, k) / n with i + j + k = n, as a float64 ``[m, 3]`` tensor."""
    if n < 1:
        raise ValueError(f"the simplex grid needs n >= 1 subdivisions, got {n}")
    rows = [(i, j, n - i - j) for i in range(n + 1) for j in range(n + 1 - i)]
    return torch.tensor(rows, dtype=torch.float64) / n


def sample_simplex(count: int, generator: torch.Generator) -> Tensor:
    """Uniform samples on the standard simplex by paper 004 Alg. 1's reflection of the unit square."""
    u = torch.rand(count, 2, generator=generator, dtype=torch.float64)
    flip = u.sum(-1) > 1
    u[flip] = 1 - u[flip].flip(-1)
    return torch.cat([u, 1 - u.sum(-1, keepdim=True)], dim=-1)


def fit_triangle(
    landscape: Landscape,
    vertices: tuple[Tensor, Tensor, Tensor],
    curves,
    *,
    train_sides: bool = False,
    recipe: Recipe | None = None,
    weight_decay: float = 0.0,
    points_per_step: int = 1,
    seed: int = 0,
    steps_per_epoch: int | None = None,
    what: str = "triangle",
    checkpoint: Checkpoint | None = None,
) -> Triangle:
    """Fits the triangle on three minima (paper 004 Alg. 1).

    ``curves`` are the fitted curves for the sides (0, 1), (0, 2), (1, 2), in that order (either
    direction); their midpoints ``weights(0.5)`` become the side centres. The centre starts at the
    mean of the vertices; each step samples ``points_per_step`` uniform points of the simplex and
    minimises their mean loss (plus ``0.5 * weight_decay * |w|^2``), training the centre and, with
    ``train_sides``, the side centres too. Default recipe: 3000 steps of SGD, lr 1e-2, momentum
    0.9, Garipov's schedule (the curves' recipe). A ``checkpoint`` saves the fit every few epochs
    and resumes a saved one.
    """
    verts = torch.stack([landscape.as_point(v) for v in vertices])
    for i, j in SIDES:
        if torch.equal(verts[i], verts[j]):
            raise ValueError(f"{what}: vertices {i} and {j} are the same point; a triangle needs three distinct minima")
    if len(curves) != 3:
        raise ValueError(f"{what}: need the three side curves (0,1), (0,2), (1,2), got {len(curves)}")
    centres = []
    for (i, j), curve in zip(SIDES, curves):
        if not _joins(curve, verts[i], verts[j]):
            raise ValueError(f"{what}: the curve given for side ({i}, {j}) does not join vertices {i} and {j}")
        centres.append(curve.weights(torch.tensor([0.5]))[0].detach().to(verts))
    triangle = Triangle(verts, torch.stack(centres), train_sides=train_sides)
    generator = torch.Generator().manual_seed(seed)
    if checkpoint is not None:
        checkpoint.track_generator("triangle samples", generator)
    train_on_random_points(
        triangle, lambda: sample_simplex(points_per_step, generator), landscape, recipe or GARIPOV,
        weight_decay=weight_decay, steps_per_epoch=steps_per_epoch, what=what, checkpoint=checkpoint,
    )
    return triangle


def _joins(curve, a: Tensor, b: Tensor) -> bool:
    s, e = curve.start.to(a), curve.end.to(a)
    return (torch.equal(s, a) and torch.equal(e, b)) or (torch.equal(s, b) and torch.equal(e, a))
