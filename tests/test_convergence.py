"""Estimates that know whether they have converged: the trace and its verdict, the gradient at the top,
the climbing string landing on saddles of landscapes with known answers, adaptive budgets that stop,
and an adaptive fit stopped and resumed."""

import math

import numpy as np
import pytest
import torch

from lossbarcode import barcode
from lossbarcode.checkpoint import Checkpoint
from lossbarcode.convergence import (CONVERGED, FALLING, RISING, TOO_SHORT, Convergence, Tolerance, Trace,
                                     check_steps, run_checked, split_gradient)
from lossbarcode.curves import fit_curve, load_curve, curve_state
from lossbarcode.functions import arc_of_wells, bent_valley, six_hump_camel
from lossbarcode.landscape import FunctionLandscape
from lossbarcode.minima import descend
from lossbarcode.pipeline import find_minima
from lossbarcode.simplex import fit_triangle
from lossbarcode.train import Recipe


# ----- the trace and its verdict ---------------------------------------------------------------------
def test_checks_double_up_to_the_cap():
    assert check_steps(3000, 3) == [375, 750, 1500, 3000]
    assert check_steps(10, 3) == [2, 3, 5, 10]
    assert check_steps(3, 3) == [1, 2, 3]
    assert check_steps(1, 3) == [1]


def test_the_tolerance_is_relative_to_the_height_with_a_floor():
    tolerance = Tolerance(relative=0.1, absolute=0.02)
    assert tolerance.of(1.0) == pytest.approx(0.1)
    assert tolerance.of(0.05) == 0.02
    assert tolerance.of(-1.0) == 0.02
    with pytest.raises(ValueError, match="never be met"):
        Tolerance(0, 0)
    with pytest.raises(ValueError, match="non-negative"):
        Tolerance(-0.1, 0.01)


@pytest.mark.parametrize(("maxima", "verdict"), [
    ([2.0, 1.5, 1.2, 1.19], CONVERGED),   # moved 0.01 over the last doubling, tolerance 0.05 * 1.19
    ([2.0, 1.5, 1.2, 0.9], FALLING),
    ([1.0, 1.2, 1.5, 1.9], RISING),       # the recipe drives the maximum uphill: reported, not hidden
    ([1.0], TOO_SHORT),
    ([0.005], CONVERGED),                 # within the floor's tolerance: it cannot come down further
    ([1.0, 0.5, 0.2, 0.008], CONVERGED),
])
def test_the_verdict_compares_the_last_doubling(maxima, verdict):
    trace = Trace(floor=0.0)
    steps = [1, 2, 4, 8][-len(maxima):]
    for step, value in zip(steps, maxima):
        trace.add(step, value)
    assert trace.verdict(Tolerance(0.05, 0.01))[0] == verdict
    record = trace.record(Convergence(), cap=8, gradient=None)
    assert record["converged"] == (verdict == CONVERGED) and record["used"] == 8 and record["cap"] == 8
    assert record["trace"][-1] == {"step": 8, "max": maxima[-1]} and record["verdict"] == verdict


def test_an_adaptive_budget_stops_at_its_floor():
    values = iter([0.5, 0.105])  # the second check is within 0.01 of the higher end's loss, 0.1
    trace = run_checked(lambda start, stop: None, lambda step: next(values), 80,
                        Convergence(Tolerance(0.05, 0.01), 3, until_converged=True), Trace(floor=0.1))
    assert trace.steps == [10, 20]


def test_an_adaptive_budget_stops_at_the_first_settled_doubling():
    values = iter([3.0, 2.0, 1.99, 1.0])
    ran = []
    trace = run_checked(lambda start, stop: ran.append((start, stop)), lambda step: next(values), 80,
                        Convergence(Tolerance(0.05, 0.01), 3, until_converged=True), Trace(floor=0.0))
    assert ran == [(0, 10), (10, 20), (20, 40)] and trace.steps == [10, 20, 40]
    fixed = run_checked(lambda start, stop: None, lambda step: 1.0, 80, Convergence(doublings=3), Trace(floor=0.0))
    assert fixed.steps == [10, 20, 40, 80]
    with pytest.raises(ValueError, match="Convergence.of"):
        run_checked(lambda start, stop: None, lambda step: 1.0, 80, Convergence(), Trace(floor=0.0))


def test_no_doubling_starts_before_the_fit_last_changed_its_shape():
    trace = Trace(floor=0.0)
    for step, value in ((10, 2.0), (20, 1.99)):
        trace.add(step, value)
    trace.restart(20)  # e.g. a climbing node chosen at step 20: a new fit from there
    assert trace.verdict(Tolerance(0.05, 0.01))[0] == TOO_SHORT
    trace.add(40, 1.2)
    assert trace.verdict(Tolerance(0.05, 0.01))[:2] == (FALLING, pytest.approx(1.2 - 1.99))
    restored = Trace(floor=1.0)
    restored.load(trace.state())
    assert restored == trace and trace.record(Convergence(doublings=3), 40, None)["since"] == 20


def test_a_string_relaxing_before_its_climb_does_not_stop_above_the_saddle():
    """A 4-node string on the bent valley settles between its nodes far above the saddle before it
    climbs; checks from 1/64 of the cap would stop it there if doublings before the climb counted.
    Its settling is what starts the climb (or 1/8 of the cap at the latest)."""
    function = bent_valley()
    landscape = function.landscape()
    a, b = find_minima(landscape, function.random_points(10, torch.Generator().manual_seed(0)), steps=2000, lr=0.01)
    (birth, saddle), = [bar for bar in barcode.sublevel_persistence(function.on_grid(801)[2])[0] if np.isfinite(bar[1])]
    string = fit_curve(landscape, a, b, "climbing", bends=4, recipe=Recipe(steps=1600, lr=1e-2), climb_from=0.125,
                       convergence=Convergence(until_converged=True))
    record = string.convergence
    assert 25 < record["since"] < 200  # it climbed once it settled, after its first check, before 1/8 of the cap
    assert record["used"] >= 2 * record["since"] and record["used"] < 1600
    assert string.measured[1].max() - saddle < 0.02 * (saddle - birth)  # 106% above when it stopped before the climb


def test_the_gradient_splits_along_and_across():
    split = split_gradient(torch.tensor([3.0, 4.0, 12.0]), torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    assert split == pytest.approx({"norm": 13.0, "along": 5.0, "across": 12.0})


# ----- fits on landscapes with known answers ---------------------------------------------------------
def valley_ends():
    """The two minima on either side of the arc of wells' thinnest wall (0.035 wide at phi = 1.025)."""
    landscape = arc_of_wells().landscape()
    starts = torch.tensor([[math.cos(phi), math.sin(phi)] for phi in (1.55, 0.5)], dtype=torch.float64)
    return landscape, descend(landscape, starts, Recipe(steps=2000, lr=0.01))


def thin_wall_saddle(landscape, a, b):
    """The wall's pass: the highest of the lowest losses across the valley at each angle between the two
    minima, on a fine polar grid."""
    phis = torch.linspace(math.atan2(b[1], b[0]), math.atan2(a[1], a[0]), 20001, dtype=torch.float64)
    radii = torch.linspace(0.6, 1.4, 1601, dtype=torch.float64)  # the pass dips inwards, where r^2 lowers the wall
    points = torch.stack(torch.meshgrid(radii, phis, indexing="ij"), -1).reshape(-1, 2)
    values = landscape.evaluate(torch.stack([points[:, 0] * torch.cos(points[:, 1]),
                                             points[:, 0] * torch.sin(points[:, 1])], -1)).reshape(1601, 20001)
    return float(values.min(0).values.max())


def test_the_climbing_point_lands_on_the_saddle_of_a_thin_wall():
    landscape, (a, b) = valley_ends()
    saddle = thin_wall_saddle(landscape, a, b)
    low = float(landscape.evaluate(torch.stack([a, b])).min())
    curve = fit_curve(landscape, a, b, "climbing", recipe=Recipe(steps=1500, lr=1e-2))
    top = float(curve.measured[1].max())
    assert top >= saddle - 1e-4 * (saddle - low)  # an upper bound, up to the walk's resolution
    assert top - saddle < 0.005 * (saddle - low)
    record = curve.convergence
    assert record["converged"] and record["gradient"]["norm"] < 1e-3  # at rest on a critical point
    assert record["trace"][-1]["max"] == top and record["used"] == 1500


def test_a_maximum_still_falling_is_flagged_and_a_settled_one_converges_on_the_saddle():
    function = bent_valley()  # two minima at the ends of a bent valley, one saddle halfway along it
    landscape = function.landscape()
    a, b = find_minima(landscape, function.random_points(10, torch.Generator().manual_seed(0)), steps=2000, lr=0.01)
    (birth, saddle), = [bar for bar in barcode.sublevel_persistence(function.on_grid(801)[2])[0] if np.isfinite(bar[1])]
    # a few steps in, the string is still coming down the valley's wall
    early = fit_curve(landscape, a, b, "climbing", recipe=Recipe(steps=40, lr=1e-2))
    assert early.convergence["verdict"] == FALLING and not early.convergence["converged"]
    assert early.convergence["change"] < -early.convergence["tolerance"]
    assert early.convergence["gradient"]["across"] > 0.1  # not yet at rest
    # long enough: settled, on the saddle, at rest there
    settled = fit_curve(landscape, a, b, "climbing", recipe=Recipe(steps=400, lr=1e-2))
    assert settled.convergence["verdict"] == CONVERGED
    assert abs(settled.measured[1].max() - saddle) < 0.005 * (saddle - birth)
    assert settled.convergence["gradient"]["norm"] < 0.01


def test_an_adaptive_budget_stops_early_at_the_same_saddle():
    function = six_hump_camel
    landscape = function.landscape()
    minima = find_minima(landscape, function.random_points(40, torch.Generator().manual_seed(0)), steps=2000, lr=0.01)
    whole = fit_curve(landscape, minima[0], minima[1], "climbing")
    adaptive = fit_curve(landscape, minima[0], minima[1], "climbing", convergence=Convergence(until_converged=True))
    assert adaptive.convergence["converged"] and adaptive.convergence["used"] <= whole.convergence["cap"] // 2
    assert adaptive.convergence["until_converged"]
    scale = float(landscape.evaluate(minima).max() - landscape.evaluate(minima).min())
    assert abs(adaptive.measured[1].max() - whole.measured[1].max()) < 0.005 * scale


def test_adaptive_budgets_refuse_what_they_cannot_stop():
    landscape, (a, b) = valley_ends()
    adaptive = Convergence(until_converged=True)
    with pytest.raises(ValueError, match="constant learning rate"):
        fit_curve(landscape, a, b, "bezier", convergence=adaptive)  # Garipov's schedule spans the whole cap
    with pytest.raises(ValueError, match="use method 'climbing'"):
        fit_curve(landscape, a, b, "pointchain", convergence=adaptive)


def test_a_triangle_keeps_its_record():
    landscape = FunctionLandscape(lambda p: ((p**2).sum(-1) - 1) ** 2 + 0.3 * p[:, 0], 2)
    vertices = [torch.tensor([math.cos(phi), math.sin(phi)], dtype=torch.float64) for phi in (0.3, 2.3, 4.3)]
    sides = [fit_curve(landscape, vertices[i], vertices[j], "climbing", recipe=Recipe(steps=400, lr=1e-2))
             for i, j in ((0, 1), (0, 2), (1, 2))]
    triangle = fit_triangle(landscape, tuple(vertices), sides, recipe=Recipe(steps=200, lr=1e-2), grid=8,
                            convergence=Convergence(until_converged=True))
    record = triangle.convergence
    assert record["until_converged"] and record["trace"][-1]["max"] == triangle.measured_lifespan["max"]
    assert record["height"] == pytest.approx(triangle.measured_lifespan["max"] - triangle.measured_lifespan["bar"][0])
    assert set(record["gradient"]) == {"norm", "along", "across"}
    assert len(triangle.measured_lifespan["argmax"]) == 3


# ----- stopped and resumed ---------------------------------------------------------------------------
class Stopped(Exception):
    """Stands in for a kill: raised from inside a training step."""


def stopping_after(landscape, calls):
    count = [0]
    original = landscape.loss

    def loss(theta):
        count[0] += 1
        if count[0] > calls:
            raise Stopped
        return original(theta)

    stopped = FunctionLandscape(landscape.fn, landscape.dim)
    stopped.loss = loss
    return stopped


@pytest.mark.parametrize("nodes", [2, 4])
def test_a_string_that_starts_across_an_unbounded_gradient_does_not_run_away(nodes):
    """The bent valley's straight segment passes by the origin, where its angle's gradient is unbounded:
    a node there leapt away, dragging the climbing node and its few-node string uphill to 1e200."""
    function = bent_valley()
    landscape = function.landscape()
    a, b = find_minima(landscape, function.random_points(10, torch.Generator().manual_seed(0)), steps=2000, lr=0.01)
    curve = fit_curve(landscape, a, b, "climbing", bends=nodes, recipe=Recipe(steps=3200, lr=1e-2),
                      convergence=Convergence(until_converged=True))
    first, *later = [check["max"] for check in curve.convergence["trace"]]
    assert first > 10 and max(later) < 1.001 * first  # it starts near the origin, and never climbs above that
    assert curve.convergence["trace"][-1]["max"] < 1.0  # the saddle is at 0.6


@pytest.mark.parametrize("calls", [37, 50])  # mid-epoch, and exactly at a check (step 50 of 400, epochs of 10)
def test_an_adaptive_climbing_fit_stopped_and_resumed_ends_bit_identical(tmp_path, calls):
    landscape, (a, b) = valley_ends()
    recipe = Recipe(steps=400, lr=1e-2)
    adaptive = Convergence(Tolerance(0.05, 1e-4), 3, until_converged=True)  # checks at 50, 100, 200 and 400

    def fit(on, checkpoint=None):
        return fit_curve(on, a, b, "climbing", bends=6, recipe=recipe, convergence=adaptive, steps_per_epoch=10,
                         checkpoint=checkpoint)

    whole = fit(landscape)
    assert 100 <= whole.convergence["used"] < 400  # it stopped early, after the climbing began
    path = tmp_path / f"fit-{calls}.ckpt"
    with pytest.raises(Stopped):
        fit(stopping_after(landscape, calls), Checkpoint(path, every=1))
    resumed = fit(landscape, Checkpoint(path, every=1))
    assert resumed.convergence == whole.convergence
    for key, value in curve_state(whole)["state"].items():
        assert torch.equal(curve_state(resumed)["state"][key], value), key
    np.testing.assert_array_equal(resumed.measured[1], whole.measured[1])
    assert torch.equal(load_curve(curve_state(resumed)).points(), whole.points())
