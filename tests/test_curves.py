import math

import numpy as np
import pytest
import torch

from lossbarcode.curves import Bezier, Chain, curve_state, fit_curve, load_curve, make_curve
from lossbarcode.landscape import FunctionLandscape
from lossbarcode.train import Recipe

A = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
B = torch.tensor([2.0, -1.0, 3.0], dtype=torch.float64)
T = torch.rand(50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def bowl():
    return FunctionLandscape(lambda p: (p**2).sum(-1), dim=3)


@pytest.mark.parametrize("method", ["bezier", "polychain", "pointchain"])
@pytest.mark.parametrize("bends", [1, 2, 5])
def test_untrained_curves_are_the_straight_segment(method, bends):
    curve = make_curve(method, A, B, bends)
    torch.testing.assert_close(curve.weights(torch.tensor([0.0, 1.0])), torch.stack([A, B]))
    torch.testing.assert_close(curve.weights(T), torch.lerp(A, B, T[:, None]))


def test_bezier_matches_bernstein_formula():
    curve = Bezier(A, B, bends=2)
    with torch.no_grad():
        curve.bends.copy_(torch.tensor([[5.0, 1.0, 0.0], [-2.0, 4.0, 1.0]], dtype=torch.float64))
    controls = [A, curve.bends[0], curve.bends[1], B]
    for t in T[:5].tolist():
        expected = sum(math.comb(3, k) * t**k * (1 - t) ** (3 - k) * c for k, c in enumerate(controls))
        torch.testing.assert_close(curve.weights(torch.tensor([t], dtype=torch.float64))[0], expected.detach())


def test_polychain_with_one_bend_is_paper_004_eq_5():
    curve = Chain(A, B, nodes=1)
    bend = torch.tensor([1.0, 7.0, -2.0], dtype=torch.float64)
    with torch.no_grad():
        curve.nodes.copy_(bend[None])
    for t in T[:10].tolist():
        expected = 2 * (t * bend + (0.5 - t) * A) if t <= 0.5 else 2 * ((t - 0.5) * B + (1 - t) * bend)
        torch.testing.assert_close(curve.weights(torch.tensor([t], dtype=torch.float64))[0], expected)


def test_insertion_keeps_the_chain_in_place():
    curve = Chain(A, B, nodes=3, method="pointchain")
    with torch.no_grad():
        curve.nodes.add_(torch.randn(3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    before = curve.weights(T)
    curve.insert(torch.tensor([0.6, 0.1], dtype=torch.float64))
    assert curve.nodes.shape == (5, 3)
    assert torch.all(curve.positions[1:] > curve.positions[:-1])
    torch.testing.assert_close(curve.weights(T), before)


def test_profile_refines_the_maximum_off_the_grid():
    # along the straight segment the loss is a bump peaked at t = 0.3137, between grid points
    peak = 0.3137
    landscape = FunctionLandscape(lambda p: -((p[:, 0] / 2 - peak) ** 2), dim=3)
    curve = make_curve("polychain", A, B)
    t, loss = curve.profile(61, landscape)
    assert len(t) >= 61 and t[0] == 0 and t[-1] == 1 and np.all(np.diff(t) > 0)
    assert abs(t[np.argmax(loss)] - peak) < 1e-3
    assert loss.max() > -1e-7


@pytest.mark.parametrize("method", ["bezier", "polychain", "pointchain"])
def test_fitting_lowers_the_curve_on_a_bowl(method):
    # between two points of a bowl the straight segment passes near the bottom: the fitted curve
    # must not be worse than the straight line
    landscape = bowl()
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-1.0, 0.2, 0.0])
    curve = fit_curve(landscape, a, b, method)
    t, loss = curve.profile()
    straight = landscape.evaluate(torch.lerp(a.double(), b.double(), torch.from_numpy(t)[:, None]))
    assert loss.max() <= straight.max().item() + 1e-9
    assert loss.mean() <= straight.mean().item() + 1e-9


def test_curve_between_identical_points_is_rejected():
    with pytest.raises(ValueError, match="same point"):
        fit_curve(bowl(), A, A.clone())


def test_curve_endpoints_of_the_wrong_size_are_rejected():
    with pytest.raises(ValueError, match="3 parameters"):
        fit_curve(bowl(), torch.zeros(2), torch.ones(2))


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="unknown curve method 'spline'"):
        fit_curve(bowl(), A, B, "spline")


@pytest.mark.parametrize("method", ["bezier", "polychain", "pointchain"])
def test_nan_losses_during_fitting_raise(method):
    landscape = FunctionLandscape(lambda p: torch.where(p[:, 0] > 0.5, torch.nan, (p**2).sum(-1)), dim=3)
    with pytest.raises(FloatingPointError, match="curve 0-1: the loss became nan"):
        fit_curve(landscape, A, B, method, what="curve 0-1")


def test_profile_needs_a_landscape():
    with pytest.raises(ValueError, match="no landscape"):
        make_curve("bezier", A, B).profile()


@pytest.mark.parametrize("method", ["bezier", "polychain", "pointchain"])
def test_saved_curves_come_back_identical(method):
    curve = fit_curve(bowl(), A, B, method, bends=2)
    back = load_curve(curve_state(curve))
    assert back.method == method
    torch.testing.assert_close(back.weights(T), curve.weights(T).detach())


def test_point_chain_monitor_sees_every_step_before_projection():
    seen = []
    landscape = bowl()

    def monitor(step, chain, grad):
        expected = 2 * chain.nodes.detach()  # the bowl's gradient at each moving point
        seen.append((step, len(chain.nodes), torch.allclose(grad, expected)))

    # the all-trainable variant: an insertion after every period, no settling
    fit_curve(landscape, A, B, "pointchain", bends=3, recipe=Recipe(steps=20, lr=1e-2), insert_every=10, monitor=monitor,
              freeze_borders=False, interval_points=1, ridge_tolerance=None)
    assert [s for s, _, _ in seen] == list(range(20))
    assert [n for _, n, _ in seen] == [3] * 10 + [5] * 10
    assert all(ok for _, _, ok in seen)


def test_point_chain_freezes_its_outermost_moving_points_stage_by_stage():
    shapes, points = [], []

    def monitor(step, chain, grad):
        shapes.append(chain.frozen.clone())
        points.append({t: p for t, p in zip(chain.positions[1:-1][chain.frozen].tolist(), chain.fixed.tolist())})

    middle = (A + B) / 2  # a hill between the ends: the highest intervals are inner ones
    landscape = FunctionLandscape(lambda p: torch.exp(-((p - middle) ** 2).sum(-1)), dim=3)
    chain = fit_curve(landscape, A, B, "pointchain", bends=4, recipe=Recipe(steps=40, lr=1e-2), insert_every=10,
                      monitor=monitor, ridge_tolerance=None)
    counts = [(len(f), int(f.sum())) for f in shapes[::10]]
    assert [n for n, _ in counts] == [4, 6, 8, 10]  # two insertions per stage
    assert [k for _, k in counts] == [0, 2, 4, 6]  # and the two outermost moving points freeze
    for frozen in shapes:  # the moving part is one run of points between frozen ones
        moving = (~frozen).nonzero()[:, 0]
        assert torch.all(moving.diff() == 1) and torch.all(frozen[: moving[0]]) and torch.all(frozen[moving[-1] + 1:])
    final = dict(zip(chain.positions.tolist(), chain.points().tolist()))
    assert all(final[t] == p for seen in points for t, p in seen.items())  # a frozen point never moves again
    back = load_curve(curve_state(chain))  # frozen points are saved with the curve
    assert torch.equal(back.frozen, chain.frozen)
    torch.testing.assert_close(back.weights(T), chain.weights(T).detach())
