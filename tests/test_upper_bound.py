"""Every bar is a curve's profile maximum, so the profile must not miss the loss the curve passes through:
profiles against dense walks along the curves in parameter space (thin ridges between crowded knots,
thin walls across curved valleys, random crowded chains), and H0 deaths of every method against
exact barcodes, from above."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lossbarcode import barcode
from lossbarcode.checkpoint import Checkpoint
from lossbarcode.curves import Bezier, Chain, fit_curve
from lossbarcode.functions import arc_of_wells, ring_valley, sine_valley
from lossbarcode.landscape import FunctionLandscape
from lossbarcode.pipeline import estimate_barcode, find_minima
from lossbarcode.train import Recipe

#: Largest shortfall of a profile's maximum below a dense walk's, as a share of the loss range.
PROFILE_TOLERANCE = 1e-4


def chain_through(points, positions) -> Chain:
    points = torch.as_tensor(points, dtype=torch.float64)
    chain = Chain(points[0], points[-1], nodes=len(points) - 2)
    chain.positions = torch.as_tensor(positions, dtype=torch.float64)
    with torch.no_grad():
        chain.nodes.copy_(points[1:-1])
    return chain


def dense_walk_max(landscape, points, per_segment=4000) -> float:
    """The highest loss on ``per_segment`` evenly spaced points of every segment between ``points``."""
    s = torch.linspace(0, 1, per_segment + 1, dtype=torch.float64)[:, None]
    walk = torch.cat([torch.lerp(points[i], points[i + 1], s) for i in range(len(points) - 1)])
    return float(landscape.evaluate(walk).max())


def shortfall(curve, landscape, dense: float, n: int = 61) -> float:
    """How far the profile's maximum is below ``dense``, as a share of ``dense`` minus the lower end."""
    _, loss = curve.profile(n, landscape)
    low = float(landscape.evaluate(torch.stack([curve.start, curve.end])).min())
    return (dense - loss.max()) / (dense - low)


def bumps(centres, heights, widths) -> FunctionLandscape:
    c, h, w = (torch.as_tensor(v, dtype=torch.float64) for v in (centres, heights, widths))
    return FunctionLandscape(
        lambda p: 0.05 * (p**2).sum(-1) + (h * torch.exp(-((p[:, None] - c) ** 2).sum(-1) / (2 * w**2))).sum(-1), 2)


def test_a_thin_ridge_inside_a_segment_between_crowded_knots_is_found():
    # eight nodes 1/60 of a unit apart in t but spread along 3 units of space; the ridge crosses the
    # segment from x = 0.3 to x = 0.7, which is 0.0014 wide in t
    x = np.array([-2.0, -1.5, -1.0, -0.5, -0.1, 0.3, 0.7, 1.1, 1.5, 2.0])
    points = np.stack([x, 0.1 * x**2], axis=1)
    positions = np.r_[0.0, np.linspace(0.4, 0.41, 8), 1.0]
    landscape = bumps([[0.52, 0.0]], [1.0], [0.08])
    chain = chain_through(points, positions)
    dense = dense_walk_max(landscape, chain.points().detach())
    assert dense > 0.9  # the ridge is on the chain
    assert shortfall(chain, landscape, dense) < PROFILE_TOLERANCE


@pytest.mark.parametrize("shape", ["chain", "bezier"])
def test_thin_walls_across_a_curved_valley_are_found(shape):
    # along the arc of four wells, over walls 0.05, 0.25 and 0.035 wide (radians, lengths at r = 1)
    function = arc_of_wells()
    landscape = function.landscape()
    if shape == "chain":  # nodes crowded in t near the middle, one segment across each thin wall
        angles = torch.tensor([1.55, 1.3, 0.9, 0.5, 0.1, -0.2, -0.6, -0.9, -1.3, -1.6], dtype=torch.float64)
        positions = np.r_[0.0, 0.45 + 0.01 * np.arange(8) ** 1.5 / 8**1.5, 1.0]
        curve = chain_through(torch.stack([torch.cos(angles), torch.sin(angles)], 1), positions)
        walk = curve.points().detach()
    else:  # a cubic Bezier curve bulging along the arc
        curve = Bezier(torch.tensor([0.02, 1.0], dtype=torch.float64), torch.tensor([-0.03, -1.0], dtype=torch.float64), bends=2)
        curve.bends.data = torch.tensor([[1.3, 1.3], [1.3, -1.3]], dtype=torch.float64)
        walk = curve.weights(torch.linspace(0, 1, 200001, dtype=torch.float64)).detach()
    dense = dense_walk_max(landscape, walk, per_segment=4000 if shape == "chain" else 1)
    length = float(torch.linalg.vector_norm(walk.diff(dim=0), dim=-1).sum())
    # the spacing contract: neighbours at most length / (n - 1) apart, here below the thinnest wall (0.035)
    n = math.ceil(length / 0.035) + 1
    assert shortfall(curve, landscape, dense, n) < PROFILE_TOLERANCE


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    nodes=st.integers(1, 14),
    band=st.floats(1e-3, 0.3),
    narrowest=st.floats(0.05, 0.3),
    bezier=st.booleans(),
)
def test_profile_maximum_is_the_dense_walk_maximum_on_random_crowded_curves(seed, nodes, band, narrowest, bezier):
    """Random bumps no narrower than ``narrowest``, random curves whose interior knots crowd into a band of
    t; with n - 1 at least the curve's length over ``narrowest`` (the profile's spacing contract), the
    profile's maximum is the dense walk's."""
    rng = np.random.default_rng(seed)
    k = rng.integers(3, 7)
    landscape = bumps(rng.uniform(-1.5, 1.5, (k, 2)), rng.uniform(0.2, 1.0, k), narrowest * rng.uniform(1, 4, k))
    points = torch.tensor(rng.uniform(-1.5, 1.5, (nodes + 2, 2)))
    if bezier:
        curve = Bezier(points[0], points[-1], bends=min(nodes, 5))
        curve.bends.data = points[1:1 + len(curve.bends)]
        walk = curve.weights(torch.linspace(0, 1, 100001, dtype=torch.float64)).detach()
        length = float(torch.linalg.vector_norm(curve.controls().detach().diff(dim=0), dim=-1).sum())
    else:
        start = rng.uniform(0, 1 - band)
        inner = np.sort(start + band * rng.uniform(0, 1, nodes))
        if len(np.unique(np.r_[0.0, inner, 1.0])) != nodes + 2:
            return
        curve = chain_through(points, np.r_[0.0, inner, 1.0])
        walk = points
        length = float(torch.linalg.vector_norm(points.diff(dim=0), dim=-1).sum())
    dense = dense_walk_max(landscape, walk, per_segment=2000 if not bezier else 1)
    n = max(61, math.ceil(length / narrowest) + 1)
    assert shortfall(curve, landscape, dense, n) < PROFILE_TOLERANCE


# ----- H0 deaths from above --------------------------------------------------------------------------
#: Exact deaths are sublevel-set persistence on a 801 x 801 grid, whose paths may pass a saddle a little
#: above the continuous one; an estimate may be below it by this share of the value range, no more.
DEATH_TOLERANCE = 1e-3
RECIPES = {  # short budgets: the maximum of any curve bounds the barrier from above, trained or not
    "bezier": Recipe(steps=500, lr=1e-2, momentum=0.9, schedule="garipov"),
    "polychain": Recipe(steps=500, lr=1e-2, momentum=0.9, schedule="garipov"),
    "pointchain": Recipe(steps=500, lr=1e-2),
    "climbing": Recipe(steps=500, lr=1e-2),
}


def finite(bars, min_length=1e-3):
    bars = np.asarray(bars)
    bars = bars[np.isfinite(bars[:, 1])]
    return bars[bars[:, 1] - bars[:, 0] > min_length]


@pytest.fixture(scope="module", params=[arc_of_wells, sine_valley, ring_valley], ids=lambda f: f.__name__)
def curved(request):
    function = request.param()
    landscape = function.landscape()
    minima = find_minima(landscape, function.random_points(30, torch.Generator().manual_seed(0)), steps=1500, lr=0.01)
    exact = barcode.sublevel_persistence(function.on_grid(801)[2])[0]
    return landscape, minima, finite(exact), exact[:, 0].min()


@pytest.mark.parametrize("method", list(RECIPES))
def test_h0_deaths_of_every_method_are_never_below_the_exact_ones(curved, method):
    landscape, minima, exact, lowest = curved
    assert len(minima) == len(exact) + 1 >= 3  # every minimum was found
    estimate = finite(estimate_barcode(landscape, minima, method, curve_kw={"recipe": RECIPES[method]})["h0"])
    scale = exact[:, 1].max() - lowest
    under = np.sort(exact[:, 1]) - np.sort(estimate[:, 1])
    assert len(estimate) == len(exact) and under.max() < DEATH_TOLERANCE * scale


# ----- the point chain's settling, stopped and resumed -----------------------------------------------
class Stopped(Exception):
    """Stands in for a kill: raised from inside a training step."""


def test_a_point_chain_stopped_while_settling_resumes_bit_identical(tmp_path):
    # across the thin wall of the arc of wells (0.035 wide at phi = 1.025) a ridge is left for settling
    base = arc_of_wells().landscape()
    a, b = (torch.tensor([math.cos(phi), math.sin(phi)], dtype=torch.float64) for phi in (1.55, 0.5))
    recipe = Recipe(steps=80, lr=1e-2)

    def fit(landscape, checkpoint=None):
        return fit_curve(landscape, a, b, "pointchain", bends=4, recipe=recipe, insert_every=20, steps_per_epoch=4,
                         checkpoint=checkpoint)

    whole = fit(base)
    assert len(whole.positions) > 4 + 2 + 2 * 3  # the settling period put points on a ridge

    class Stopping(FunctionLandscape):
        calls = 0

        def loss(self, theta):
            self.calls += 1
            if self.calls > 70:  # in the third settling round (steps 60-64, 65-69, 70-74, 75-79)
                raise Stopped
            return super().loss(theta)

    with pytest.raises(Stopped):
        fit(Stopping(base.fn, 2), Checkpoint(tmp_path / "chain.ckpt"))
    assert torch.load(tmp_path / "chain.ckpt")["step"] == 70
    resumed = fit(base, Checkpoint(tmp_path / "chain.ckpt"))
    for name in ("positions", "frozen", "fixed", "nodes"):
        assert torch.equal(getattr(resumed, name), getattr(whole, name)), name
