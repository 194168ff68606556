"""Analytic toy experiments of paper 002: Fig 1, §9 with Appendix D (degree-6 polynomials and the
learning rate that escapes a local minimum), Appendix C (insertion) and Appendix H (gradient components).

Every experiment is a function in ``EXPERIMENTS`` that returns a JSON-ready dict (lists, floats, inf
allowed); ``run(name, **params)`` calls one. All of them together take seconds on a laptop CPU: the
gradient-descent sweeps are numpy, vectorised over learning rates and starts, because torch's per-step
overhead would dominate scalar iterations.

Polynomials are coefficient vectors ``a`` of ``p(x) = sum_k a_k x^k``, k = 0..6, lowest power first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from . import barcode
from .curves import fit_curve
from .functions import bent_valley
from .landscape import FunctionLandscape
from .pipeline import estimate_barcode, find_minima
from .train import Recipe

EXPERIMENTS: dict[str, Callable[..., dict]] = {}
DEGREE = 6
#: Approach 1's conditions for the default polynomial: a sharp local minimum (p'' = 8) at 0, a flat
#: global one (p'' = 2) at 3, leading coefficient 0.05; its barrier is at 0.928, 0.731 above x1.
REFERENCE = dict(x1=0.0, y1=1.0, c1=8.0, x2=3.0, y2=0.0, c2=2.0, lead=0.05)
FAMILIES = ("taylor", "minima")
REGIMES = ("stays", "escapes", "diverges")
BLOWUP = 1e6  # |x| beyond this counts as diverged (the polynomials live on [-1, 4])
#: The valley of Appendices C and H turns by 160 degrees: its chord runs at r = 0.17, far off the valley.
BEND = 2.8


def experiment(fn: Callable[..., dict]) -> Callable[..., dict]:
    EXPERIMENTS[fn.__name__] = fn
    return fn


def run(name: str, **params) -> dict:
    """The result of experiment ``name`` with ``params`` overriding its defaults."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown toy experiment {name!r}; expected one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name](**params)


# ----- degree-6 polynomials from linear conditions -------------------------------------------------
def derivative_row(x: float, order: int) -> np.ndarray:
    """p^(m)(x) as a linear form in a_0..a_6: the coefficient of a_k is k!/(k-m)! x^(k-m) (0 for k < m)."""
    return np.array([math.perm(k, order) * float(x) ** (k - order) if k >= order else 0.0 for k in range(DEGREE + 1)])


def solve_coefficients(conditions: Sequence[tuple[float, int, float]]) -> np.ndarray:
    """a_0..a_6 from seven conditions p^(m)(x) = v given as (x, m, v), by one 7x7 linear solve.

    The leading coefficient is the condition p^(6)(x) = 720 a_6, at any x.
    """
    if len(conditions) != DEGREE + 1:
        raise ValueError(f"a degree-{DEGREE} polynomial needs {DEGREE + 1} conditions, got {len(conditions)}")
    matrix = np.stack([derivative_row(x, m) for x, m, _ in conditions])
    return np.linalg.solve(matrix, np.array([v for *_, v in conditions], dtype=np.float64))


def approach1(x1: float, y1: float, c1: float, x2: float, y2: float, c2: float, lead: float) -> np.ndarray:
    """Approach 1: values up to the second derivative at both minima, plus the leading coefficient:

        p(x1) = y1, p'(x1) = 0, p''(x1) = c1,   p(x2) = y2, p'(x2) = 0, p''(x2) = c2,   a_6 = lead.
    """
    return solve_coefficients([(x1, 0, y1), (x1, 1, 0.0), (x1, 2, c1), (x2, 0, y2), (x2, 1, 0.0), (x2, 2, c2),
                               (x1, 6, 720.0 * lead)])


def taylor(p: np.ndarray, x: float, order: int = 5) -> np.ndarray:
    """[p(x), p'(x), ..., p^(order)(x)]."""
    return np.array([derivative_row(x, m) @ p for m in range(order + 1)])


def approach2(x1: float, derivatives: Sequence[float], lead: float) -> np.ndarray:
    """Approach 2: the Taylor data at the local minimum up to 5th order, plus the leading coefficient:

        p^(m)(x1) = derivatives[m] for m = 0..5 (derivatives[1] = 0),   a_6 = lead.

    Members differ by lead * (x - x1)^6 only, so they agree at x1 up to 5th order.
    """
    return solve_coefficients([(x1, m, float(v)) for m, v in enumerate(derivatives)] + [(x1, 6, 720.0 * lead)])


def value(p: np.ndarray, x):
    """p(x), for a number or an array of them."""
    return np.polynomial.polynomial.polyval(x, p)


def landmarks(p: np.ndarray, x1: float) -> tuple[float, float]:
    """(x_max, x2): the barrier and the global minimum, checking that the real roots of p' are exactly
    x1 (a local minimum at one end), the local maximum, and the global minimum x2 with p(x2) < p(x1)."""
    roots = np.polynomial.polynomial.polyroots(np.polynomial.polynomial.polyder(p))
    real = np.sort(roots[np.abs(roots.imag) <= 1e-7 * (1 + np.abs(roots.real))].real)
    if len(real) != 3 or not np.isclose(real[[0, 2]], x1, atol=1e-6).any():
        raise ValueError(f"p' has real roots {real.round(4).tolist()}; expected x1 = {x1}, a maximum and a minimum")
    x_max, x2 = (real[1], real[2]) if np.isclose(real[0], x1, atol=1e-6) else (real[1], real[0])
    if value(p, x2) >= value(p, x1):
        raise ValueError(f"the minimum at {x2:.4g} is not below the one at x1 = {x1}: x1 is the global minimum")
    return float(x_max), float(x2)


def barrier(p: np.ndarray, x1: float) -> float:
    """The analytic bar height of x1: p(x_max) - p(x1), from p's critical points."""
    return float(value(p, landmarks(p, x1)[0]) - value(p, x1))


def with_barrier(make: Callable[[float], np.ndarray], x1: float, height: float, lead0: float) -> np.ndarray:
    """The member ``make(lead)`` of a one-parameter family whose barrier equals ``height``.

    The barrier is monotone in the leading coefficient (for approach 2, d barrier / d a_6 = (x_max - x1)^6
    > 0), so a geometric scan around ``lead0`` brackets the root and bisection finds it; the scan skips leads
    where the family loses its shape (another critical point, x1 no longer above x2).
    """
    def gap(lead: float) -> float:
        return barrier(make(lead), x1) - height

    leads, gaps = [], []
    for lead in lead0 * 2.0 ** np.linspace(-8, 8, 513):
        try:
            gaps.append(gap(lead))
            leads.append(lead)
        except ValueError:
            continue
    crossing = np.flatnonzero(np.sign(gaps[:-1]) != np.sign(gaps[1:]))
    if not len(crossing):
        reach = np.array(gaps) + height
        raise ValueError(f"barrier height {height} is not reached; this family spans "
                         f"[{reach.min():.6g}, {reach.max():.6g}]")
    # Bisection on the bracket (scipy is only a test dependency); 200 halvings reach float precision.
    k = crossing[0]
    lo, hi, below = leads[k], leads[k + 1], gaps[k] < 0
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if (gap(mid) < 0) == below else (lo, mid)
    return make((lo + hi) / 2)


def polynomial_landscape(p: np.ndarray) -> FunctionLandscape:
    weights = torch.from_numpy(np.asarray(p, dtype=np.float64))
    return FunctionLandscape(lambda theta: (weights * theta[:, :1] ** torch.arange(DEGREE + 1)).sum(-1), 1)


def bar(p: np.ndarray, x1: float, x2: float) -> dict:
    """The minima barcode of {x1, x2} by our machinery: the point chain between them, its maximum
    located by 20 zooms of the profile (to ~1e-12 in t), and H0 persistence of the two-vertex graph."""
    landscape = polynomial_landscape(p)
    ends = torch.tensor([[x1], [x2]], dtype=torch.float64)
    # In 1-D a chain cannot leave the segment (its update has no orthogonal part); a few steps suffice.
    curve = fit_curve(landscape, ends[0], ends[1], "pointchain", bends=4, recipe=Recipe(steps=4, lr=1e-3),
                      what="toy bar")
    top = float(curve.profile(61, refine=20)[1].max())
    bars = barcode.persistence(landscape.evaluate(ends).numpy(), {(0, 1): top})[0]
    ((birth, death),) = bars[np.isfinite(bars[:, 1])]  # x2's bar is the infinite one
    return dict(birth=float(birth), death=float(death), height=float(death - birth))


def described(p: np.ndarray, x1: float) -> dict:
    """JSON-ready polynomial: coefficients, critical points, curvatures p'' at the minima, analytic barrier
    and our bar."""
    x_max, x2 = landmarks(p, x1)
    return dict(coefficients=p.tolist(), x1=x1, x_max=x_max, x2=x2, y1=float(value(p, x1)),
                y_max=float(value(p, x_max)), y2=float(value(p, x2)), c1=float(derivative_row(x1, 2) @ p),
                c2=float(derivative_row(x2, 2) @ p), barrier=barrier(p, x1), bar=bar(p, x1, x2))


# ----- gradient descent on many polynomials and learning rates at once -----------------------------
def descend_1d(ps: np.ndarray, x0: np.ndarray, lr: np.ndarray, x1: float, steps: int, tail: int = 32) -> dict:
    """``steps`` of x <- x - lr p'(x) for each row (its own polynomial ``ps[i]``, start, learning rate).

    Returns per row the final x, its last ``tail`` iterates, the regime and the steps to escape. A run
    *escapes* when it crosses the barrier and settles at the global minimum x2 within the steps; it
    *stays* when its last ``tail`` iterates are all on x1's side of the barrier (converged or oscillating
    there); anything else *diverges* (blew up past 1e6, or never settles beyond the barrier). Steps to
    escape: the step after which it never came back to x1's side (inf unless it escapes).
    """
    ps = np.atleast_2d(ps)
    marks = [landmarks(p, x1) for p in ps]
    x_max, x2 = (np.array(m) for m in zip(*marks, strict=True))
    side = np.sign(x2 - x_max)  # +1 when the global minimum lies right of the barrier
    slope = np.stack([np.polynomial.polynomial.polyder(p) for p in ps], axis=1)  # [6, rows], ascending
    x = np.broadcast_to(np.asarray(x0, dtype=np.float64), lr.shape).copy()
    last_inside = np.zeros(lr.shape, dtype=np.int64)
    history = np.empty((tail, *lr.shape))
    for step in range(1, steps + 1):
        grad = np.zeros_like(x)
        with np.errstate(invalid="ignore", over="ignore"):  # blown-up runs stay at inf
            for c in slope[::-1]:  # Horner, each row with its own p'
                grad = grad * x + c
            x = x - lr * grad
        x[~(np.abs(x) < BLOWUP)] = np.inf
        inside = np.isfinite(x) & (side * (x - x_max) <= 0)
        last_inside[inside] = step
        if step > steps - tail:
            history[step - (steps - tail) - 1] = x
    settled = np.abs(x - x2) < 1e-6 * (1 + np.abs(x2))
    stays = np.all(np.isfinite(history) & (side * (history - x_max) <= 0), axis=0)
    regime = np.where(settled, "escapes", np.where(stays, "stays", "diverges"))
    steps_to_escape = np.where(settled, last_inside + 1.0, np.inf)
    return dict(x=x, tail=history.T, regime=regime, steps_to_escape=steps_to_escape)


def escape_threshold(ps: np.ndarray, x0: np.ndarray, x1: float, grid: np.ndarray, steps: int, bisections: int) -> dict:
    """The smallest escaping learning rate of each row: the first escaping value on ``grid``, then
    ``bisections`` halvings of the interval between it and the grid value below it (which does not
    escape). Rows with no escaping value on the grid get inf. Escape windows narrower than the grid's
    spacing below the first escaping value would be missed: the grid is the resolution of "smallest".
    Near the threshold the iterates wander chaotically around x1 for long before they leave, so just
    below it descent may still escape after more than ``steps`` steps; on the default polynomials the
    threshold moves by about 1e-6 between 1000 and 20000 steps."""
    rows = len(ps)
    sweep = descend_1d(np.repeat(ps, len(grid), axis=0), np.repeat(x0, len(grid)), np.tile(grid, rows), x1, steps)
    escaped = (sweep["regime"] == "escapes").reshape(rows, len(grid))
    first = np.where(escaped.any(1), escaped.argmax(1), -1)
    found = first > 0  # an escape at the grid's first value has no non-escaping value below it
    lo = np.where(found, grid[np.maximum(first - 1, 0)], np.nan)
    hi = np.where(found, grid[np.maximum(first, 0)], np.nan)
    for _ in range(bisections):
        mid = (lo + hi) / 2
        ok = descend_1d(ps[found], x0[found], mid[found], x1, steps)["regime"] == "escapes"
        hi[found] = np.where(ok, mid[found], hi[found])
        lo[found] = np.where(ok, lo[found], mid[found])
    return dict(lr=np.where(found, hi, np.inf), below=np.where(found, lo, np.inf))


def fit_line(x: np.ndarray, y: np.ndarray) -> dict:
    """Least squares y = slope x + intercept over the finite pairs, and R^2 = 1 - SS_res / SS_tot
    (None for all three when fewer than two distinct x remain)."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2 or np.ptp(x) == 0:
        return dict(slope=None, intercept=None, r2=None, n=int(len(x)))  # no line through fewer than 2 x values
    slope, intercept = np.polyfit(x, y, 1)
    total = float(((y - y.mean()) ** 2).sum())
    residual = float(((y - slope * x - intercept) ** 2).sum())
    # A constant y is fitted exactly by a flat line, which explains none of its (zero) variance.
    r2 = 1.0 - residual / total if total > 0 else 0.0
    return dict(slope=float(slope), intercept=float(intercept), r2=float(np.clip(r2, 0.0, 1.0)), n=int(len(x)))


def _curve(p: np.ndarray, lo: float, hi: float, n: int = 400) -> dict:
    xs = np.linspace(lo, hi, n)
    return dict(x=xs.tolist(), loss=value(p, xs).tolist())


# ----- experiments ----------------------------------------------------------------------------------
def _wells(x: torch.Tensor) -> torch.Tensor:
    """Five Gaussian wells in a bowl: 0.05 x^2 - sum_k d_k exp(-(x - c_k)^2 / (2 w_k^2)). The wells at
    -3.2 and 0.9 have the same depth and width, yet bars of 0.28 and 0.63: how a minimum looks locally
    does not tell how hard it is to escape (paper Fig 1)."""
    centres = torch.tensor([-3.2, -1.4, 0.9, 2.6, 4.3], dtype=x.dtype)
    depths = torch.tensor([1.0, 1.8, 1.0, 1.4, 0.7], dtype=x.dtype)
    widths = torch.tensor([0.45, 0.55, 0.45, 0.5, 0.45], dtype=x.dtype)
    wells = depths * torch.exp(-((x[:, :1] - centres) ** 2) / (2 * widths**2))
    return 0.05 * x[:, 0] ** 2 - wells.sum(-1)


@experiment
def minima_barcode_1d(bounds: tuple[float, float] = (-5.5, 6.5), grid: int = 6001, starts: int = 40,
                      steps: int = 1000, lr: float = 0.05, seed: int = 0) -> dict:
    """Fig 1: a 1-D function with five minima, its exact minima barcode (sublevel-set persistence on
    ``grid`` points) and ours (descent from ``starts`` random points, point chains between every pair,
    H0 persistence of the graph). ``resolution``: the largest change of the function between grid
    neighbours, the exact barcode's own precision."""
    landscape = FunctionLandscape(_wells, 1)
    xs = np.linspace(*bounds, grid)
    values = landscape.evaluate(torch.from_numpy(xs)[:, None]).numpy()
    exact = barcode.sublevel_persistence(values)[0]

    generator = torch.Generator().manual_seed(seed)
    lo, hi = bounds
    points = lo + (hi - lo) * torch.rand(starts, 1, generator=generator, dtype=torch.float64)
    minima = find_minima(landscape, points, steps=steps, lr=lr)
    ours = estimate_barcode(landscape, minima, "pointchain", curve_kw={"recipe": Recipe(steps=20, lr=1e-3)})
    pipeline = np.array(ours["h0"])
    # Both sorted by birth; births and finite deaths pair up bar by bar.
    difference = math.inf
    if len(pipeline) == len(exact):
        finite = np.isfinite(exact[:, 1]) & np.isfinite(pipeline[:, 1])
        difference = float(np.abs(pipeline[finite] - exact[finite]).max(initial=0.0))
    return dict(
        function="five Gaussian wells in a bowl (1-D)", x=xs.tolist(), loss=values.tolist(),
        resolution=float(np.abs(np.diff(values)).max()),
        minima=minima[:, 0].tolist(), minima_loss=landscape.evaluate(minima).tolist(),
        exact=exact.tolist(), pipeline=pipeline.tolist(), max_difference=difference,
    )


def _reference(polynomial: dict | None) -> tuple[np.ndarray, dict]:
    """The approach-1 polynomial of ``REFERENCE`` updated by ``polynomial``, and its conditions."""
    conditions = {**REFERENCE, **(polynomial or {})}
    return approach1(**conditions), conditions


@experiment
def escape_regimes(polynomial: dict | None = None, offset: float = 0.05,
                   lrs: tuple[float, float, int] = (0.005, 1.2, 480), steps: int = 3000,
                   trajectory_lr: float = 0.45) -> dict:
    """Figs 14 and 16: gradient descent from x1 + ``offset`` on the approach-1 polynomial (conditions
    ``polynomial``, default ``REFERENCE``) for ``lrs`` = (first, last, count) learning rates, and the
    whole trajectory at ``trajectory_lr``. Regimes as in ``descend_1d``; ``tail``: the last 32 iterates
    of each run (a bifurcation diagram); ``ranges``: the learning-rate intervals of each regime."""
    p, conditions = _reference(polynomial)
    info = described(p, conditions["x1"])
    lr = np.linspace(*lrs[:2], int(lrs[2]))
    start = conditions["x1"] + offset
    sweep = descend_1d(p, np.full(len(lr), start), lr, conditions["x1"], steps)

    slope, path = np.polynomial.polynomial.polyder(p), [start]
    for _ in range(steps):
        path.append(path[-1] - trajectory_lr * float(value(slope, path[-1])))
        if abs(path[-1] - info["x2"]) < 1e-9 or not abs(path[-1]) < BLOWUP:
            break
    path = np.array(path)
    (outcome,) = descend_1d(p, np.array([start]), np.array([trajectory_lr]), conditions["x1"], steps)["regime"]
    lo, hi = min(path.min(), info["x1"]) - 0.3, max(path.max(), info["x2"]) + 0.3
    return dict(
        function="degree-6 polynomial, approach 1", conditions=conditions, polynomial=info,
        curve=_curve(p, max(lo, -1.5), min(hi, info["x2"] + 1.5)), start=start, steps=steps,
        lr=lr.tolist(), regime=sweep["regime"].tolist(), final_x=sweep["x"].tolist(), tail=sweep["tail"].tolist(),
        steps_to_escape=sweep["steps_to_escape"].tolist(), ranges=_ranges(lr, sweep["regime"]),
        trajectory=dict(lr=trajectory_lr, regime=str(outcome), x=path.tolist(), loss=value(p, path).tolist()),
    )


def _ranges(lr: np.ndarray, regime: np.ndarray) -> list[dict]:
    """Consecutive runs of one regime along the learning-rate sweep: [{regime, lo, hi}]."""
    cuts = np.flatnonzero(regime[1:] != regime[:-1]) + 1
    return [dict(regime=str(regime[a]), lo=float(lr[a]), hi=float(lr[b - 1]))
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(lr)], strict=True)]


#: Heights that keep both families admissible: the escape criterion needs a global minimum flat enough
#: to settle in at the escape rate (the Taylor family's window is narrow, see ``escape_vs_barrier``).
DEFAULT_HEIGHTS = {
    "taylor": tuple(np.round(np.linspace(0.7306, 0.7336, 11), 6)),
    "minima": tuple(np.round(np.linspace(0.40, 0.95, 12), 6)),
}


@experiment
def escape_vs_barrier(family: str = "taylor", heights: Sequence[float] | None = None,
                      polynomial: dict | None = None, starts: int = 8, radius: float = 0.1, steps: int = 2000,
                      grid: tuple[float, float, int] = (0.05, 1.2, 116), bisections: int = 24,
                      steps_lrs: int = 151, seed: int = 0) -> dict:
    """Figs 12, 15, 17: the smallest escaping learning rate against the local minimum's bar height.

    Family "taylor" (approach 2): the Taylor data of the reference polynomial (approach 1, conditions
    ``polynomial``) at x1 up to 5th order are fixed, and a_6 is solved (``with_barrier``) so that the barrier
    equals each of ``heights``. Family "minima" (approach 1): p, p', p'' at both minima are fixed and
    a_6 is solved for in the same way. Escape criterion: from each of ``starts`` seeded points x1 + U(-radius,
    radius), gradient descent crosses the barrier and settles at the global minimum within ``steps``
    steps; the smallest escaping rate by ``escape_threshold`` on ``grid`` = (first, last, count).
    Steps to escape (Fig 17) from x1 + radius / 2 on ``steps_lrs`` rates from 0.95x the smallest to 1.5x
    the largest escape rate. ``fit``: escape_lr = slope * bar height + intercept over all starts.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    reference, conditions = _reference(polynomial)
    x1 = conditions["x1"]
    derivatives = taylor(reference, x1)

    def make(lead: float) -> np.ndarray:
        return approach2(x1, derivatives, lead) if family == "taylor" else approach1(**{**conditions, "lead": lead})

    heights = [float(h) for h in (DEFAULT_HEIGHTS[family] if heights is None else heights)]
    members = [with_barrier(make, x1, h, conditions["lead"]) for h in heights]
    infos = [described(p, x1) for p in members]
    bars = np.array([info["bar"]["height"] for info in infos])

    rng = np.random.default_rng(seed)
    x0 = x1 + rng.uniform(-radius, radius, starts)
    rows = np.repeat(np.stack(members), starts, axis=0)
    lr_grid = np.linspace(*grid[:2], int(grid[2]))
    found = escape_threshold(rows, np.tile(x0, len(members)), x1, lr_grid, steps, bisections)
    escape_lr = found["lr"].reshape(len(members), starts)

    finite = escape_lr[np.isfinite(escape_lr)]
    lrs = np.linspace(0.95 * finite.min(), 1.5 * finite.max(), steps_lrs) if len(finite) else lr_grid
    runs = descend_1d(np.repeat(np.stack(members), len(lrs), axis=0), np.full(len(members) * len(lrs), x1 + radius / 2),
                      np.tile(lrs, len(members)), x1, steps)

    x2s = [info["x2"] for info in infos]
    escaping = np.isfinite(escape_lr)
    count = escaping.sum(1)
    mean = np.where(count > 0, np.where(escaping, escape_lr, 0.0).sum(1) / np.maximum(count, 1), np.inf)
    return dict(
        function="degree-6 polynomials, "
                 + ("approach 2 (Taylor data at x1 fixed)" if family == "taylor" else "approach 1 (minima fixed)"),
        family=family, conditions=conditions, heights=heights, polynomials=infos, bar_heights=bars.tolist(),
        curves=[_curve(p, x1 - 0.6, max(x2s) + 0.6) for p in members],
        starts=x0.tolist(), steps=steps, escape_lr=escape_lr.tolist(), escape_lr_mean=mean.tolist(),
        escape_lr_below=found["below"].reshape(len(members), starts).tolist(),
        steps_to_escape=dict(start=x1 + radius / 2, lr=lrs.tolist(),
                             steps=runs["steps_to_escape"].reshape(len(members), len(lrs)).tolist()),
        fit=fit_line(np.repeat(bars, starts), escape_lr.ravel()),
        criterion=f"crosses the local maximum and settles within 1e-6 of the global minimum within {steps} steps",
    )


def _valley(bend: float, seed: int):
    """The bent valley, its landscape and its two minima (descent from 10 seeded random points)."""
    function = bent_valley(bend)
    landscape = function.landscape()
    starts = function.random_points(10, torch.Generator().manual_seed(seed))
    minima = find_minima(landscape, starts, steps=2000, lr=1e-2)
    if len(minima) != 2:
        raise RuntimeError(f"expected the bent valley's 2 minima, found {len(minima)}")
    return function, landscape, minima


def _contours(function, n: int) -> dict:
    xs, ys, values = function.on_grid(n)
    return dict(x=xs.tolist(), y=ys.tolist(), loss=values.tolist())


@experiment
def insertion(bend: float = BEND, bends: int = 2, steps: int = 600, insert_every: int = 100, lr: float = 1e-2,
              grid: int = 101, seed: int = 0) -> dict:
    """Appendix C, Fig 13: the point chain with insertion on the bent valley, whose straight segment
    between the minima leaves the valley. ``bends`` interior points first; ``snapshots``: the chain
    (all points, endpoints included, and their t) before optimisation, just after the first
    insertion (the new points sit on the chords between the optimised ones, off the valley), after the
    second, and after training; ``grid``: the function on a ``grid`` x ``grid`` mesh for contours."""
    function, landscape, minima = _valley(bend, seed)
    wanted = {0: "before", insert_every: "first insertion", 2 * insert_every: "second insertion"}
    snapshots = []

    def monitor(step, chain, grad):
        if step in wanted:
            snapshots.append(_snapshot(wanted[step], step, chain, landscape))

    chain = fit_curve(landscape, minima[0], minima[1], "pointchain", bends=bends, insert_every=insert_every,
                      recipe=Recipe(steps=steps, lr=lr), monitor=monitor, what="insertion")
    snapshots.append(_snapshot("after", steps, chain, landscape))
    return dict(function=function.name, bend=bend, minima=minima.tolist(), steps=steps, insert_every=insert_every,
                snapshots=snapshots, grid=_contours(function, grid))


def _snapshot(label: str, step: int, chain, landscape) -> dict:
    points = chain.points().detach()
    return dict(label=label, step=step, points=points.tolist(), t=chain.positions.tolist(),
                loss=landscape.evaluate(points).tolist(), max_loss=float(chain.profile(61, landscape)[1].max()))


@experiment
def gradient_components(bend: float = BEND, bends: int = 10, steps: int = 1200, insert_every: int = 120,
                        epoch: int = 20, lr: float = 1e-2, moments: int = 6, seed: int = 0) -> dict:
    """Appendix H, Figs 19-20: the gradient at every interior point of the point chain, split along the
    chain's tangent (the chord between its two neighbours, normalised) and orthogonal to it.

    ``epochs``: per ``epoch`` steps (which must divide ``insert_every``, so that the points do not change
    within one), the points' positions t, the mean tangent norm |g.tau| and the accumulated orthogonal
    norm sum |g - (g.tau) tau| of each point; ``per_step``: the mean tangent and the summed orthogonal
    norm over the points at every step; ``moments``: indices of ``moments`` epochs, geometrically spaced
    (the chain changes fastest early), first and last included.
    """
    if insert_every % epoch:
        raise ValueError(f"epoch ({epoch} steps) must divide insert_every ({insert_every}), "
                         "so that the points stay fixed within one")
    function, landscape, minima = _valley(bend, seed)
    tangent, orthogonal, positions = [], [], []

    def monitor(step, chain, grad):
        p = chain.points().detach()
        # Central difference: the mean of the two unit directions is undefined where the chain folds back
        # on itself (a point that overshot an endpoint), the chord between the neighbours is not.
        tau = torch.nn.functional.normalize(p[2:] - p[:-2], dim=-1)
        along = (grad * tau).sum(-1, keepdim=True)
        tangent.append(along.abs()[:, 0].numpy())
        orthogonal.append(torch.linalg.vector_norm(grad - along * tau, dim=-1).numpy())
        positions.append(chain.positions[1:-1].numpy())

    # Every point follows its gradient in every epoch, with an insertion after each period (the all-trainable
    # variant): frozen points and a settling period that stops early would leave holes in the per-point logs.
    fit_curve(landscape, minima[0], minima[1], "pointchain", bends=bends, insert_every=insert_every,
              recipe=Recipe(steps=steps, lr=lr), monitor=monitor, what="gradient components",
              freeze_borders=False, interval_points=1, ridge_tolerance=None)
    epochs = []
    for first in range(0, steps, epoch):
        block = slice(first, min(first + epoch, steps))
        epochs.append(dict(epoch=len(epochs), first_step=first, last_step=block.stop - 1, t=positions[first].tolist(),
                           tangent_mean=np.mean(tangent[block], axis=0).tolist(),
                           orthogonal_sum=np.sum(orthogonal[block], axis=0).tolist()))
    return dict(
        function=function.name, bend=bend, steps=steps, insert_every=insert_every, epoch=epoch,
        epochs=epochs, moments=np.unique(np.geomspace(1, len(epochs), moments).round().astype(int) - 1).tolist(),
        per_step=dict(tangent_mean=[float(t.mean()) for t in tangent],
                      orthogonal_sum=[float(o.sum()) for o in orthogonal], points=[len(t) for t in tangent]),
    )
