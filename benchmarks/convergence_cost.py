"""How many gradient evaluations each curve method needs to bring its maximum within 1% of the loss range
of the best value known, and what an adaptive budget spends and reaches.

A gradient evaluation is one point's gradient of the training loss: one per point a step trains (a
Bezier curve's or polygonal chain's sampled point, every moving node of a chain); for a network, one
minibatch's forward and backward pass. The measurements of the checks are counted apart.

For every case (a landscape and the pairs of minima that decide its H0 bars) and every method and
recipe, fits run at a ladder of budgets (50 * 2**k steps); the best value of a pair is the lowest
maximum any fit reached (every maximum is an upper bound of the pair's minimax loss). A method's cost
is the gradient evaluations of the smallest budget from which on its maximum stays within 1% of the
pair's loss range (the straight segment's highest loss minus the lower minimum's: a scale that does
not vanish when the minima are connected without a barrier) of the best value; "never" where the largest budget does not get
there, with how far above it ends; in brackets, the points its checks measured. The adaptive rows run
with ``until_converged`` at the largest budget as their cap, with the climbing string's default checks
(after cap / 2**k steps for k = 6 .. 0, climbing from the first) and the previous default's (k = 3 ..
0, climbing from 1/8 of the cap): what they spent, where they stopped, and their error.

Cases: the analytic landscapes of ``lossbarcode.functions``; with ``--networks``, the quick profile's
FCNs on the digits stand-in (width 32, 1,000 training images, minima by its minimum recipe).

    python benchmarks/convergence_cost.py [--networks | --networks-only] [--ladder 7]
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from lossbarcode import barcode, functions
from lossbarcode.convergence import Convergence
from lossbarcode.curves import CLIMB_FROM, fit_curve
from lossbarcode.landscape import Landscape
from lossbarcode.pipeline import find_minima
from lossbarcode.train import Recipe


class Counting(Landscape):
    """A landscape that counts the points whose training loss (and so gradient) it computes, and the
    points it measures (the checks' profiles: forward passes over the measurement set)."""

    def __init__(self, inner: Landscape):
        self.inner, self.dim, self.dtype, self.device = inner, inner.dim, inner.dtype, inner.device
        self.gradients = self.measured = 0

    def loss(self, theta):
        self.gradients += 1 if theta.ndim == 1 else len(theta)
        return self.inner.loss(theta)

    def evaluate(self, theta):
        self.measured += 1 if theta.ndim == 1 else len(theta)
        return self.inner.evaluate(theta)

    def gradient(self, theta):
        return self.inner.gradient(theta)


@dataclass(frozen=True)
class Candidate:
    name: str
    method: str
    recipe: dict  # Recipe fields but steps
    bends: int | None = None
    doublings: int | None = None  # None: the method's own
    climb_from: float = CLIMB_FROM


ANALYTIC = [
    Candidate("pointchain, SGD (today's default)", "pointchain", {"lr": 1e-2}),
    Candidate("polychain, SGD momentum, Garipov", "polychain", {"lr": 1e-2, "momentum": 0.9, "schedule": "garipov"}),
    Candidate("polychain 3 bends, Adam", "polychain", {"lr": 1e-2, "optimizer": "adam"}, bends=3),
    Candidate("bezier, SGD momentum, Garipov", "bezier", {"lr": 1e-2, "momentum": 0.9, "schedule": "garipov"}),
    Candidate("bezier 3 bends, Adam", "bezier", {"lr": 1e-2, "optimizer": "adam"}, bends=3),
    Candidate("climbing, SGD", "climbing", {"lr": 1e-2}),
    Candidate("climbing, SGD momentum", "climbing", {"lr": 1e-2, "momentum": 0.9}),
    Candidate("climbing, Adam", "climbing", {"lr": 1e-2, "optimizer": "adam"}),
]
NETWORK = [
    Candidate("pointchain, SGD 0.05 (today's quick default)", "pointchain", {"lr": 0.05}, bends=4),
    Candidate("polychain, SGD momentum, Garipov", "polychain", {"lr": 0.05, "momentum": 0.9, "schedule": "garipov"}),
    Candidate("bezier, Adam", "bezier", {"lr": 3e-3, "optimizer": "adam"}),
    Candidate("climbing, SGD 0.05", "climbing", {"lr": 0.05}),
    Candidate("climbing, Adam 1e-3", "climbing", {"lr": 1e-3, "optimizer": "adam"}),
    Candidate("climbing, Adam 3e-3", "climbing", {"lr": 3e-3, "optimizer": "adam"}),
]
#: Adaptive budgets (the largest budget a cap), with their checks after cap / 2**k for k = doublings .. 0:
#: the climbing string's default (6, climbing from its first check) and the previous one (3, from 1/8);
#: with 1 node the string is Garipov's one-bend chain with a climbing bend, the climbing variant of a
#: polygonal chain (a Bezier curve has no point on the curve to climb).
ADAPTIVE = {"analytic": [Candidate("climbing, SGD, until converged", "climbing", {"lr": 1e-2}),
                         Candidate("climbing 1 node (a one-bend chain whose bend climbs), SGD, until converged",
                                   "climbing", {"lr": 1e-2}, bends=1),
                         Candidate("climbing 2 nodes, SGD, until converged", "climbing", {"lr": 1e-2}, bends=2),
                         Candidate("climbing 4 nodes, SGD, until converged", "climbing", {"lr": 1e-2}, bends=4),
                         Candidate("climbing, SGD, until converged, checks and climb from 1/8 (previous default)",
                                   "climbing", {"lr": 1e-2}, doublings=3, climb_from=0.125)],
            "network": [Candidate("climbing, Adam 3e-3, until converged", "climbing", {"lr": 3e-3, "optimizer": "adam"}),
                        Candidate("climbing 1 node (a one-bend chain whose bend climbs), Adam 3e-3, until converged",
                                  "climbing", {"lr": 3e-3, "optimizer": "adam"}, bends=1),
                        Candidate("climbing 4 nodes, Adam 3e-3, until converged", "climbing",
                                  {"lr": 3e-3, "optimizer": "adam"}, bends=4),
                        Candidate("climbing, Adam 3e-3, until converged, checks and climb from 1/8 (previous default)",
                                  "climbing", {"lr": 3e-3, "optimizer": "adam"}, doublings=3, climb_from=0.125),
                        Candidate("polychain, Adam 3e-3, until converged", "polychain", {"lr": 3e-3, "optimizer": "adam"})]}


def fit(landscape: Counting, a, b, candidate: Candidate, steps: int, until_converged: bool = False):
    """The fit's final maximum, its gradient evaluations, its measured points and its record; a fit that
    diverges ends at an infinite maximum, with the record saying so."""
    landscape.gradients = landscape.measured = 0
    try:
        curve = fit_curve(landscape, a, b, candidate.method, bends=candidate.bends,
                          recipe=Recipe(steps=steps, **candidate.recipe), steps_per_epoch=steps,
                          climb_from=candidate.climb_from,
                          convergence=Convergence(doublings=candidate.doublings, until_converged=until_converged))
    except FloatingPointError:
        return math.inf, landscape.gradients, landscape.measured, {"used": steps, "cap": steps, "verdict": "diverged"}
    top = float(curve.measured[1].max())
    return top if math.isfinite(top) else math.inf, landscape.gradients, landscape.measured, curve.convergence


def deciding_pairs(landscape, minima) -> list[tuple[int, int]]:
    """The pairs whose curves end the H0 bars, by a climbing estimate of every pair."""
    values = landscape.evaluate(minima).double().cpu().numpy()
    edges = {(i, j): float(fit_curve(landscape, minima[i], minima[j], "climbing",
                                     convergence=Convergence(until_converged=True)).measured[1].max())
             for i, j in itertools.combinations(range(len(minima)), 2)}
    return sorted({edge for edge in barcode.h0_deciding_edges(values, edges) if edge is not None})


def table(title: str, landscape: Landscape, minima, candidates: list[Candidate], adaptive: list[Candidate],
          ladder: list[int]):
    counting = Counting(landscape)
    low = landscape.evaluate(minima).double().cpu().numpy()
    pairs = deciding_pairs(landscape, minima)
    print(f"\n### {title}: {len(minima)} minima, pairs {pairs}\n")
    print("| pair | method and recipe | gradient evaluations to within 1% (points measured) | "
          "largest budget: error % | seconds |")
    print("|---|---|---|---|---|")
    for i, j in pairs:
        runs = {}
        for candidate in candidates:
            start = time.perf_counter()
            runs[candidate.name] = [fit(counting, minima[i], minima[j], candidate, steps)[:3] for steps in ladder]
            runs[candidate.name].append(time.perf_counter() - start)
        stopped = {}
        for candidate in adaptive:
            start = time.perf_counter()
            result = fit(counting, minima[i], minima[j], candidate, ladder[-1], True)
            stopped[candidate.name] = (*result, time.perf_counter() - start)
        best = min(min(value for value, *_ in rows[:-1]) for rows in runs.values())
        segment = torch.lerp(minima[i], minima[j], torch.linspace(0, 1, 61, dtype=minima.dtype)[:, None].to(minima))
        scale = float(landscape.evaluate(segment).max()) - min(low[i], low[j])
        for name, rows in runs.items():
            *rows, seconds_all = rows
            errors = [(value - best) / scale * 100 for value, *_ in rows]  # inf for a fit that diverged
            within = [k for k in range(len(rows)) if all(e <= 1 for e in errors[k:])]
            cost = f"{rows[within[0]][1]:,} ({rows[within[0]][2]:,})" if within else "never"
            print(f"| {i}-{j} | {name} | {cost} | {errors[-1]:.2f} | {seconds_all:.1f} |", flush=True)
        for name, (top, evaluations, measured, record, seconds) in stopped.items():
            print(f"| {i}-{j} | {name} | {evaluations:,} ({measured:,}; stopped at step {record['used']} of "
                  f"{record['cap']}, {record['verdict']}) | {(top - best) / scale * 100:.2f} | {seconds:.1f} |", flush=True)


def network_cases():
    from lossbarcode import jobs
    from lossbarcode.data import prepare
    from lossbarcode.minima import descend
    from lossbarcode.spec import RunSpec

    data = str(prepare("digits", "data"))
    for model in ("fcn-2", "fcn-4"):
        spec = RunSpec.parse({
            "experiment": "benchmark", "run": model, "dataset": "digits", "model": model, "model_args": {"width": 32},
            "data": {"train_size": 1000}, "device": "cpu",
            "minimum": {"optimizer": "adam", "lr": 5e-3, "epochs": 60, "batch_size": 100, "schedule": "cyclic",
                        "schedule_args": {"period": 20, "low": 0.1}},
            "curve": {"optimizer": "sgd", "lr": 0.05, "epochs": 1, "batch_size": 100, "method": "climbing", "bends": 8},
        })
        minima = []
        for seed in range(3):
            landscape, *_ = jobs.landscape_for(spec, data, "minimum", seed)
            minima.append(descend(landscape, landscape.flatten(), spec.minimum.recipe(landscape.steps_per_epoch),
                                  steps_per_epoch=landscape.steps_per_epoch))
        landscape, *_ = jobs.landscape_for(spec, data, "curve", 0)
        yield f"{model}, width 32, digits (1,000 images)", landscape, torch.stack(minima)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", action="store_true", help="also the quick profile's FCNs (minutes)")
    parser.add_argument("--networks-only", action="store_true", help="only the quick profile's FCNs")
    parser.add_argument("--ladder", type=int, default=7, help="budgets 50 * 2**k steps, k < LADDER")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ladder = [50 * 2**k for k in range(args.ladder)]
    print("## Gradient evaluations to bring each deciding curve's maximum within 1% of the best value known")
    analytic = (functions.six_hump_camel, functions.five_wells, functions.ring_of_wells(), functions.bent_valley(),
                functions.arc_of_wells(), functions.sine_valley(), functions.ring_valley())
    for function in () if args.networks_only else analytic:
        landscape = function.landscape()
        minima = find_minima(landscape, function.random_points(40, torch.Generator().manual_seed(0)), steps=2000, lr=0.01)
        table(function.name, landscape, minima, ANALYTIC, ADAPTIVE["analytic"], ladder)
    if args.networks or args.networks_only:
        for title, landscape, minima in network_cases():
            table(title, landscape, minima, NETWORK, ADAPTIVE["network"], ladder)


if __name__ == "__main__":
    main()
