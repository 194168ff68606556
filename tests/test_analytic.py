"""The full estimate against exact barcodes of analytic 2-D landscapes.

Exact: sublevel-set persistence of the function on a fine grid (gudhi's CubicalComplex).
Estimate: descend from random starts, de-duplicate, fit a curve per pair (and a triangle per
triple), persistence of the filtered complex. Tolerance: 1% of (highest finite death - global min).
"""

import numpy as np
import pytest
import torch

from lossbarcode import barcode
from lossbarcode.curves import fit_curve
from lossbarcode.functions import bent_valley, five_wells, ring_of_wells, six_hump_camel
from lossbarcode.pipeline import estimate_barcode, find_minima

pytestmark = pytest.mark.slow
GRID = 801


def finite(bars, min_length=1e-3):
    bars = bars[np.isfinite(bars[:, 1])]
    return bars[bars[:, 1] - bars[:, 0] > min_length]


def exact_barcode(function):
    return barcode.sublevel_persistence(function.on_grid(GRID)[2])


def minima_of(function, starts=40):
    landscape = function.landscape()
    generator = torch.Generator().manual_seed(0)
    return landscape, find_minima(landscape, function.random_points(starts, generator), steps=2000, lr=0.01)


@pytest.fixture(scope="module", params=[six_hump_camel, five_wells], ids=lambda f: f.name)
def case(request):
    function = request.param
    landscape, minima = minima_of(function)
    return landscape, minima, exact_barcode(function)


@pytest.mark.parametrize("method", ["bezier", "polychain", "pointchain"])
def test_h0_deaths_match_the_exact_barcode(case, method):
    landscape, minima, exact = case
    exact_h0 = exact[0]
    tolerance = 0.01 * (finite(exact_h0)[:, 1].max() - exact_h0[:, 0].min())
    # every minimum of the landscape was found (one per exact H0 bar)
    assert len(minima) == len(exact_h0)
    estimate = estimate_barcode(landscape, minima, method)
    ours = finite(np.array(estimate["h0"]))
    theirs = finite(exact_h0)
    assert len(ours) == len(theirs)
    np.testing.assert_allclose(np.sort(ours[:, 0]), np.sort(theirs[:, 0]), atol=tolerance)
    np.testing.assert_allclose(np.sort(ours[:, 1]), np.sort(theirs[:, 1]), atol=tolerance)


def test_point_chain_follows_a_strongly_bent_valley():
    function = bent_valley()
    landscape, minima = minima_of(function, starts=10)
    assert len(minima) == 2
    (birth, death), = finite(exact_barcode(function)[0])
    tolerance = 0.01 * (death - landscape.evaluate(minima).min().item())
    estimates = {}
    for method in ("pointchain", "polychain", "bezier"):
        curve = fit_curve(landscape, minima[0], minima[1], method)
        estimates[method] = curve.profile()[1].max()
        # any path's highest point is an upper bound of the minimax value
        assert estimates[method] > death - tolerance
    assert estimates["pointchain"] == pytest.approx(death, abs=tolerance)
    # the one-bend polygonal chain has to cut across the valley's wall
    assert estimates["polychain"] > death + tolerance


def test_triangles_on_a_ring_give_the_exact_h1_death():
    function = ring_of_wells()
    landscape, minima = minima_of(function, starts=20)
    assert len(minima) == 3
    exact = exact_barcode(function)
    (exact_birth, exact_death), = finite(exact[1])
    value_range = exact_death - exact[0][:, 0].min()
    estimate = estimate_barcode(landscape, minima, "pointchain", triangles=True)
    (birth, death), = np.array(estimate["h1"])
    assert death == pytest.approx(exact_death, abs=0.01 * value_range)
    # with point-chain edges the cycle is born at the ring's highest saddle
    assert birth == pytest.approx(exact_birth, abs=0.01 * value_range)
    assert estimate["w_inf"]["euclidean"] == pytest.approx((death - birth) / np.sqrt(2))
    lifespan = estimate["triangles"]["0-1-2"]
    assert lifespan["max"] == pytest.approx(death)
    # the triangle fills the cycle of the point chains: its side maxima are the curves' maxima
    assert lifespan["side_max"] == [estimate["edges"][pair] for pair in ("0-1", "0-2", "1-2")]
