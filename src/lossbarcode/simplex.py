"""Triangles spanned by three minima and their fitted curves (paper 004), and the index-1 lifespans they give.

The index-1 feature a triangle measures lives on the cycle of the three fitted curves, so the
triangle fills exactly that cycle: it is the cone from a centre ``theta_c`` over it. A barycentric
point t with smallest coordinate t_min (at index k) has radius r = 1 - 3 t_min (1 on the boundary,
0 at the barycentre) and lies on the ray from the barycentre through u = (t - t_min) / r, a point of
the side opposite vertex k; p is u's position along that side's curve, in the curve's own direction.
Then

    psi(t) = r curve_side(p) + (1 - r) theta_c.

For one-bend chains (the paper's curves) this is paper 004 eq. (6): with t sorted as
t_a >= t_b >= t_c, p's half of the chain gives

    psi(t) = (t_a - t_b) theta_a + 2 (t_b - t_c) theta_ab + 3 t_c theta_c

(the paper labels vertex e_i with theta_{4-i}; we label vertex i with theta_i). For any curve kind
the triangle's side (i, j) is the curve from i to j itself, in whichever direction it was fitted.

Pieces. psi is linear on the cone over each straight segment of a chain (for one-bend chains, the six
triangles of eq. (6)'s barycentric subdivision; for a point chain, one thin sliver per pair of
neighbouring knots) and smooth on the cone over a Bezier curve.

Sampling (``grid``, Alg. 2's discretization). The boundary is each side curve's own ``profile``, so the
side maxima are the curves' maxima, the values of the H0 edges, by construction. Inside, rings at
radius r = l / ceil(n / 3): on each ring every piece gets points in proportion to its length in
weight space (n per side in all at r = 1), at cell centres, and at least one, so a piece over crowded
knots is sampled however thin it is in t. ``lifespan`` zooms on the highest interior sample.
``grid_metrics`` also gives the training accuracy at every sample (paper 004 Fig. 1's bottom row),
from the same passes over the data that measure the losses.

Training (Alg. 1). The centre trains, starting at the vertices' mean; with ``train_sides`` the side
curves' own parameters train too (a chain's nodes, a Bezier's bends): for one-bend chains exactly the
paper's trainable side centres theta_ij. The triangle keeps its own copies of the curves. As a
curve does, it checks its maximum (the grid's, refined) after 1/8, 1/4, 1/2 and all of its budget
(``lossbarcode.convergence``), and may stop once it has settled.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .checkpoint import Checkpoint
from .convergence import DOUBLINGS, Convergence, Trace, adaptive_problems, run_checked, stationarity
from .curves import GARIPOV, Curve, curve_state, load_curve, on_random_points
from .landscape import Landscape
from .train import Recipe

log = logging.getLogger("lossbarcode")

SIDES = ((0, 1), (0, 2), (1, 2))
#: Per side, the vertex whose profile point a grid leaves to another side, so each vertex appears once.
_VERTEX_LEFT_TO_ANOTHER_SIDE = (1, 0, 2)


class Triangle(nn.Module):
    """The cone from ``centre`` over the cycle of ``curves`` (sides (0, 1), (0, 2), (1, 2), either direction).

    ``train_sides``: the curves' parameters are parameters of the triangle; otherwise they are fixed
    buffers and ``parameters()`` is the centre alone.
    """

    def __init__(self, vertices: Tensor, curves: Sequence[Curve], train_sides: bool = False):
        super().__init__()
        self.register_buffer("vertices", vertices.detach().clone())
        if len(curves) != 3:
            raise ValueError(f"a triangle needs the three side curves (0,1), (0,2), (1,2), got {len(curves)}")
        # copied through their states, not deep-copied: a fitted curve holds its landscape (model, data)
        self.sides = nn.ModuleList(load_curve(curve_state(c)).to(self.vertices) for c in curves)
        reversed_sides = []
        for (i, j), side in zip(SIDES, self.sides):
            direction = _direction(side, self.vertices[i], self.vertices[j])
            if direction is None:
                raise ValueError(f"the curve given for side ({i}, {j}) does not join vertices {i} and {j}")
            reversed_sides.append(direction)
        self.register_buffer("reversed_sides", torch.tensor(reversed_sides, device=self.vertices.device),
                             persistent=False)
        self.train_sides = train_sides
        if not train_sides:  # training optimises every parameter: fixed sides become buffers
            for side in self.sides:
                for name, value in list(side.named_parameters(recurse=False)):
                    delattr(side, name)
                    side.register_buffer(name, value.detach())
        self.centre = nn.Parameter(self.vertices.mean(0))
        self.landscape: Landscape | None = None
        #: The convergence record of the fit, and its last measurement: ``grid_metrics``' samples, losses
        #: and accuracies, and the ``lifespan`` computed from them.
        self.convergence: dict | None = None
        self.measured: tuple | None = None
        self.measured_lifespan: dict | None = None
        #: Fixed sides' profiles, by how they were measured: a fit's checks measure them once.
        self._side_profiles: dict = {}

    def weights(self, t: Tensor) -> Tensor:
        """Parameter vectors ``[batch, dim]`` at barycentric coordinates ``t`` (``[batch, 3]``)."""
        return self._cone(*self._coordinates(t.to(self.vertices)))

    def _coordinates(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(side, p, r)`` of barycentric points: the side index, the curve parameter, the radius."""
        t_min, k = t.min(-1)
        side = 2 - k  # the side opposite vertex k
        ends = torch.tensor(SIDES, device=t.device)[side]  # [batch, 2]: vertices i < j
        end = torch.where(self.reversed_sides.to(t.device)[side], ends[:, 0], ends[:, 1])  # where the curve runs to
        excess = t - t_min[:, None]
        total = excess.sum(-1)
        p = excess.gather(1, end[:, None])[:, 0] / torch.where(total > 0, total, torch.ones_like(total))
        return side, p, 1 - 3 * t_min

    def _cone(self, side: Tensor, p: Tensor, r: Tensor) -> Tensor:
        """``r * curve_side(p) + (1 - r) * centre``, batched over points on any sides."""
        r = r.to(self.vertices)[:, None]
        rows, parts = [], []
        for s, curve in enumerate(self.sides):
            on_side = torch.nonzero(side == s)[:, 0]
            if len(on_side):
                rows.append(on_side)
                parts.append(r[on_side] * curve.weights(p[on_side]) + (1 - r[on_side]) * self.centre)
        return torch.cat(parts)[torch.argsort(torch.cat(rows))]

    def _barycentric(self, side: Tensor, p: Tensor, r: Tensor) -> Tensor:
        """The barycentric points of ``(side, p, r)``; exact on the boundary (r = 1)."""
        ends = torch.tensor(SIDES)[side]
        reversed_sides = self.reversed_sides.cpu()[side]
        start = torch.where(reversed_sides, ends[:, 1], ends[:, 0])
        end = torch.where(reversed_sides, ends[:, 0], ends[:, 1])
        boundary = torch.zeros(len(side), 3, dtype=torch.float64)
        boundary[torch.arange(len(side)), start] = 1 - p
        boundary[torch.arange(len(side)), end] = p
        return r[:, None] * boundary + ((1 - r) / 3)[:, None]

    @torch.no_grad()
    def grid(self, n: int = 30, landscape: Landscape | None = None, *, profile_points: int = 61,
             refine: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Measured loss on the triangle's samples: ``(points [m, 3] barycentric, loss [m])``.

        Boundary: each side's ``profile(profile_points, refine=refine)``, the curve's own samples.
        Inside: the centre, and ``ceil(n / 3) - 1`` rings on which each piece of the cone gets
        ``max(1, ceil(n * share * r))`` points, ``share`` being the piece's part of its side's length in
        weight space.
        """
        points, losses, _ = self._measure(n, landscape, profile_points, refine, accuracy=False)
        return points, losses

    @torch.no_grad()
    def grid_metrics(self, n: int = 30, landscape: Landscape | None = None, *, profile_points: int = 61,
                     refine: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``grid``'s samples and losses, and the training accuracy at each sample (``[m]``, same order),
        from the same passes over the data: on a landscape with ``metrics`` (a network's), each
        point is measured by ``metrics(w, "train")``, whose loss is what ``evaluate`` returns, so
        the losses are ``grid``'s exactly. On a landscape without accuracy (an analytic function)
        the third item is None.
        """
        return self._measure(n, landscape, profile_points, refine, accuracy=True)

    def _measure(self, n, landscape, profile_points, refine, *, accuracy: bool):
        if n < 1:
            raise ValueError(f"the triangle grid needs n >= 1 points per side, got {n}")
        landscape = self._landscape(landscape)
        accuracy = accuracy and hasattr(landscape, "metrics")
        sides, ps, rs, losses, accuracies = [], [], [], [], []
        for s, curve in enumerate(self.sides):
            t, loss, *hits = (torch.from_numpy(a) for a in self._side_profile(s, landscape, profile_points, refine,
                                                                              accuracy))
            keep = t != self._vertex_position(s, _VERTEX_LEFT_TO_ANOTHER_SIDE[s])
            sides.append(torch.full((int(keep.sum()),), s))
            ps.append(t[keep])
            rs.append(torch.ones(int(keep.sum()), dtype=torch.float64))
            losses.append(loss[keep])
            accuracies += [h[keep] for h in hits]
        side, p, r = self._rings(n)
        sides.append(side)
        ps.append(p)
        rs.append(r)
        if accuracy:
            loss, acc = self._cone_metrics(landscape, side, p, r)
            losses.append(loss)
            accuracies.append(acc)
        else:
            losses.append(self._cone_losses(landscape, side, p, r))
        points = self._barycentric(torch.cat(sides), torch.cat(ps), torch.cat(rs))
        return points.numpy(), torch.cat(losses).numpy(), torch.cat(accuracies).numpy() if accuracy else None

    def _side_profile(self, side: int, landscape: Landscape, profile_points: int, refine: int, accuracy: bool):
        """The profile of the curve of ``side``; measured once while the sides are fixed (a measurement
        draws no random numbers, so it would give the same values again)."""
        key = (side, landscape, profile_points, refine, accuracy)
        profile = None if self.train_sides else self._side_profiles.get(key)
        if profile is None:
            profile = self.sides[side].profile(profile_points, landscape=landscape, refine=refine, accuracy=accuracy)
            if not self.train_sides:
                self._side_profiles[key] = profile
        return profile

    def _vertex_position(self, side: int, vertex: int) -> float:
        """The parameter of ``vertex`` on the curve of ``side``: 0 where the curve starts, 1 where it ends."""
        start = SIDES[side][1] if self.reversed_sides[side] else SIDES[side][0]
        return 0.0 if vertex == start else 1.0

    def _rings(self, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """``(side, p, r)`` of the interior samples: the centre, then every ring of every side."""
        rings = math.ceil(n / 3)
        sides, ps, rs = [torch.zeros(1, dtype=torch.long)], [torch.zeros(1, dtype=torch.float64)], \
            [torch.zeros(1, dtype=torch.float64)]
        for s, curve in enumerate(self.sides):
            breaks = torch.cat([torch.zeros(1), curve.knots().double().cpu(), torch.ones(1)]).unique()
            ends = curve.weights(breaks)
            lengths = torch.linalg.vector_norm(ends[1:] - ends[:-1], dim=-1).double().cpu()
            share = n * lengths / lengths.sum()
            for ring in range(1, rings):
                counts = (share * ring / rings).ceil().clamp_min(1).long().tolist()
                p = torch.cat([torch.lerp(a, b, (torch.arange(c, dtype=torch.float64) + 0.5) / c)
                               for a, b, c in zip(breaks[:-1], breaks[1:], counts)])
                sides.append(torch.full((len(p),), s))
                ps.append(p)
                rs.append(torch.full((len(p),), ring / rings, dtype=torch.float64))
        return torch.cat(sides), torch.cat(ps), torch.cat(rs)

    @torch.no_grad()
    def lifespan(self, n: int = 30, landscape: Landscape | None = None, *, profile_points: int = 61,
                 refine: int = 3, grid: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
        """Paper 004 Alg. 2 on ``grid(n, profile_points=, refine=)``, the interior maximum refined by
        ``refine`` rounds of a local zoom.

        Returns the three side maxima (sides (0,1), (0,2), (1,2): the side curves' profile maxima),
        the triangle's maximum, the bar ``[birth, death]`` = [highest side maximum, triangle
        maximum], and where the maximum is (``argmax``, barycentric). ``grid``: the result of
        ``self.grid(...)`` if already measured (on a network each point costs a pass over the data).
        """
        landscape = self._landscape(landscape)
        if grid is None:
            grid = self.grid(n, landscape, profile_points=profile_points, refine=refine)
        points, losses = (torch.from_numpy(np.asarray(a)) for a in grid)
        side_max = [float(losses[points[:, 3 - i - j] == 0].max()) for i, j in SIDES]
        inside, at = self._zoomed_max(landscape, points, losses, n, refine)
        if max(side_max) >= inside:
            at = points[int(torch.argmax(losses))]
        top = max(inside, *side_max)
        return {"side_max": side_max, "max": top, "bar": [max(side_max), top], "argmax": at.tolist()}

    def _zoomed_max(self, landscape, points, losses, n, rounds) -> tuple[float, Tensor]:
        """The highest interior sample, improved by ``rounds`` of 5 x 5 grids in (p, r) around it, and
        where it is (barycentric).

        The first grid spans one ring step in r and the sampling step of the argmax's ring in p, so
        it stays inside a thin piece; each round narrows by 4. Candidates on the boundary are left
        out: the boundary is the curves' profiles.
        """
        interior = torch.nonzero(points.min(-1).values > 0)[:, 0]
        best_index = interior[int(torch.argmax(losses[interior]))]
        best = float(losses[best_index])
        side, p, r = self._coordinates(points)
        s, p0, r0 = int(side[best_index]), p[best_index], r[best_index]
        gaps = (p[(side == s) & ((r - r0).abs() < 1e-9)] - p0).abs()
        dp, dr = float(gaps[gaps > 0].min()) if bool((gaps > 0).any()) else 1.0, 1 / math.ceil(n / 3)
        offsets = torch.linspace(-1, 1, 5, dtype=torch.float64)
        for _ in range(rounds):
            cand_p = (p0 + dp * offsets[None, :]).clamp(0, 1).expand(5, 5).reshape(-1)
            cand_r = (r0 + dr * offsets[:, None]).expand(5, 5).reshape(-1)
            inside = (cand_r >= 0) & (cand_r < 1)
            cand_p, cand_r = cand_p[inside], cand_r[inside]
            values = self._cone_losses(landscape, torch.full((len(cand_p),), s), cand_p, cand_r)
            if float(values.max()) > best:
                top = int(torch.argmax(values))
                best, p0, r0 = float(values[top]), cand_p[top], cand_r[top]
            dp, dr = dp / 4, dr / 4
        return best, self._barycentric(torch.tensor([s]), torch.as_tensor(p0, dtype=torch.float64).reshape(1),
                                       torch.as_tensor(r0, dtype=torch.float64).reshape(1))[0]

    def _cone_losses(self, landscape: Landscape, side: Tensor, p: Tensor, r: Tensor) -> Tensor:
        device = self.vertices.device
        w = self._cone(side.to(device), p.to(device), r.to(device))
        return landscape.evaluate(w).detach().double().cpu()

    def _cone_metrics(self, landscape: Landscape, side: Tensor, p: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
        """Training loss and accuracy of the cone's points, from one measurement."""
        device = self.vertices.device
        measured = landscape.metrics(self._cone(side.to(device), p.to(device), r.to(device)), "train")
        return measured["loss"].detach().double().cpu(), measured["accuracy"].detach().double().cpu()

    def _landscape(self, landscape: Landscape | None) -> Landscape:
        landscape = landscape or self.landscape
        if landscape is None:
            raise ValueError("this triangle has no landscape attached; pass landscape=")
        return landscape


def triangle_state(triangle: Triangle) -> dict:
    """Everything needed to rebuild ``triangle`` (plain tensors and its curves' states, for ``torch.save``)."""
    return {"vertices": triangle.vertices.detach().cpu(), "sides": [curve_state(c) for c in triangle.sides],
            "centre": triangle.centre.detach().cpu(), "train_sides": triangle.train_sides}


def load_triangle(saved: dict) -> Triangle:
    """The triangle saved by ``triangle_state``."""
    triangle = Triangle(saved["vertices"], [load_curve(s) for s in saved["sides"]], train_sides=saved["train_sides"])
    with torch.no_grad():
        triangle.centre.copy_(saved["centre"])
    return triangle


def sample_simplex(count: int, generator: torch.Generator) -> Tensor:
    """Uniform samples on the standard simplex by paper 004 Alg. 1's reflection of the unit square."""
    u = torch.rand(count, 2, generator=generator, dtype=torch.float64)
    flip = u.sum(-1) > 1
    u[flip] = 1 - u[flip].flip(-1)
    return torch.cat([u, 1 - u.sum(-1, keepdim=True)], dim=-1)


def fit_triangle(
    landscape: Landscape,
    vertices: tuple[Tensor, Tensor, Tensor],
    curves: Sequence[Curve],
    *,
    train_sides: bool = False,
    recipe: Recipe | None = None,
    weight_decay: float = 0.0,
    points_per_step: int = 1,
    convergence: Convergence | None = None,
    grid: int = 30,
    profile_points: int = 61,
    refine: int = 3,
    seed: int = 0,
    steps_per_epoch: int | None = None,
    what: str = "triangle",
    checkpoint: Checkpoint | None = None,
) -> Triangle:
    """Fits the triangle on three minima and their curves (paper 004 Alg. 1).

    ``curves`` are the fitted curves for the sides (0, 1), (0, 2), (1, 2), in that order (either
    direction); the triangle is the cone from its centre over their cycle, and keeps copies of them.
    The centre starts at the mean of the vertices; each step samples ``points_per_step`` uniform
    points of the simplex and minimises their mean loss (plus ``0.5 * weight_decay * |w|^2``),
    training the centre and, with ``train_sides``, the curves' own parameters too (for one-bend
    chains: the side centres). Default recipe: 3000 steps of SGD, lr 1e-2, momentum 0.9, Garipov's
    schedule (the curves' recipe).

    The maximum is measured (``grid_metrics(grid, profile_points=, refine=)`` and ``lifespan``) at the
    checks of ``convergence``; the triangle keeps the record (``convergence``, its height measured
    from the highest side maximum) and the last measurement (``measured``, ``measured_lifespan``).
    With ``convergence.until_converged`` (a constant schedule) the budget stops once the maximum
    has settled. A ``checkpoint`` saves the fit every few epochs and resumes a saved one.
    """
    verts = torch.stack([landscape.as_point(v) for v in vertices])
    for i, j in SIDES:
        if torch.equal(verts[i], verts[j]):
            raise ValueError(f"{what}: vertices {i} and {j} are the same point; a triangle needs three distinct minima")
    if len(curves) != 3:
        raise ValueError(f"{what}: need the three side curves (0,1), (0,2), (1,2), got {len(curves)}")
    for (i, j), curve in zip(SIDES, curves):
        if _direction(curve, verts[i], verts[j]) is None:
            raise ValueError(f"{what}: the curve given for side ({i}, {j}) does not join vertices {i} and {j}")
    convergence, recipe = (convergence or Convergence()).of(DOUBLINGS), recipe or GARIPOV
    if convergence.until_converged and (problems := adaptive_problems(recipe.schedule)):
        raise ValueError(f"{what}: {'; '.join(problems)}")
    triangle = Triangle(verts, curves, train_sides=train_sides)
    generator = torch.Generator().manual_seed(seed)
    trace = Trace(floor=math.nan)
    if checkpoint is not None:
        checkpoint.track_generator("triangle samples", generator)
        checkpoint.track("convergence trace", trace.state, trace.load)
    advance = on_random_points(
        triangle, lambda: sample_simplex(points_per_step, generator), landscape, recipe,
        weight_decay=weight_decay, steps_per_epoch=steps_per_epoch, what=what, checkpoint=checkpoint,
    )
    triangle.landscape = landscape

    def measure(step: int) -> float:
        triangle.measured = triangle.grid_metrics(grid, landscape, profile_points=profile_points, refine=refine)
        triangle.measured_lifespan = triangle.lifespan(grid, landscape, profile_points=profile_points, refine=refine,
                                                       grid=triangle.measured[:2])
        trace.floor = triangle.measured_lifespan["bar"][0]  # the sides may train: the birth of the latest check
        return triangle.measured_lifespan["max"]

    run_checked(advance, measure, recipe.steps, convergence, trace,
                resume_at=checkpoint.step if checkpoint is not None else 0, what=what)
    triangle.convergence = trace.record(convergence, recipe.steps, _triangle_stationarity(triangle, landscape))
    log.info("%s: max %.6g, %s after %d of %d steps", what, trace.maxima[-1], triangle.convergence["verdict"],
             triangle.convergence["used"], recipe.steps)
    return triangle


def _triangle_stationarity(triangle: Triangle, landscape: Landscape) -> dict:
    """The gradient at the triangle's highest measured point, along its two directions and across them;
    the point is moved inside by the differences' step if it lies on (or next to) the boundary."""
    step = 1e-3
    at = torch.tensor(triangle.measured_lifespan["argmax"], dtype=torch.float64).clamp_min(2 * step)
    directions = torch.tensor([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]], dtype=torch.float64)
    return stationarity(landscape, triangle.weights, at / at.sum(), directions, step)


def _direction(curve: Curve, a: Tensor, b: Tensor) -> bool | None:
    """False if ``curve`` runs from ``a`` to ``b``, True if from ``b`` to ``a``, None if it does not join them."""
    s, e = curve.start.to(a), curve.end.to(a)
    if torch.equal(s, a) and torch.equal(e, b):
        return False
    if torch.equal(s, b) and torch.equal(e, a):
        return True
    return None
