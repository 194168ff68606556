"""Curves between two minima, and how to fit them so that their highest loss is as low as possible.

A curve is a small module with a clear ``weights(t)``: it maps ``t`` in [0, 1] (a ``[batch]``
tensor) to parameter vectors ``[batch, dim]``, with ``weights(0) = start`` and ``weights(1) = end``.

Two shapes:
  ``Bezier``: control points start, bend_1..bend_k, end, mixed by Bernstein polynomials;
  ``Chain``: the polygonal line through nodes start, node_1..node_k, end placed at fixed positions
  in t (uniform for Garipov's polygonal chain, refined by insertion for the point chain).

Four ways to fit (``fit_curve(method=...)``):
  ``bezier`` and ``polychain``: Garipov et al. (2018); bends start on the straight line and are
  trained with one random t ~ U(0, 1) per step, endpoints fixed, L2 on the sampled point;
  ``pointchain``: paper 002's first realization as its authors' code runs it: every moving node
  follows its gradient minus half of its components along the two neighbouring chain directions (a
  nudged elastic band without springs); every ``insert_every`` steps each interval of the moving
  part is measured at 3 interior points, midpoints go into the two intervals whose highest point is
  highest, and the outermost moving nodes freeze, so the moving part closes in on the saddle; a
  last period puts nodes on any ridge left between neighbouring nodes and lets them settle there;
  ``climbing``: a string with a climbing point (the climbing image of nudged elastic bands,
  Henkelman et al. 2000; the climbing string of Ren and Vanden-Eijnden 2013): every node follows
  its gradient with the part along the chain removed, and the nodes are re-spaced evenly along the
  chain, so they relax onto a minimum-energy path; after a first relaxation the node at the highest
  measured point climbs (its part along the chain is reversed), while the nodes on either side of
  it keep relaxing and keep being re-spaced on their side. The maximum then converges to the
  saddle of the pass the chain found, instead of creeping down towards it.

Every fit checks its maximum as it goes (``lossbarcode.convergence``): it profiles the curve after
an eighth, a quarter, half and all of its budget, and says whether the maximum has settled; with
``until_converged`` the budget is a cap, and the fit stops once it has. The curve keeps the record
(``Curve.convergence``) and its last profile (``Curve.measured``).

The profile (``Curve.profile``), whose maximum is the curve's bar, measures the curve at most
``1 / (n - 1)`` of its length apart in parameter space (every chain segment at least twice inside,
however short in t), every knot, and zooms on the three highest local maxima.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from .checkpoint import Checkpoint
from .convergence import CONVERGED, DOUBLINGS, Convergence, Trace, adaptive_problems, run_checked, stationarity
from .landscape import Landscape
from .train import Recipe, make_optimizer, optimize

log = logging.getLogger("lossbarcode")

METHODS = ("bezier", "polychain", "pointchain", "climbing")
#: Share of the budget by which the climbing string's highest node climbs at the latest (it climbs
#: as soon as the relaxed string's maximum has settled): by default from its first check. Relaxing
#: longer cost the analytic landscapes 2-4 times the gradient evaluations and the quick FCNs about
#: as many as climbing at once (docs/speed.md).
CLIMB_FROM = 0.0
#: Checks of the climbing string before its whole budget: from 1/64 of the cap. Its doublings count
#: only once its top climbs (``Trace.restart``), and then its maximum settles on the saddle of its
#: pass within a few dozen steps, so it can stop early without stopping above the saddle.
CLIMBING_DOUBLINGS = 6
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
        #: The convergence record of the fit (``convergence.Trace.record``) and its last profile (t, loss).
        self.convergence: dict | None = None
        self.measured: tuple[np.ndarray, np.ndarray] | None = None

    def weights(self, t: Tensor) -> Tensor:
        """Parameter vectors ``[batch, dim]`` at ``t`` (``[batch]``, any dtype or device)."""
        raise NotImplementedError

    def knots(self) -> Tensor:
        """Values of t where the curve may have a corner or a control point (evaluated exactly)."""
        return torch.empty(0)

    def samples(self, n: int, per_segment: int) -> Tensor:
        """Sorted float64 values of t, 0 and 1 included, spaced so that no two neighbours lie more than
        about ``1 / (n - 1)`` of the curve's length apart in parameter space (see the subclasses)."""
        return torch.linspace(0, 1, n, dtype=torch.float64)

    @torch.no_grad()
    def profile(self, n: int = 61, landscape: Landscape | None = None, refine: int = 3, *,
                candidates: int = 3, per_segment: int = 2, accuracy: bool = False) -> tuple[np.ndarray, ...]:
        """Measured loss along the curve: ``(t, loss)``, sorted by t, each t once; with ``accuracy``
        (a network landscape, which has ``metrics``) also the training accuracy at each t, from the
        same passes: ``(t, loss, accuracy)``, the losses unchanged (``evaluate`` is ``metrics``' loss).

        Its maximum stands for the highest loss the curve passes through, so it must not miss a
        ridge: ``samples(n, per_segment)`` spaces the values of t by length in parameter space (no
        two neighbours more than a ``1 / (n - 1)`` share of the curve's length apart) and measures
        every knot exactly; then ``refine`` rounds zoom in on the ``candidates`` highest local
        maxima of what was measured: each round measures 4 points evenly inside each of the two
        gaps next to a candidate (8 per candidate), so a gap shrinks 5-fold per round and a zoom
        never crosses a measured neighbour (a chain's knots are measured, so it stays inside the
        candidate's segments). Several candidates, because the highest sample need not lie next to
        the highest point when two ridges are nearly as high.

        Cost: ``len(samples)`` (see the subclasses) plus ``8 * candidates * refine`` evaluations.
        """
        landscape = landscape or self.landscape
        if landscape is None:
            raise ValueError("this curve has no landscape attached; pass landscape=")
        if n < 2:
            raise ValueError(f"a profile needs at least 2 points, got n={n}")
        t = self.samples(n, per_segment).numpy()
        measured = self._measure(landscape, t, accuracy)  # [len(t), 1 or 2]: loss (and accuracy)
        for _ in range(refine):
            new = _zoom_points(t, measured[:, 0], candidates)
            if len(new) == 0:
                break
            t = np.concatenate([t, new])
            measured = np.concatenate([measured, self._measure(landscape, new, accuracy)])
            order = np.argsort(t, kind="stable")
            t, measured = t[order], measured[order]
        t_unique, first = np.unique(t, return_index=True)
        return (t_unique, *measured[first].T)

    def _measure(self, landscape: Landscape, ts: np.ndarray, accuracy: bool) -> np.ndarray:
        w = self.weights(torch.from_numpy(ts))
        if not accuracy:
            return landscape.evaluate(w).detach().double().cpu().numpy()[:, None]
        measured = landscape.metrics(w, "train")
        return torch.stack([measured["loss"].double(), measured["accuracy"].double()], -1).detach().cpu().numpy()


def _zoom_points(t: np.ndarray, loss: np.ndarray, candidates: int) -> np.ndarray:
    """4 evenly spaced new values of t inside each gap next to the ``candidates`` highest local
    maxima of ``loss`` (sorted by ``t``); none where a gap is too narrow to hold a new float."""
    higher_left = np.r_[True, loss[1:] >= loss[:-1]]
    higher_right = np.r_[loss[:-1] >= loss[1:], True]
    peaks = np.flatnonzero(higher_left & higher_right)
    peaks = peaks[np.argsort(-loss[peaks], kind="stable")[:candidates]]
    fractions = np.arange(1, 5) / 5
    gaps = [(t[j - 1], t[j]) for j in peaks if j > 0] + [(t[j], t[j + 1]) for j in peaks if j + 1 < len(t)]
    new = np.unique(np.concatenate([lo + (hi - lo) * fractions for lo, hi in gaps] or [np.empty(0)]))
    return np.setdiff1d(new, t)


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

    def controls(self) -> Tensor:
        return torch.cat([self.start[None], self.bends, self.end[None]])

    def weights(self, t: Tensor) -> Tensor:
        t = t.to(self.start)[:, None]
        k = torch.arange(len(self.binomial), dtype=t.dtype, device=t.device)
        coeffs = self.binomial * t**k * (1 - t) ** (len(self.binomial) - 1 - k)
        return coeffs @ self.controls()

    @torch.no_grad()
    def samples(self, n: int, per_segment: int) -> Tensor:
        """Evenly spaced t, as many as it takes for neighbours to lie at most ``P / (n - 1)`` apart in
        parameter space, where P is the control polygon's length (at least the curve's length).

        Why that many: the derivative of a Bezier curve of degree d is a Bezier curve of degree d - 1
        with control points d (c_{k+1} - c_k), so the speed |w'(t)| never exceeds the largest of their
        norms, V = d max_k |c_{k+1} - c_k|; m equal steps in t are then at most V / m long, and
        m = ceil((n - 1) V / P) (between n - 1 and d (n - 1)) makes that at most P / (n - 1).
        """
        steps = torch.linalg.vector_norm(self.controls().diff(dim=0), dim=-1).double().cpu()
        polygon = float(steps.sum())
        speed_bound = float(steps.max()) * len(steps)  # len(steps) is the degree
        intervals = n - 1 if polygon == 0 else max(n - 1, math.ceil((n - 1) * speed_bound / polygon))
        return torch.linspace(0, 1, intervals + 1, dtype=torch.float64)


class Chain(Curve):
    """The polygonal line through ``start``, the interior nodes and ``end`` at increasing ``positions`` in t.

    An interior node either trains (it is a row of the parameter ``nodes``) or is frozen (a row of the
    buffer ``fixed``); ``frozen`` marks which, in order along the chain. ``points()`` is every node.
    """

    def __init__(self, start: Tensor, end: Tensor, nodes: int = 1, method: str = "polychain"):
        super().__init__(start, end)
        self.method = method
        positions = torch.linspace(0, 1, nodes + 2, dtype=start.dtype, device=start.device)
        self.register_buffer("positions", positions)
        self.register_buffer("frozen", torch.zeros(nodes, dtype=torch.bool, device=start.device))
        self.register_buffer("fixed", self.start.new_empty(0, len(self.start)))
        self.nodes = nn.Parameter(torch.lerp(self.start, self.end, positions[1:-1, None]))
        self._index()

    def interior(self) -> Tensor:
        """Every interior node, in order along the chain (differentiable in ``nodes``)."""
        if len(self.fixed) == 0:
            return self.nodes
        return torch.cat([self.nodes, self.fixed])[self.order]

    def _index(self) -> None:
        """Where each moving node is along the chain (``moving``) and where each interior node is in
        ``nodes`` then ``fixed`` (``order``): worked out once per change of shape, because finding them
        waits on the device, which a training step must not."""
        moving = (~self.frozen).nonzero()[:, 0]
        self.register_buffer("moving", moving, persistent=False)
        order = torch.argsort(torch.cat([moving, self.frozen.nonzero()[:, 0]]))
        self.register_buffer("order", order, persistent=False)

    def points(self) -> Tensor:
        return torch.cat([self.start[None], self.interior(), self.end[None]])

    def knots(self) -> Tensor:
        return self.positions[1:-1].detach().cpu()

    def weights(self, t: Tensor) -> Tensor:
        t = t.to(self.positions)
        i = (torch.searchsorted(self.positions, t, right=True) - 1).clamp(0, len(self.positions) - 2)
        left, right = self.positions[i], self.positions[i + 1]
        frac = ((t - left) / (right - left))[:, None]
        p = self.points()
        return torch.lerp(p[i], p[i + 1], frac)

    @torch.no_grad()
    def samples(self, n: int, per_segment: int) -> Tensor:
        """Every knot, and inside each segment evenly spaced t: at least ``per_segment`` however short
        it is, and enough that neighbours lie at most ``L / (n - 1)`` apart in parameter space, where L
        is the chain's length. A segment of length l gets max(per_segment + 1, ceil((n - 1) l / L))
        steps, so the count is at most n + (per_segment + 1) * segments."""
        lengths = torch.linalg.vector_norm(self.points().diff(dim=0), dim=-1).double().cpu()
        total = float(lengths.sum())
        by_length = torch.ceil((n - 1) * lengths / total) if total > 0 else torch.zeros_like(lengths)
        steps = by_length.clamp(min=per_segment + 1).long()
        positions = self.positions.detach().double().cpu()
        pieces = [torch.lerp(positions[i], positions[i + 1], torch.arange(int(k), dtype=torch.float64) / int(k))
                  for i, k in enumerate(steps)]
        return torch.cat([*pieces, positions[-1:]])

    def insert(self, t: Tensor) -> None:
        """Adds training nodes at positions ``t`` (strictly inside existing intervals), on the current line."""
        t = t.to(self.positions)
        interior = torch.cat([self.interior().detach(), self.weights(t).detach()])
        positions = torch.cat([self.positions[1:-1], t])
        frozen = torch.cat([self.frozen, torch.zeros(len(t), dtype=torch.bool, device=self.frozen.device)])
        order = torch.argsort(positions)
        self.positions = torch.cat([self.positions[:1], positions[order], self.positions[-1:]])
        self._split(interior[order], frozen[order])

    def freeze(self, which: Tensor) -> None:
        """Freezes the interior nodes marked by the boolean ``which`` (they stay where they are)."""
        self._split(self.interior().detach(), self.frozen | which.to(self.frozen.device))

    def set_shape(self, positions: Tensor, frozen: Tensor, fixed: Tensor) -> None:
        """Sets ``positions``, ``frozen`` and ``fixed`` (resuming a fit, loading a saved chain). ``nodes``
        stays the same tensor object (an optimizer or a checkpoint may hold it) and is resized to the
        number of moving nodes, its values to be set by the caller if that changed."""
        self.positions = positions.to(self.positions)
        self.frozen = frozen.to(self.frozen.device)
        self.fixed = fixed.to(self.fixed)
        self._index()
        if len(self.nodes) != len(self.moving):
            self.nodes.data = self.nodes.new_zeros(len(self.moving), self.nodes.shape[1])

    def shape_state(self) -> dict:
        return {"positions": self.positions.clone(), "frozen": self.frozen.clone(), "fixed": self.fixed.clone()}

    def _split(self, interior: Tensor, frozen: Tensor) -> None:
        self.frozen = frozen
        self.fixed = interior[frozen].clone()
        self.nodes = nn.Parameter(interior[~frozen].clone())
        self._index()


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
        state = {"frozen": curve.frozen, "fixed": curve.fixed, **state}  # files from before chains froze nodes
        curve.set_shape(state["positions"], state["frozen"], state["fixed"])
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
    freeze_borders: bool = True,
    interval_points: int = 3,
    ridge_tolerance: float | None = 0.01,
    climb_from: float = CLIMB_FROM,
    convergence: Convergence | None = None,
    profile_points: int = 61,
    refine: int = 3,
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

    pointchain (paper 002, as the authors' code runs it): ``bends`` interior points at first
    (default 10), trained with their gradients' chain-tangent parts halved away, plus ``l2`` times
    the sum of the points' (unsquared) norms. The budget runs in periods of ``insert_every`` steps
    (default a tenth of it). After each period but the last, every interval of the moving part of
    the chain is measured at ``interval_points`` evenly spaced interior points, midpoints go into
    the two intervals whose highest measured loss is largest, and, with ``freeze_borders``, the
    outermost moving point on each side is frozen (unless it was just inserted), so the moving
    part closes in on the saddle. The last period settles: the chain's points hold still, and in up
    to 4 rounds every interval of the whole chain whose highest interior point is above the higher
    of its two ends by more than ``ridge_tolerance`` times the loss range along the chain gets a new
    point there, which then trains with its whole component along its chord removed (so it stays on
    the ridge and slides across it to the pass, where a halved component would let it slide off a
    thin wall); it stops as soon as no interval has such a ridge (so the budget is an upper limit,
    not a count), and logs whether the chain ends without one. ``freeze_borders=False,
    interval_points=1, ridge_tolerance=None`` is the earlier all-trainable variant (midpoint loss,
    insertions after every period, no settling). ``monitor(step, chain, grad)``, if given, sees
    every step's chain and the gradient at its moving points (``chain.nodes``) before projection.
    Default recipe: 3000 steps of SGD, lr 1e-2, no momentum, constant rate.

    climbing: ``bends`` nodes (default 8) relax as a string (gradients without their part along
    the chain, nodes re-spaced evenly by length before every step); once the relaxed string's
    maximum has settled, or from ``climb_from`` of the budget at the latest, the node at the highest
    point of the last measured profile climbs (``_climbing``).
    Default recipe: 3000 steps of SGD, lr 1e-2, no momentum, constant rate.

    Every method measures its maximum (``Curve.profile(profile_points, refine=refine)``) at the
    checks of ``convergence`` (default ``Convergence()``: after 1/8, 1/4, 1/2 and all of the
    budget; the climbing string's from 1/64 of it, ``CLIMBING_DOUBLINGS``) and leaves the record
    in ``curve.convergence`` and the last profile in ``curve.measured``; with
    ``convergence.until_converged`` (bezier, polychain, climbing, on a constant schedule) the budget
    stops at the first check whose last doubling moved the maximum less than its tolerance. The
    authors' point chain runs its fixed stages.

    A ``checkpoint`` saves the fit every few epochs (with the sampler's state, or the chain's
    shape: positions, frozen points, the climbing node; and the trace) and resumes a saved one.
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
    convergence = (convergence or Convergence()).of(CLIMBING_DOUBLINGS if method == "climbing" else DOUBLINGS)
    recipe = recipe or (GARIPOV if method in ("bezier", "polychain") else Recipe(steps=3000, lr=1e-2))
    if convergence.until_converged and (problems := adaptive_problems(recipe.schedule, method)):
        raise ValueError(f"{what}: {'; '.join(problems)}")
    trace = Trace(floor=float(landscape.evaluate(torch.stack([a, b])).max()))
    if checkpoint is not None:
        checkpoint.track("convergence trace", trace.state, trace.load)
    resume_at = checkpoint.step if checkpoint is not None else 0

    if method == "pointchain":
        if interval_points < 1:
            raise ValueError(f"{what}: interval_points must be at least 1, got {interval_points}")
        curve, advance = _pointchain(
            landscape, a, b, bends=10 if bends is None else bends, recipe=recipe, insert_every=insert_every,
            l2=l2, freeze_borders=freeze_borders, interval_points=interval_points, ridge_tolerance=ridge_tolerance,
            monitor=monitor, steps_per_epoch=steps_per_epoch, what=what, checkpoint=checkpoint, resume_at=resume_at,
        )
    elif method == "climbing":
        if not 0 <= climb_from < 1:
            raise ValueError(f"{what}: climb_from is a share of the budget in [0, 1), got {climb_from}")
        curve, advance = _climbing(
            landscape, a, b, nodes=8 if bends is None else bends, recipe=recipe, climb_from=climb_from,
            steps_per_epoch=steps_per_epoch, what=what, checkpoint=checkpoint, resume_at=resume_at,
            trace=trace, tolerance=convergence.tolerance,
        )
    else:
        curve = make_curve(method, a, b, 1 if bends is None else bends)
        generator = torch.Generator().manual_seed(seed)
        if checkpoint is not None:
            checkpoint.track_generator("curve samples", generator)
        advance = on_random_points(
            curve, lambda: torch.rand(points_per_step, generator=generator, dtype=torch.float64), landscape,
            recipe, weight_decay=weight_decay, steps_per_epoch=steps_per_epoch, what=what, checkpoint=checkpoint,
        )
    curve.landscape = landscape

    def measure(step: int) -> float:
        curve.measured = curve.profile(profile_points, landscape, refine=refine)
        return float(curve.measured[1].max())

    run_checked(advance, measure, recipe.steps, convergence, trace, resume_at=resume_at, what=what)
    curve.convergence = trace.record(convergence, recipe.steps, _curve_stationarity(curve, landscape))
    log.info("%s: max %.6g, %s after %d of %d steps", what, trace.maxima[-1], curve.convergence["verdict"],
             curve.convergence["used"], recipe.steps)
    return curve


def _curve_stationarity(curve: Curve, landscape: Landscape) -> dict:
    """The gradient at the curve's highest measured point, along and across the curve."""
    t, loss = curve.measured
    step = 1e-3
    top = torch.tensor(float(np.clip(t[int(np.argmax(loss))], step, 1 - step)), dtype=torch.float64)
    return stationarity(landscape, lambda ts: curve.weights(ts[:, 0]), top[None], torch.ones(1, 1), step)


def on_random_points(
    family: nn.Module, sample, landscape: Landscape, recipe: Recipe, *, weight_decay: float,
    steps_per_epoch: int | None, what: str, checkpoint: Checkpoint | None = None,
) -> Callable[[int, int], None]:
    """Garipov et al.'s training of a parametrised family of points (a curve, a triangle), as a function
    ``advance(start, stop)`` that runs its steps ``start..stop``: each step draws parameters
    ``sample()`` of ``family.weights`` and minimises the mean loss there plus
    ``0.5 * weight_decay * |w|^2`` on the drawn points. One optimizer serves every call."""

    def objective(step: int) -> Tensor:
        w = family.weights(sample())
        loss = landscape.loss(w).mean()
        if weight_decay:
            loss = loss + 0.5 * weight_decay * (w * w).sum(-1).mean()
        return loss

    params = list(family.parameters())
    optimizer = make_optimizer(params, recipe)

    def advance(start: int, stop: int) -> None:
        optimize(params, objective, recipe, steps=range(start, stop), steps_per_epoch=steps_per_epoch, what=what,
                 optimizer=optimizer, checkpoint=checkpoint)

    return advance


#: Rounds of the point chain's settling period (its last ``insert_every`` steps).
SETTLE_ROUNDS = 4


def _pointchain(landscape, a, b, *, bends, recipe, insert_every, l2, freeze_borders, interval_points,
                ridge_tolerance, monitor, steps_per_epoch, what, checkpoint, resume_at):
    """The authors' point chain, and ``advance(start, stop)`` running its steps with the stage ends inside."""
    chain = Chain(a, b, bends, method="pointchain")
    every = insert_every or max(1, recipe.steps // 10)
    periods = [(start, min(start + every, recipe.steps)) for start in range(0, recipe.steps, every)]
    settle_from = recipe.steps
    if ridge_tolerance is not None and len(periods) > 1:
        settle_from = periods[-1][0]
        length = max(1, math.ceil((recipe.steps - settle_from) / SETTLE_ROUNDS))
        periods[-1:] = [(start, min(start + length, recipe.steps))
                        for start in range(settle_from, recipe.steps, length)]
    if checkpoint is not None:
        checkpoint.track("chain shape", chain.shape_state, lambda shape: chain.set_shape(**shape))

    def objective(step: int) -> Tensor:
        loss = landscape.loss(chain.nodes)
        if l2:
            loss = loss + l2 * torch.linalg.vector_norm(chain.nodes, dim=-1)
        return loss.mean()  # the chain's mean loss is what the log shows

    def project(step: int) -> None:
        p = chain.points().detach()
        at = chain.moving + 1  # the moving nodes' places in p
        left = nn.functional.normalize(p[at] - p[at - 1], dim=-1)
        right = nn.functional.normalize(p[at + 1] - p[at], dim=-1)
        g = chain.nodes.grad
        g *= len(g)  # each point moves by its own gradient, not by a share of the mean's
        if monitor is not None:
            monitor(step, chain, g)
        if step < settle_from:
            g -= 0.5 * ((g * left).sum(-1, keepdim=True) * left + (g * right).sum(-1, keepdim=True) * right)
        else:  # a point put on a ridge keeps only what is across its chord: it stays on the ridge and finds its pass
            chord = nn.functional.normalize(p[at + 1] - p[at - 1], dim=-1)
            g -= (g * chord).sum(-1, keepdim=True) * chord

    state = {"optimizer": None, "period": None, "settled": False}

    def advance(start: int, stop: int) -> None:
        for period in periods:
            lo, hi = max(period[0], start), min(period[1], stop)
            if lo >= hi or state["settled"] or hi < resume_at:  # empty, or done before the run was stopped
                continue
            if state["period"] != period:  # a new optimizer for every stage (its nodes changed)
                state["optimizer"], state["period"] = make_optimizer([chain.nodes], recipe), period
            optimize([chain.nodes], objective, recipe, steps=range(lo, hi), steps_per_epoch=steps_per_epoch,
                     adjust_grad=project, what=what, optimizer=state["optimizer"], checkpoint=checkpoint)
            if hi == period[1] < recipe.steps:
                state["settled"] = _end_of_stage(chain, landscape, hi, settle_from, interval_points, freeze_borders,
                                                 ridge_tolerance, recipe.steps, what)
        if stop == recipe.steps and ridge_tolerance is not None and not state["settled"]:
            ridges = len(_ridges(chain, landscape, interval_points, ridge_tolerance)[0])
            log.info("%s: at the end of the budget %d interval(s) rise above their ends by more than %g of the range",
                     what, ridges, ridge_tolerance)

    return chain, advance


def _end_of_stage(chain, landscape, step, settle_from, interval_points, freeze_borders, ridge_tolerance, steps,
                  what) -> bool:
    """What the point chain does after the stage that ends at ``step``: insert and freeze (before the
    settling period), or put nodes on the ridges left; whether the chain has settled (no ridge left)."""
    if step < settle_from:
        _insert_and_freeze(chain, landscape, interval_points, freeze_borders)
        return False
    if step == settle_from:  # the chain holds still while the points put on ridges settle
        chain.freeze(torch.ones_like(chain.frozen))
    if _insert_at_ridges(chain, landscape, interval_points, ridge_tolerance):
        return False
    log.info("%s: no interval rises above its ends by more than %g of the range after step %d of %d",
             what, ridge_tolerance, step, steps)
    return True


def _climbing(landscape, a, b, *, nodes, recipe, climb_from, steps_per_epoch, what, checkpoint, resume_at, trace,
              tolerance):
    """The climbing string, and ``advance(start, stop)`` running its steps.

    Before every step the nodes are re-spaced evenly by length along the chain (on either side of
    the climbing node, which stays where it is), and each node's gradient loses its part along the
    chord between its neighbours; the climbing node's part is reversed instead, so it climbs along
    the chain while it descends across it: at rest it sits on a saddle. The climbing node is
    chosen at a check (whose profile was just measured) once the relaxed string's maximum has
    settled (moved less than ``tolerance`` over the last doubling), or from ``climb_from`` of the
    budget on at the latest: a node is put at the highest point of that profile, with the other
    nodes spread over the two sides in proportion to their lengths; it is chosen again at a later
    check if the profile's highest point has moved off its two segments. Each choice restarts the
    ``trace``: the string is a new fit from there, and no doubling starts before the first climb.
    """
    chain = Chain(a, b, nodes, method="climbing")
    climb_step = math.ceil(climb_from * recipe.steps)
    trace.restart(climb_step)
    # node -1: none yet; scale: the climbing step's share of the recipe's, sign: of its last part along
    climber = {"node": -1, "scale": 1.0, "sign": 0.0}
    if checkpoint is not None:
        checkpoint.track("chain shape", chain.shape_state, lambda shape: chain.set_shape(**shape))
        checkpoint.track("climbing node", lambda: dict(climber), climber.update)

    def objective(step: int) -> Tensor:
        _respace(chain, climber["node"])
        return landscape.loss(chain.nodes).mean()

    def project(step: int) -> None:
        p = chain.points().detach()
        chord = nn.functional.normalize(p[2:] - p[:-2], dim=-1)
        g = chain.nodes.grad
        g *= len(g)  # each node moves by its own gradient, not by a share of the mean's
        along = (g * chord).sum(-1, keepdim=True)
        factor = torch.ones_like(along)
        node = climber["node"]
        if node >= 0:  # the part along the chain reversed: the node climbs, by a step that halves on overshooting
            sign = float(torch.sign(along[node]))
            if sign * climber["sign"] < 0:
                climber["scale"] *= 0.5
            elif sign == climber["sign"]:
                climber["scale"] = min(1.0, climber["scale"] * 1.05)
            climber["sign"] = sign
            factor[node] = 1.0 + climber["scale"]
        g -= factor * along * chord
        # a step at the recipe's rate moves no node further than the chain's spacing: near a point where
        # the gradient is unbounded (an angle's at the origin) a node would otherwise leap away and drag
        # the climbing node, and with it the string, uphill without end
        spacing = float(torch.linalg.vector_norm(p.diff(dim=0), dim=-1).mean())
        g *= (spacing / (recipe.lr * torch.linalg.vector_norm(g, dim=-1, keepdim=True))).clamp(max=1.0)

    optimizer = {"now": make_optimizer([chain.nodes], recipe)}

    def advance(start: int, stop: int) -> None:
        climbs = climber["node"] >= 0 or start >= climb_step or trace.verdict(tolerance, since=0)[0] == CONVERGED
        if start >= resume_at and chain.measured is not None and climbs and _climb_at_top(chain, climber):
            optimizer["now"] = make_optimizer([chain.nodes], recipe)  # the nodes jumped: fresh buffers
            trace.restart(start)
        optimize([chain.nodes], objective, recipe, steps=range(start, stop), steps_per_epoch=steps_per_epoch,
                 adjust_grad=project, what=what, optimizer=optimizer["now"], checkpoint=checkpoint)

    return chain, advance


@torch.no_grad()
def _climb_at_top(chain: Chain, climber: dict) -> bool:
    """Makes the node nearest the highest point of the chain's last profile climb, unless the current
    climbing node's two segments hold that point; whether the chain changed."""
    t, loss = chain.measured
    top = float(t[int(np.argmax(loss))])
    positions = chain.positions.double().cpu()
    node = climber["node"]
    if node >= 0 and float(positions[node]) <= top <= float(positions[node + 2]):
        return False
    p = chain.points()
    lengths = torch.linalg.vector_norm(p.diff(dim=0), dim=-1).double().cpu()
    arc = torch.cat([torch.zeros(1, dtype=torch.float64), lengths.cumsum(0)])
    i = min(int(torch.searchsorted(positions, torch.tensor(top, dtype=torch.float64), right=True)) - 1, len(lengths) - 1)
    at = float(arc[i] + lengths[i] * (top - positions[i]) / (positions[i + 1] - positions[i]))
    total, others = float(arc[-1]), len(chain.nodes) - 1
    left = round(others * at / total)  # nodes before the climbing one, in proportion to the length there
    if others >= 2:
        left = min(max(left, 1), others - 1)
    targets = torch.cat([torch.linspace(0, at, left + 2, dtype=torch.float64)[1:],
                         torch.linspace(at, total, others - left + 2, dtype=torch.float64)[1:-1]])
    _place(chain, p, arc, targets)
    climber.update(node=left, scale=1.0, sign=0.0)
    return True


@torch.no_grad()
def _respace(chain: Chain, climbing: int) -> None:
    """Spreads the nodes evenly by length along the chain, on each side of node ``climbing`` (-1: over
    the whole chain), which stays where it is; their positions in t become their shares of the length."""
    p = chain.points()
    lengths = torch.linalg.vector_norm(p.diff(dim=0), dim=-1).double().cpu()
    arc = torch.cat([torch.zeros(1, dtype=torch.float64), lengths.cumsum(0)])
    count = len(chain.nodes)
    if climbing < 0:
        targets = torch.linspace(0, float(arc[-1]), count + 2, dtype=torch.float64)[1:-1]
    else:
        at = float(arc[climbing + 1])
        targets = torch.cat([torch.linspace(0, at, climbing + 2, dtype=torch.float64)[1:],
                             torch.linspace(at, float(arc[-1]), count - climbing + 1, dtype=torch.float64)[1:-1]])
    _place(chain, p, arc, targets, keep=climbing)


def _place(chain: Chain, p: Tensor, arc: Tensor, targets: Tensor, keep: int = -1) -> None:
    """Moves the nodes to the points at lengths ``targets`` along the polyline ``p`` (cumulative lengths
    ``arc``), node ``keep`` exactly where it is (no rounding), and sets their positions in t to the
    shares of the length."""
    total = float(arc[-1])
    if total == 0:
        return
    i = (torch.searchsorted(arc, targets, right=True) - 1).clamp(0, len(arc) - 2)
    span = arc[i + 1] - arc[i]
    frac = torch.where(span > 0, (targets - arc[i]) / torch.where(span > 0, span, torch.ones_like(span)),
                       torch.zeros_like(span))
    placed = torch.lerp(p[i], p[i + 1], frac.to(p)[:, None])
    if keep >= 0:
        placed[keep] = p[keep + 1]
    positions = (targets / total).to(chain.positions)
    chain.nodes.copy_(placed)
    chain.positions = torch.cat([chain.positions[:1], positions, chain.positions[-1:]])


@torch.no_grad()
def _interval_maxima(chain: Chain, landscape: Landscape, interval_points: int, first: int, last: int):
    """The highest loss at ``interval_points`` evenly spaced interior points of each interval between
    the chain's points ``first`` and ``last``, and the t where it is."""
    left, right = chain.positions[first:last], chain.positions[first + 1:last + 1]
    fractions = torch.arange(1, interval_points + 1, dtype=left.dtype, device=left.device) / (interval_points + 1)
    t = torch.lerp(left[:, None], right[:, None], fractions)
    losses = landscape.evaluate(chain.weights(t.reshape(-1))).reshape(t.shape).to(t)
    highest, where = losses.max(dim=1)
    return highest, t.gather(1, where[:, None])[:, 0]


def _insert_and_freeze(chain: Chain, landscape: Landscape, interval_points: int, freeze_borders: bool) -> None:
    """One stage of the authors' chain: midpoints into the two intervals of the moving part (with the
    nodes that bound it) whose highest interior loss is largest; then, with ``freeze_borders``, the
    outermost moving node on each side freezes, unless it is one just inserted (it still lies on the
    chord it was put on; the authors' code would freeze it there) or the last one moving."""
    moving = chain.moving
    first, last = (int(moving[0]), int(moving[-1]) + 2) if len(moving) else (0, len(chain.positions) - 1)
    highest, _ = _interval_maxima(chain, landscape, interval_points, first, last)
    picked = first + torch.topk(highest, k=min(2, len(highest))).indices
    mids = (chain.positions[picked] + chain.positions[picked + 1]) / 2
    chain.insert(mids)
    if not freeze_borders:
        return
    moving = chain.moving
    new = torch.isin(chain.positions[1:-1], mids)
    outermost = {int(moving[0]), int(moving[-1])}
    which = torch.zeros_like(chain.frozen)
    for i in outermost:
        if not new[i] and len(moving) - int(which.sum()) > 1:
            which[i] = True
    chain.freeze(which)


def _ridges(chain: Chain, landscape: Landscape, interval_points: int, tolerance: float):
    """Intervals of the whole chain whose highest measured interior loss exceeds the higher of its two
    ends by more than ``tolerance`` times the range of the measured losses; and where that is in t."""
    with torch.no_grad():
        ends = landscape.evaluate(chain.points()).to(chain.positions)
    highest, where = _interval_maxima(chain, landscape, interval_points, 0, len(chain.positions) - 1)
    span = max(float(highest.max()), float(ends.max())) - float(ends[[0, -1]].min())
    rising = highest - torch.maximum(ends[:-1], ends[1:]) > tolerance * span
    return rising.nonzero()[:, 0], where[rising]


def _insert_at_ridges(chain: Chain, landscape: Landscape, interval_points: int, tolerance: float) -> bool:
    """Puts a moving node at the highest measured interior point of every interval with a ridge;
    whether there was any."""
    intervals, where = _ridges(chain, landscape, interval_points, tolerance)
    if len(intervals):
        chain.insert(where)
    return bool(len(intervals))
