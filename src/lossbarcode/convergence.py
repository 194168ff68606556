"""Whether an estimate has converged: the trace of its maximum over the budget, and the gradient at its top.

A curve's (a triangle's) bar is the highest loss it passes through: an upper bound of the saddle
it estimates, whose distance from the saddle depends on how long the fit ran. So every fit
measures its maximum, on the fixed measurement set, after ``check_steps(cap, doublings)`` steps:
an eighth, a quarter, half and all of its budget for 3 doublings (the *trace*). A fit that changes
its shape (a climbing string choosing its climbing node) restarts the trace: no doubling starts
before it. The estimate has converged when the maximum
moved by less than a ``Tolerance`` over the last doubling of the steps, or when it lies within the
tolerance of its floor, the higher end's loss, below which neither it nor the exact value can be; a
maximum that *rose* is reported as such (the recipe drives the fit uphill there). An adaptive budget (``until_converged``)
stops at the first check whose doubling moved less than the tolerance; its budget is then a cap.

At the end, ``stationarity`` gives the gradient of the measured loss at the highest point, split
into its part along the curve (the triangle) and across it (paper 002 Fig. 20's "orthogonal
gradient"): at a saddle of the landscape both vanish; at the top of a path that has not settled the
part across does not.

``Convergence`` bundles the settings; ``run_checked`` runs a fit through its checks; ``Trace.record``
is what the curve and triangle files and ``barcode.json`` carry.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a gradient is split: the configuration check imports this module
    from torch import Tensor

log = logging.getLogger("lossbarcode")

#: Checks before the whole budget of a fit that descends a mean loss (a Garipov curve, a triangle):
#: its maximum can stall early while it is far above the saddle, so the first check that can stop it
#: is after a quarter of the cap.
DOUBLINGS = 3

#: Verdicts of a trace: settled within the tolerance, still moving down or up, or too few checks to say.
CONVERGED, FALLING, RISING, TOO_SHORT = "converged", "falling", "rising", "too short"


@dataclass(frozen=True)
class Tolerance:
    """How much a maximum may move over the last doubling of its budget and count as converged:
    ``relative`` times the estimate's height (its maximum above the higher of its ends), but never
    less than ``absolute`` nats (a bar near zero is judged by the floor)."""

    relative: float = 0.05
    absolute: float = 0.01

    def __post_init__(self):
        if not (self.relative >= 0 and self.absolute >= 0 and math.isfinite(self.relative + self.absolute)):
            raise ValueError(f"convergence tolerances must be finite and non-negative, got relative={self.relative}, "
                             f"absolute={self.absolute}")
        if self.relative == 0 and self.absolute == 0:
            raise ValueError("a convergence tolerance of zero can never be met; give relative or absolute > 0")

    def of(self, height: float) -> float:
        """The tolerance in nats for an estimate ``height`` above its ends."""
        return max(self.absolute, self.relative * max(height, 0.0))


@dataclass(frozen=True)
class Convergence:
    """How a fit checks its maximum: the ``tolerance``, the number of ``doublings`` measured before the
    whole budget (3: after 1/8, 1/4, 1/2 and all of it; None: the estimator's own, ``of``), and
    whether the budget stops as soon as the maximum has settled (``until_converged``; the budget is
    then a cap)."""

    tolerance: Tolerance = field(default_factory=Tolerance)
    doublings: int | None = None
    until_converged: bool = False

    def __post_init__(self):
        if self.doublings is not None and self.doublings < 1:
            raise ValueError(f"a convergence check needs at least one doubling, got doublings={self.doublings}")

    def of(self, doublings: int) -> Convergence:
        """These settings, with ``doublings`` (the estimator's own) where they name none."""
        return self if self.doublings is not None else replace(self, doublings=doublings)


def adaptive_problems(schedule: str, method: str | None = None) -> list[str]:
    """Why a fit with ``schedule`` (and curve ``method``) cannot stop once its maximum settles: its
    learning rate must not depend on the cap, and the authors' point chain runs fixed stages."""
    problems = []
    if schedule != "constant":
        problems.append(f"a budget that stops when the maximum settles needs a constant learning rate (the "
                        f"{schedule!r} schedule is laid over the whole cap); use schedule 'constant'")
    if method == "pointchain":
        problems.append("the authors' point chain runs its fixed stages, so its budget cannot stop early; use "
                        "method 'climbing' for a budget that stops when the maximum settles")
    return problems


def check_steps(cap: int, doublings: int) -> list[int]:
    """The steps after which the maximum is measured: ``cap / 2**k`` for k = ``doublings`` .. 0, rounded
    up, without repeats (a cap of a few steps has fewer checks)."""
    return sorted({max(1, math.ceil(cap / 2**k)) for k in range(doublings, -1, -1)})


@dataclass
class Trace:
    """The maximum measured after each check (``steps`` and ``maxima``, in order), the loss of the
    higher end (``floor``), from which an estimate's height is measured, and the step ``since`` which
    the fit has kept its shape: checks before it measured another fit (a climbing string before its
    climbing node was last chosen), so no doubling starts there."""

    floor: float
    steps: list[int] = field(default_factory=list)
    maxima: list[float] = field(default_factory=list)
    since: int = 0

    def add(self, step: int, maximum: float) -> None:
        self.steps.append(int(step))
        self.maxima.append(float(maximum))

    def restart(self, step: int) -> None:
        """The fit changed its shape at ``step``: the checks before it say nothing of its convergence."""
        self.since = int(step)

    def state(self) -> dict:
        return {"floor": self.floor, "steps": list(self.steps), "maxima": list(self.maxima), "since": self.since}

    def load(self, state: dict) -> None:
        self.floor, self.steps, self.maxima = state["floor"], list(state["steps"]), list(state["maxima"])
        self.since = state["since"]

    def change(self, since: int | None = None) -> float | None:
        """The last maximum minus the one measured at (or before) half its steps, at or after ``since``
        (default: the trace's); None without one."""
        if not self.steps:
            return None
        since = self.since if since is None else since
        half = [i for i, s in enumerate(self.steps) if since <= s and 2 * s <= self.steps[-1]]
        return None if not half else self.maxima[-1] - self.maxima[half[-1]]

    def verdict(self, tolerance: Tolerance, since: int | None = None) -> tuple[str, float | None, float]:
        """``(verdict, change, tolerance in nats)`` of the trace so far, its doublings from ``since``
        (default: the trace's).

        A maximum within the tolerance of its floor has converged whatever its trace: the path's
        highest loss is never below the higher end's (the profile measures the ends), nor is the
        exact minimax loss, so both lie within the tolerance of each other: the minima are
        connected without a barrier (for a triangle: the cycle of its sides is filled at its birth).
        """
        change = self.change(since)
        nats = tolerance.of(self.maxima[-1] - self.floor) if self.maxima else tolerance.absolute
        if self.maxima and self.maxima[-1] - self.floor <= nats:
            return CONVERGED, change, nats
        if change is None:
            return TOO_SHORT, None, nats
        if abs(change) <= nats:
            return CONVERGED, change, nats
        return (RISING if change > 0 else FALLING), change, nats

    def record(self, settings: Convergence, cap: int, gradient: dict | None) -> dict:
        """What the curve and triangle files carry: the trace, the budget used, the verdict and the
        gradient at the highest point (``stationarity``)."""
        verdict, change, nats = self.verdict(settings.tolerance)
        return {
            "trace": [{"step": s, "max": m} for s, m in zip(self.steps, self.maxima)],
            "cap": int(cap), "used": self.steps[-1] if self.steps else 0,
            "until_converged": settings.until_converged, "tolerance": nats,
            "height": max(self.maxima[-1] - self.floor, 0.0) if self.maxima else None,
            "change": change, "verdict": verdict, "converged": verdict == CONVERGED, "since": self.since,
            "gradient": gradient,
        }


def run_checked(advance: Callable[[int, int], None], measure: Callable[[int], float], cap: int,
                settings: Convergence, trace: Trace, *, resume_at: int = 0, what: str = "fit") -> Trace:
    """Runs a fit of ``cap`` steps through its checks: ``advance(start, stop)`` trains steps
    ``start..stop``; ``measure(step)`` returns the maximum after them, which ``trace`` records.

    With ``until_converged`` the run stops after the first check whose last doubling moved the
    maximum by less than the tolerance. A run resumed from a checkpoint at ``resume_at`` skips what
    was done before it: its trace (restored with the checkpoint, e.g. ``Checkpoint.track``) already
    holds those checks; a check at exactly ``resume_at`` was saved before it was measured, so it is
    measured again, with the same result, since measurements draw no random numbers.
    """
    start = 0
    if settings.doublings is None:
        raise ValueError("run_checked needs the number of doublings: resolve the estimator's own with Convergence.of")
    for step in check_steps(cap, settings.doublings):
        if step >= resume_at:
            advance(start, step)
            trace.add(step, measure(step))
            verdict, change, nats = trace.verdict(settings.tolerance)
            log.info("%s: max %.6g after step %d of %d (%s%s)", what, trace.maxima[-1], step, cap, verdict,
                     "" if change is None else f", {change:+.3g} over the last doubling, tolerance {nats:.3g}")
            if settings.until_converged and verdict == CONVERGED:
                if step < cap:
                    log.info("%s: converged after %d of %d steps (%.0f%% of the cap)", what, step, cap, 100 * step / cap)
                break
        start = step
    return trace


def split_gradient(gradient: Tensor, tangents: Tensor) -> dict:
    """The norm of ``gradient`` (``[dim]``) and of its parts along the span of ``tangents`` (``[k, dim]``:
    a curve's direction, or a triangle's two) and across it (paper 002 Fig. 20's orthogonal gradient)."""
    import torch

    g = gradient.detach().double()
    basis, _ = torch.linalg.qr(tangents.double().T)  # [dim, k], orthonormal columns
    along = basis @ (basis.T @ g)
    return {"norm": float(torch.linalg.vector_norm(g)), "along": float(torch.linalg.vector_norm(along)),
            "across": float(torch.linalg.vector_norm(g - along))}


def stationarity(landscape, weights: Callable[[Tensor], Tensor], point: Tensor, directions: Tensor,
                 step: float = 1e-3) -> dict:
    """The gradient of the measured loss at ``weights(point)`` split along and across the family's
    tangents there: central differences of ``weights`` along each of ``directions`` (rows, in the
    family's coordinates: t for a curve, barycentric for a triangle), each step clipped to the
    family's domain by ``weights``' caller. At a chain's knot the difference spans both of its
    segments, the chord's direction."""
    import torch

    point = point.double()
    with torch.no_grad():
        tangents = torch.stack([weights((point + step * d)[None])[0] - weights((point - step * d)[None])[0]
                                for d in directions.double()])
    return split_gradient(landscape.gradient(weights(point[None])[0].detach()), tangents)
