"""Curves between two minima, and how to fit them so that their highest loss is as low as possible.

A curve is a small module with a clear ``weights(t)``: it maps ``t`` in [0, 1] (a ``[batch]``
tensor) to parameter vectors ``[batch, dim]``, with ``weights(0) = start`` and ``weights(1) = end``.

Two shapes:
  ``Bezier``: control points start, bend_1..bend_k, end, mixed by Bernstein polynomials;
  ``Chain``: the polygonal line through nodes start, node_1..node_k, end placed at fixed positions
  in t (uniform for Garipov's polygonal chain, refined by insertion for the point chain).

Three ways to fit (``fit_curve(method=...)``):
  ``bezier`` and ``polychain``: Garipov et al. (2018); bends start on the straight line and are
  trained with one random t ~ U(0, 1) per step, endpoints fixed, L2 on the sampled point;
  ``pointchain``: paper 002's first realization: every node moves with its gradient minus half of
  its components along the two neighbouring chain directions (a nudged elastic band without
  springs), and every ``insert_every`` steps midpoints are inserted into the two intervals whose
  midpoint loss is highest.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from .checkpoint import Checkpoint
from .landscape import Landscape
from .train import Recipe, make_optimizer, optimize

METHODS = ("bezier", "polychain", "pointchain")
#: Default recipe of Garipov-style training (curves and triangles).
GARIPOV = Recipe(steps=3000, lr=1e-2, momentum=0.9, schedule="garipov")


class Curve(nn.Module):
    """Base class: fixed endpoints, a ``weights(t)`` map, and the loss profile along it."""

    method: str

    def __init__(self, start: Tensor, end: Tensor):
        super().__init__()
        self.register_buffer("start", start.detach().clone())
        self.register_buffer("end", end.detach().clone())
        self.landscape: Landscape | None = None

    def weights(self, t: Tensor) -> Tensor:
        """Parameter vectors ``[batch, dim]`` at ``t`` (``[batch]``, any dtype or device)."""
        raise NotImplementedError

    def knots(self) -> Tensor:
        """Values of t where the curve may have a corner or a control point (evaluated exactly)."""
        return torch.empty(0)

    @torch.no_grad()
    def profile(self, n: int = 61, landscape: Landscape | None = None, refine: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Measured loss along the curve: ``(t, loss)``, sorted by t.

        ``n`` evenly spaced values of t, the curve's knots, and ``refine`` rounds of a local
        search that zooms in on the highest point, so that the maximum (the saddle estimate) does
        not depend on where the grid happens to fall.
        """
        landscape = landscape or self.landscape
        if landscape is None:
            raise ValueError("this curve has no landscape attached; pass landscape=")
        if n < 2:
            raise ValueError(f"a profile needs at least 2 points, got n={n}")
        ts = torch.cat([torch.linspace(0, 1, n, dtype=torch.float64), self.knots().double()])
        losses = self._losses(landscape, ts)
        step = 1.0 / (n - 1)
        for _ in range(refine):
            best = float(ts[int(torch.argmax(losses))])
            local = (best + step * torch.linspace(-1, 1, 9, dtype=torch.float64)).clamp(0, 1)
            ts = torch.cat([ts, local])
            losses = torch.cat([losses, self._losses(landscape, local)])
            step /= 4
        t_np, loss_np = ts.numpy(), losses.numpy()
        t_unique, first = np.unique(t_np, return_index=True)
        return t_unique, loss_np[first]

    def _losses(self, landscape: Landscape, ts: Tensor) -> Tensor:
        w = self.weights(ts)
        return landscape.evaluate(w).detach().double().cpu()


class Bezier(Curve):
    method = "bezier"

    def __init__(self, start: Tensor, end: Tensor, bends: int = 1):
        super().__init__(start, end)
        s = torch.arange(1, bends + 1, dtype=start.dtype, device=start.device) / (bends + 1)
        self.bends = nn.Parameter(torch.lerp(self.start, self.end, s[:, None]))
        degree = bends + 1
        self.register_buffer(
            "binomial", torch.tensor([math.comb(degree, k) for k in range(degree + 1)], dtype=start.dtype)
        )

    def weights(self, t: Tensor) -> Tensor:
        t = t.to(self.start)[:, None]
        k = torch.arange(len(self.binomial), dtype=t.dtype, device=t.device)
        coeffs = self.binomial * t**k * (1 - t) ** (len(self.binomial) - 1 - k)
        controls = torch.cat([self.start[None], self.bends, self.end[None]])
        return coeffs @ controls


class Chain(Curve):
    """The polygonal line through ``start, nodes..., end`` at increasing positions in t."""

    def __init__(self, start: Tensor, end: Tensor, nodes: int = 1, method: str = "polychain"):
        super().__init__(start, end)
        self.method = method
        positions = torch.linspace(0, 1, nodes + 2, dtype=start.dtype, device=start.device)
        self.register_buffer("positions", positions)
        self.nodes = nn.Parameter(torch.lerp(self.start, self.end, positions[1:-1, None]))

    def points(self) -> Tensor:
        return torch.cat([self.start[None], self.nodes, self.end[None]])

    def knots(self) -> Tensor:
        return self.positions[1:-1].detach().cpu()

    def weights(self, t: Tensor) -> Tensor:
        t = t.to(self.positions)
        i = (torch.searchsorted(self.positions, t, right=True) - 1).clamp(0, len(self.positions) - 2)
        left, right = self.positions[i], self.positions[i + 1]
        frac = ((t - left) / (right - left))[:, None]
        p = self.points()
        return torch.lerp(p[i], p[i + 1], frac)

    def insert(self, t: Tensor) -> None:
        """Adds nodes at positions ``t`` (strictly inside existing intervals), on the current line."""
        t = t.to(self.positions.dtype)
        nodes = torch.cat([self.nodes.detach(), self.weights(t).detach()])
        inner = torch.cat([self.positions[1:-1], t])
        order = torch.argsort(inner)
        self.positions = torch.cat([self.positions[:1], inner[order], self.positions[-1:]])
        self.nodes = nn.Parameter(nodes[order])


def curve_state(curve: Curve) -> dict:
    """Everything needed to rebuild ``curve`` (plain tensors, for ``torch.save``)."""
    return {"method": curve.method, "state": {k: v.detach().cpu() for k, v in curve.state_dict().items()}}


def load_curve(saved: dict) -> Curve:
    """The curve saved by ``curve_state``."""
    state = saved["state"]
    if saved["method"] == "bezier":
        curve: Curve = Bezier(state["start"], state["end"], bends=len(state["bends"]))
    else:
        curve = Chain(state["start"], state["end"], nodes=len(state["positions"]) - 2, method=saved["method"])
    curve.load_state_dict(state)
    return curve


def make_curve(method: str, start: Tensor, end: Tensor, bends: int = 1) -> Curve:
    """An untrained curve of ``method`` with ``bends`` interior control points on the straight line."""
    if method not in METHODS:
        raise ValueError(f"unknown curve method {method!r}; choose one of {METHODS}")
    if bends < 1:
        raise ValueError(f"a curve needs at least one bend, got bends={bends}")
    return Bezier(start, end, bends) if method == "bezier" else Chain(start, end, bends, method)


def fit_curve(
    landscape: Landscape,
    a: Tensor,
    b: Tensor,
    method: str = "polychain",
    *,
    bends: int | None = None,
    recipe: Recipe | None = None,
    weight_decay: float = 0.0,
    points_per_step: int = 1,
    insert_every: int | None = None,
    l2: float = 0.0,
    monitor: Callable[[int, Chain, Tensor], None] | None = None,
    seed: int = 0,
    steps_per_epoch: int | None = None,
    what: str = "curve",
    checkpoint: Checkpoint | None = None,
) -> Curve:
    """Fits a low-loss curve from ``a`` to ``b`` on ``landscape``.

    bezier / polychain (Garipov et al.): ``bends`` interior control points (default 1, the
    paper's "polygonal chain with one bend"); each step samples ``points_per_step`` values of
    t ~ U(0, 1) and minimises their mean loss plus ``0.5 * weight_decay * |w(t)|^2``.
    Default recipe: 3000 steps of SGD, lr 1e-2, momentum 0.9, Garipov's schedule.

    pointchain (paper 002): ``bends`` interior points at first (default 10), all trained
    together with their gradients' chain-tangent parts halved away, plus ``l2`` times the sum of
    the points' (unsquared) norms; every ``insert_every`` steps (default a tenth of the budget)
    two midpoints go into the intervals of highest midpoint loss. ``monitor(step, chain, grad)``,
    if given, sees every step's chain and the gradient at its interior points before projection.
    Default recipe: 3000 steps of SGD, lr 1e-2, no momentum, constant rate.

    A ``checkpoint`` saves the fit every few epochs (with the sampler's state, or the chain's
    shape) and resumes a saved one.
    """
    a, b = landscape.as_point(a), landscape.as_point(b)
    if method not in METHODS:
        raise ValueError(f"unknown curve method {method!r}; choose one of {METHODS}")
    if torch.equal(a, b):
        raise ValueError(
            f"{what}: the two endpoints are the same point; there is no curve to fit "
            "(de-duplicate the minima first, e.g. with lossbarcode.minima.unique_minima)"
        )
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError(f"{what}: an endpoint has NaN or infinite parameters")
    if method == "pointchain":
        return _fit_pointchain(
            landscape, a, b, bends=10 if bends is None else bends,
            recipe=recipe or Recipe(steps=3000, lr=1e-2), insert_every=insert_every, l2=l2,
            monitor=monitor, steps_per_epoch=steps_per_epoch, what=what, checkpoint=checkpoint,
        )
    curve = make_curve(method, a, b, 1 if bends is None else bends)
    generator = torch.Generator().manual_seed(seed)
    if checkpoint is not None:
        checkpoint.track_generator("curve samples", generator)
    train_on_random_points(
        curve, lambda: torch.rand(points_per_step, generator=generator, dtype=torch.float64), landscape,
        recipe or GARIPOV, weight_decay=weight_decay, steps_per_epoch=steps_per_epoch, what=what,
        checkpoint=checkpoint,
    )
    return curve


def train_on_random_points(
    family: nn.Module, sample, landscape: Landscape, recipe: Recipe, *, weight_decay: float,
    steps_per_epoch: int | None, what: str, checkpoint: Checkpoint | None = None,
) -> None:
    """Garipov et al.'s training of a parametrised family of points (a curve, a triangle): each step
    draws parameters ``sample()`` of ``family.weights`` and minimises the mean loss there plus
    ``0.5 * weight_decay * |w|^2`` on the drawn points. Attaches ``landscape`` to the family."""

    def objective(step: int) -> Tensor:
        w = family.weights(sample())
        loss = landscape.loss(w).mean()
        if weight_decay:
            loss = loss + 0.5 * weight_decay * (w * w).sum(-1).mean()
        return loss

    optimize(list(family.parameters()), objective, recipe, steps_per_epoch=steps_per_epoch, what=what,
             checkpoint=checkpoint)
    family.landscape = landscape


def _fit_pointchain(landscape, a, b, *, bends, recipe, insert_every, l2, monitor, steps_per_epoch, what,
                    checkpoint) -> Chain:
    chain = Chain(a, b, bends, method="pointchain")
    every = insert_every or max(1, recipe.steps // 10)
    resume_at = 0
    if checkpoint is not None:
        checkpoint.track("chain positions", lambda: chain.positions.clone(),
                         lambda positions: setattr(chain, "positions", positions.to(chain.positions)))
        resume_at = checkpoint.step

    def objective(step: int) -> Tensor:
        loss = landscape.loss(chain.nodes)
        if l2:
            loss = loss + l2 * torch.linalg.vector_norm(chain.nodes, dim=-1)
        return loss.mean()  # the chain's mean loss is what the log shows

    def project(step: int) -> None:
        p = chain.points().detach()
        left = nn.functional.normalize(p[1:-1] - p[:-2], dim=-1)
        right = nn.functional.normalize(p[2:] - p[1:-1], dim=-1)
        g = chain.nodes.grad
        g *= len(g)  # each point moves by its own gradient, not by a share of the mean's
        if monitor is not None:
            monitor(step, chain, g)
        g -= 0.5 * ((g * left).sum(-1, keepdim=True) * left + (g * right).sum(-1, keepdim=True) * right)

    for start in range(0, recipe.steps, every):
        stop = min(start + every, recipe.steps)
        if stop < resume_at:  # done before the run was stopped; the checkpoint holds its result
            continue
        optimize(
            [chain.nodes], objective, recipe, steps=range(start, stop), steps_per_epoch=steps_per_epoch,
            adjust_grad=project, what=what, optimizer=make_optimizer([chain.nodes], recipe), checkpoint=checkpoint,
        )
        if stop < recipe.steps:
            mids = (chain.positions[:-1] + chain.positions[1:]) / 2
            with torch.no_grad():
                losses = landscape.evaluate(chain.weights(mids))
            chain.insert(mids[torch.topk(losses, k=min(2, len(mids))).indices])
    chain.landscape = landscape
    return chain
