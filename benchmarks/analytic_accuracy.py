"""How accurate is each curve method, on what budget, at what cost: estimates vs exact barcodes.

For each analytic landscape (lossbarcode.functions) the exact barcode comes from sublevel-set
persistence on a 801 x 801 grid; the estimate from the pipeline (descend, de-duplicate, a curve per
pair, persistence). Error = largest |estimated - exact| finite H0 death, in % of
(highest finite death - global minimum). Prints Markdown tables:

1. error and wall time of each method at several step budgets (each method's own default recipe
   with only ``steps`` changed), on the six-hump camel and five Gaussian wells;
2. on the bent valley, the over-estimate of Bezier and polygonal chains with 1-8 bends, and of the
   point chain;
3. on three wells on a ring, the H1 bar from triangles vs the exact one;
4. on curved valleys with walls of different widths (arc of wells, sine valley, ring valley), each
   method's largest over- and under-estimate of the H0 deaths: a bar is a curve's highest loss, so
   it may lie above the exact death but never below it;
5. on every landscape, the same for the climbing string at its default budget and with that budget a
   cap (``until_converged``), against the point chain.

    python benchmarks/analytic_accuracy.py
"""

import dataclasses
import time

import numpy as np
import torch

from lossbarcode import barcode
from lossbarcode.convergence import Convergence
from lossbarcode.curves import fit_curve
from lossbarcode.functions import arc_of_wells, bent_valley, five_wells, ring_of_wells, ring_valley, sine_valley, six_hump_camel
from lossbarcode.pipeline import estimate_barcode, find_minima
from lossbarcode.train import Recipe

DEFAULTS = {
    "bezier": Recipe(steps=3000, lr=1e-2, momentum=0.9, schedule="garipov"),
    "polychain": Recipe(steps=3000, lr=1e-2, momentum=0.9, schedule="garipov"),
    "pointchain": Recipe(steps=3000, lr=1e-2),
    "climbing": Recipe(steps=3000, lr=1e-2),
}


def finite(bars):
    bars = np.asarray(bars)
    bars = bars[np.isfinite(bars[:, 1])]
    return bars[bars[:, 1] - bars[:, 0] > 1e-3]


def setup(function, starts=40):
    landscape = function.landscape()
    minima = find_minima(landscape, function.random_points(starts, torch.Generator().manual_seed(0)), steps=2000, lr=0.01)
    exact = barcode.sublevel_persistence(function.on_grid(801)[2])
    scale = finite(exact[0])[:, 1].max() - exact[0][:, 0].min()
    return landscape, minima, exact, scale


def budgets_table():
    print("## H0 deaths: error (% of range) and time per method and budget\n")
    print("| landscape | minima | method | steps | max error % | seconds (all pairs) |")
    print("|---|---|---|---|---|---|")
    for function in (six_hump_camel, five_wells):
        landscape, minima, exact, scale = setup(function)
        truth = np.sort(finite(exact[0])[:, 1])
        for method, recipe in DEFAULTS.items():
            for steps in (250, 500, 1000, 2000, 3000):
                start = time.perf_counter()
                estimate = estimate_barcode(landscape, minima, method, curve_kw={"recipe": dataclasses.replace(recipe, steps=steps)})
                seconds = time.perf_counter() - start
                ours = np.sort(finite(estimate["h0"])[:, 1])
                error = np.abs(ours - truth).max() / scale * 100 if len(ours) == len(truth) else float("inf")
                print(f"| {function.name} | {len(minima)} | {method} | {steps} | {error:.3f} | {seconds:.1f} |", flush=True)


def bends_table():
    function = bent_valley()
    landscape, minima, exact, scale = setup(function, starts=10)
    (_, death), = finite(exact[0])
    print(f"\n## Bent valley: over-estimate of the saddle ({death:.4f}), % of range {scale:.4f}\n")
    print("| method | bends (initial points for pointchain) | highest loss on curve | over-estimate % | seconds |")
    print("|---|---|---|---|---|")
    for method, bends in [("polychain", b) for b in (1, 2, 3, 4, 6, 8)] + [("bezier", b) for b in (1, 2, 3, 4, 6, 8)] + [("pointchain", 10)]:
        start = time.perf_counter()
        top = fit_curve(landscape, minima[0], minima[1], method, bends=bends).profile()[1].max()
        print(f"| {method} | {bends} | {top:.4f} | {(top - death) / scale * 100:.2f} | {time.perf_counter() - start:.1f} |", flush=True)


def ring_table():
    function = ring_of_wells()
    landscape, minima, exact, _ = setup(function, starts=20)
    (birth, death), = finite(exact[1])
    value_range = death - exact[0][:, 0].min()
    print(f"\n## Three wells on a ring: H1 bar, exact [{birth:.4f}, {death:.4f}], value range {value_range:.4f}\n")
    print("| curve method | triangle sides | estimated H1 bar | birth error % | death error % | seconds |")
    print("|---|---|---|---|---|---|")
    for method in ("polychain", "pointchain", "climbing"):
        for train_sides in (False, True):
            start = time.perf_counter()
            estimate = estimate_barcode(landscape, minima, method, triangles=True, triangle_kw={"train_sides": train_sides})
            (b, d), = estimate["h1"]
            print(f"| {method} | {'trained' if train_sides else 'fixed'} | [{b:.4f}, {d:.4f}] | "
                  f"{(b - birth) / value_range * 100:.2f} | {(d - death) / value_range * 100:.2f} | "
                  f"{time.perf_counter() - start:.1f} |", flush=True)


def curved_table():
    print("\n## Curved valleys: H0 deaths from above, default budgets (% of range)\n")
    print("| landscape | minima | method | largest over-estimate % | largest under-estimate % | seconds (all pairs) |")
    print("|---|---|---|---|---|---|")
    for function in (arc_of_wells(), sine_valley(), ring_valley()):
        landscape, minima, exact, scale = setup(function)
        truth = np.sort(finite(exact[0])[:, 1])
        for method in DEFAULTS:
            start = time.perf_counter()
            ours = np.sort(finite(estimate_barcode(landscape, minima, method)["h0"])[:, 1])
            seconds = time.perf_counter() - start
            if len(ours) != len(truth):
                print(f"| {function.name} | {len(minima)} | {method} | {len(ours)} bars, {len(truth)} exact | | {seconds:.1f} |")
                continue
            error = (ours - truth) / scale * 100
            print(f"| {function.name} | {len(minima)} | {method} | {max(error.max(), 0):.3f} | {max(-error.min(), 0):.3f} | "
                  f"{seconds:.1f} |", flush=True)


def climbing_table():
    """Every landscape of ``functions``: the climbing string at its default budget and with that budget a
    cap (``until_converged``), against the point chain at its default budget."""
    print("\n## The climbing string on every landscape: H0 deaths from above (% of range)\n")
    print("| landscape (minima) | climbing, 3000 steps | seconds | climbing, until converged | seconds | "
          "pointchain, 3000 steps |")
    print("|---|---|---|---|---|---|")
    runs = {"climbing": {}, "adaptive": {"convergence": Convergence(until_converged=True)}, "pointchain": {}}
    for function in (six_hump_camel, five_wells, ring_of_wells(), bent_valley(), arc_of_wells(), sine_valley(),
                     ring_valley()):
        landscape, minima, exact, scale = setup(function)
        truth = np.sort(finite(exact[0])[:, 1])
        cells = []
        for name, options in runs.items():
            method = "climbing" if name == "adaptive" else name
            start = time.perf_counter()
            ours = np.sort(finite(estimate_barcode(landscape, minima, method, curve_kw=options)["h0"])[:, 1])
            seconds = time.perf_counter() - start
            if len(ours) != len(truth):
                cells.append(f"{len(ours)} bars, {len(truth)} exact")
            else:
                error = (ours - truth) / scale * 100
                cells.append(f"{max(error.max(), 0):.3f} / {max(-error.min(), 0):.3f}")
            if name != "pointchain":
                cells.append(f"{seconds:.1f}")
        print(f"| {function.name} ({len(minima)}) | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    budgets_table()
    bends_table()
    ring_table()
    curved_table()
    climbing_table()
