import numpy as np
import pytest
import torch

from lossbarcode.curves import Chain, make_curve
from lossbarcode.landscape import FunctionLandscape
from lossbarcode.train import Recipe
from lossbarcode.simplex import SIDES, Triangle, fit_triangle, load_triangle, sample_simplex, triangle_state

g = torch.Generator().manual_seed(0)
V = torch.randn(3, 4, generator=g, dtype=torch.float64)
S = torch.randn(3, 4, generator=g, dtype=torch.float64)  # side centres (0,1), (0,2), (1,2)
C = torch.randn(4, generator=g, dtype=torch.float64)


def simplex_grid(n: int) -> torch.Tensor:
    """All barycentric points (i, j, k) / n: the uniform grid paper 004 Alg. 2 discretizes with."""
    return torch.tensor([(i, j, n - i - j) for i in range(n + 1) for j in range(n + 1 - i)], dtype=torch.float64) / n


def one_bend_chains(reverse=(False, True, False)):
    """Garipov's one-bend chains through the side centres S; ``reverse``: fitted from j to i."""
    chains = []
    for (i, j), centre, backwards in zip(SIDES, S, reverse):
        chain = make_curve("polychain", V[j], V[i]) if backwards else make_curve("polychain", V[i], V[j])
        with torch.no_grad():
            chain.nodes.copy_(centre[None])
        chains.append(chain)
    return chains


def with_centre(tri: Triangle, centre=C) -> Triangle:
    with torch.no_grad():
        tri.centre.copy_(centre)
    return tri


def triangle() -> Triangle:
    return with_centre(Triangle(V, one_bend_chains()))


def paper_eq_6(t1, t2, t3):
    """Paper 004 eq. (6) verbatim; the paper's vertex e_i carries theta_{4-i}."""
    th1, th2, th3 = V
    th12, th13, th23 = S
    th123 = C
    if t1 <= t2 <= t3:
        return (t3 - t2) * th1 + 3 * t1 * th123 + (2 * t2 - 2 * t1) * th12
    if t1 <= t3 <= t2:
        return (t2 - t3) * th2 + 3 * t1 * th123 + (2 * t3 - 2 * t1) * th12
    if t3 <= t2 <= t1:
        return (t1 - t2) * th3 + 3 * t3 * th123 + (2 * t2 - 2 * t3) * th23
    if t2 <= t1 <= t3:
        return (t3 - t1) * th1 + 3 * t2 * th123 + (2 * t1 - 2 * t2) * th13
    if t3 <= t1 <= t2:
        return (t2 - t1) * th2 + 3 * t3 * th123 + (2 * t1 - 2 * t3) * th23
    return (t1 - t3) * th3 + 3 * t2 * th123 + (2 * t3 - 2 * t2) * th13


@pytest.mark.parametrize("reverse", [(False, False, False), (False, True, False), (True, True, True)])
def test_the_cone_over_one_bend_chains_is_paper_eq_6(reverse):
    tri = with_centre(Triangle(V, one_bend_chains(reverse)))
    points = torch.cat([sample_simplex(200, g), simplex_grid(6)])
    ours = tri.weights(points)
    # our vertex i is the paper's e_{4-i}: reverse the coordinates
    paper = torch.stack([paper_eq_6(*p.flip(0).tolist()) for p in points])
    torch.testing.assert_close(ours, paper)


def test_triangle_corners_side_midpoints_and_centre():
    tri = triangle()
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(tri.weights(eye), V, rtol=0, atol=0)
    mids = torch.tensor([[0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(tri.weights(mids), S)
    torch.testing.assert_close(tri.weights(torch.full((1, 3), 1 / 3, dtype=torch.float64))[0], C)


def crowded_chain(start, end, positions, generator):
    """A chain with interior knots at ``positions`` (crowded where they are close) and random nodes."""
    chain = Chain(start, end, nodes=len(positions))
    chain.positions = torch.tensor([0.0, *positions, 1.0], dtype=torch.float64)
    with torch.no_grad():
        chain.nodes.copy_(torch.randn(len(positions), start.shape[0], generator=generator, dtype=torch.float64))
    return chain


def test_the_triangle_sides_are_its_curves_in_their_own_direction():
    bezier = make_curve("bezier", V[2], V[0], bends=2)  # given from vertex 2 to vertex 0
    with torch.no_grad():
        bezier.bends.copy_(torch.randn(2, 4, generator=g, dtype=torch.float64))
    curves = [crowded_chain(V[0], V[1], [0.2, 0.5, 0.501, 0.503, 0.9], g), bezier,
              crowded_chain(V[1], V[2], [0.3, 0.6], g)]
    tri = with_centre(Triangle(V, curves))
    s = torch.linspace(0, 1, 101, dtype=torch.float64)
    zero = torch.zeros_like(s)
    torch.testing.assert_close(tri.weights(torch.stack([1 - s, s, zero], 1)), curves[0].weights(s))
    torch.testing.assert_close(tri.weights(torch.stack([s, zero, 1 - s], 1)), curves[1].weights(s))
    torch.testing.assert_close(tri.weights(torch.stack([zero, 1 - s, s], 1)), curves[2].weights(s))
    # inside, the cone: on the ray from the barycentre through a side point, linear in the radius
    r = torch.tensor([0.0, 0.25, 0.7], dtype=torch.float64)
    ray = r[:, None] * torch.tensor([0.3, 0.7, 0.0], dtype=torch.float64) + (1 - r[:, None]) / 3
    side_point = curves[0].weights(torch.tensor([0.7], dtype=torch.float64))
    torch.testing.assert_close(tri.weights(ray), r[:, None] * side_point + (1 - r[:, None]) * C)


def test_the_triangle_is_differentiable_in_its_centre_and_trained_sides():
    tri = Triangle(V, one_bend_chains(), train_sides=True)
    t = torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64)
    tri.weights(t).sum().backward()
    # eq. (6): the centre weighs 3 t_min, the side centre of the two largest coordinates 2 (t_b - t_min)
    torch.testing.assert_close(tri.centre.grad, torch.full((4,), 0.6, dtype=torch.float64))
    torch.testing.assert_close(tri.sides[0].nodes.grad, torch.full((1, 4), 0.2, dtype=torch.float64))
    assert tri.sides[1].nodes.grad is None or not tri.sides[1].nodes.grad.any()


def test_fixed_sides_leave_the_centre_as_the_only_parameter():
    fixed = Triangle(V, one_bend_chains())
    assert [name for name, _ in fixed.named_parameters()] == ["centre"]
    trained = Triangle(V, one_bend_chains(), train_sides=True)
    # for one-bend chains the trainable side parameters are exactly paper 004's side centres
    assert sorted(name for name, _ in trained.named_parameters()) == ["centre", "sides.0.nodes", "sides.1.nodes",
                                                                    "sides.2.nodes"]
    torch.testing.assert_close(torch.cat([trained.sides[k].nodes for k in range(3)]), S)


def test_simplex_samples_are_uniform():
    t = sample_simplex(20000, torch.Generator().manual_seed(1))
    assert torch.all(t >= 0) and torch.allclose(t.sum(1), torch.ones(len(t), dtype=torch.float64))
    torch.testing.assert_close(t.mean(0), torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01, rtol=0)
    # uniform on the simplex: each coordinate is Beta(1, 2), with P(t_1 < 1/2) = 3/4
    assert abs(float((t[:, 0] < 0.5).double().mean()) - 0.75) < 0.01


def test_grid_boundary_is_the_curves_profiles_and_every_piece_is_sampled_inside():
    landscape = FunctionLandscape(lambda p: torch.sin(3 * p).sum(-1), dim=4)
    knots = [0.2, 0.5, 0.501, 0.503, 0.9]
    curves = [crowded_chain(V[0], V[1], knots, g), make_curve("bezier", V[0], V[2], bends=2), one_bend_chains()[2]]
    tri = with_centre(Triangle(V, curves))
    points, losses = (torch.from_numpy(a) for a in tri.grid(12, landscape, profile_points=61, refine=2))
    for (i, j), curve in zip(SIDES, curves):
        t, loss = curve.profile(61, landscape, refine=2)
        on_side = points[:, 3 - i - j] == 0
        np.testing.assert_array_equal(np.sort(points[on_side, j].numpy()), t)  # every curve runs from i to j here
        np.testing.assert_array_equal(np.sort(losses[on_side].numpy()), np.sort(loss))
    assert len(np.unique(points.numpy(), axis=0)) == len(points)  # each vertex once
    # on the chain's side, every ring has a sample strictly inside every piece, however thin
    inside = points[(points[:, 2] > 0) & (points[:, 2] < points[:, :2].min(-1).values)]
    radius, along = 1 - 3 * inside[:, 2], (inside[:, 1] - inside[:, 2]) / (1 - 3 * inside[:, 2])
    breaks = [0.0, *knots, 1.0]
    for ring in torch.unique(radius.round(decimals=9)):
        p = along[(radius - ring).abs() < 1e-9]
        assert all(((p > a + 1e-12) & (p < b - 1e-12)).any() for a, b in zip(breaks[:-1], breaks[1:]))


def test_lifespan_of_a_linear_function_is_exact():
    # a linear loss has its maxima at vertices and knots: every side max and the triangle max are known
    weights = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    landscape = FunctionLandscape(lambda p: p @ weights, dim=4)
    tri = triangle()
    span = tri.lifespan(10, landscape)
    values, centres = V @ weights, S @ weights
    corners = [float(torch.stack([values[i], values[j], centres[k]]).max()) for k, (i, j) in enumerate(SIDES)]
    assert span["side_max"] == pytest.approx(corners, abs=1e-12)
    assert span["max"] == pytest.approx(max(*corners, float(C @ weights)), abs=1e-12)
    assert span["bar"] == [max(span["side_max"]), span["max"]]
    assert tri.lifespan(10, landscape, grid=tri.grid(10, landscape)) == span


def test_a_thin_ridge_inside_a_piece_over_crowded_knots_is_found():
    # 2-D: a convex cycle around the centre, so each piece of the cone covers its own part of the
    # plane. Side (0, 1) runs from (-2, -1) along y = -1.5 to (2, -1); its long middle segment lies
    # between the crowded knots 0.3 and 0.302, and a narrow bump sits inside that piece's cone.
    vertices = torch.tensor([[-2.0, -1.0], [2.0, -1.0], [0.0, 2.5]], dtype=torch.float64)
    bottom = Chain(vertices[0], vertices[1], nodes=2)
    bottom.positions = torch.tensor([0.0, 0.3, 0.302, 1.0], dtype=torch.float64)
    with torch.no_grad():
        bottom.nodes.copy_(torch.tensor([[-1.0, -1.5], [1.0, -1.5]], dtype=torch.float64))
    curves = [bottom, *(make_curve("polychain", vertices[i], vertices[2]) for i in (0, 1))]
    tri = with_centre(Triangle(vertices, curves), torch.zeros(2, dtype=torch.float64))
    bump = torch.tensor([0.15, -1.05], dtype=torch.float64)
    landscape = FunctionLandscape(lambda p: torch.exp(-((p - bump) ** 2).sum(-1) / (2 * 0.08**2)), dim=2)
    # densely inside the thin piece: rays at 801 positions in (0.3, 0.302), 801 radii
    p, r = torch.meshgrid(torch.linspace(0.3, 0.302, 801, dtype=torch.float64),
                          torch.linspace(0, 1, 801, dtype=torch.float64), indexing="ij")
    p, r = p.reshape(-1), r.reshape(-1)
    rays = torch.stack([r * (1 - p), r * p, torch.zeros_like(p)], 1) + (1 - r[:, None]) / 3
    dense = landscape.evaluate(tri.weights(rays))
    assert float(dense.max()) > 0.99
    # the uniform simplex grid of the same n has no point inside the piece and misses the bump
    assert float(landscape.evaluate(tri.weights(simplex_grid(30))).max()) < 0.2
    span = tri.lifespan(30, landscape)
    assert span["max"] == pytest.approx(float(dense.max()), abs=2e-3)
    assert max(span["side_max"]) < 0.01


def test_fit_triangle_lowers_the_mean_loss_and_keeps_the_given_curves():
    landscape = FunctionLandscape(lambda p: (p**2).sum(-1), dim=4)
    curves = [make_curve("pointchain", V[i], V[j], bends=3) for i, j in SIDES]
    given = [c.nodes.detach().clone() for c in curves]
    tri = fit_triangle(landscape, tuple(V), curves, train_sides=True)
    points = simplex_grid(12)
    fitted = landscape.evaluate(tri.weights(points)).mean()
    assert fitted < landscape.evaluate(Triangle(V, curves).weights(points)).mean()
    assert all(torch.equal(c.nodes, n) for c, n in zip(curves, given))
    assert not torch.equal(tri.sides[0].nodes, given[0])


@pytest.mark.parametrize("train_sides", [False, True])
def test_each_check_measures_the_sides_again_only_if_they_train(train_sides, monkeypatch):
    landscape = FunctionLandscape(lambda p: (p**2).sum(-1), dim=4)
    profiled = []
    profile = Chain.profile
    monkeypatch.setattr(Chain, "profile",
                        lambda chain, *args, **kw: profiled.append(chain) or profile(chain, *args, **kw))
    tri = fit_triangle(landscape, tuple(V), one_bend_chains(), train_sides=train_sides,
                       recipe=Recipe(steps=40, lr=1e-2), grid=6)
    checks = len(tri.convergence["trace"])
    assert checks == 4 and len(profiled) == 3 * (checks if train_sides else 1)
    again = tri.grid(6, landscape)  # the measurement kept, the same as a fresh one
    fresh = with_centre(Triangle(V, tri.sides), tri.centre.detach()).grid(6, landscape)
    assert all(np.array_equal(x, y) for x, y in zip(again, fresh))


@pytest.mark.parametrize("train_sides", [False, True])
def test_triangle_state_rebuilds_the_triangle(train_sides):
    curves = [crowded_chain(V[0], V[1], [0.4, 0.45], g), make_curve("bezier", V[2], V[0], bends=2),
              one_bend_chains()[2]]
    tri = with_centre(Triangle(V, curves, train_sides=train_sides))
    loaded = load_triangle(triangle_state(tri))
    points = sample_simplex(50, g)
    assert torch.equal(loaded.weights(points), tri.weights(points))
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in tri.named_parameters()]
    assert loaded.state_dict().keys() == tri.state_dict().keys()


def test_triangle_errors():
    landscape = FunctionLandscape(lambda p: (p**2).sum(-1), dim=4)
    curves = [make_curve("polychain", V[i], V[j]) for i, j in SIDES]
    with pytest.raises(ValueError, match="vertices 0 and 1 are the same point"):
        fit_triangle(landscape, (V[0], V[0].clone(), V[2]), curves)
    with pytest.raises(ValueError, match=r"side \(0, 2\) does not join"):
        fit_triangle(landscape, tuple(V), [curves[0], curves[0], curves[2]])
    with pytest.raises(ValueError, match="three side curves"):
        fit_triangle(landscape, tuple(V), curves[:2])
    with pytest.raises(ValueError, match="n >= 1"):
        Triangle(V, curves).grid(0, landscape)
    bad = FunctionLandscape(lambda p: p.sum(-1) * torch.nan, dim=4)
    with pytest.raises(FloatingPointError, match="triangle: the loss became nan"):
        fit_triangle(bad, tuple(V), curves)


def network_triangle(bn: bool = False):
    """A triangle of a small classifier on random data: three random vertices, one-bend chain sides."""
    from torch import nn

    from lossbarcode.landscape import NetworkLandscape

    gen = torch.Generator().manual_seed(5)
    x, y = torch.randn(120, 6, generator=gen), torch.randint(0, 3, (120,), generator=gen)
    torch.manual_seed(0)
    layers = [nn.Linear(6, 8), *([nn.BatchNorm1d(8)] if bn else []), nn.ReLU(), nn.Linear(8, 3)]
    landscape = NetworkLandscape(nn.Sequential(*layers), (x, y), eval_batch_size=50)
    vertices = landscape.flatten() + torch.randn(3, landscape.dim, generator=gen)
    curves = [make_curve("polychain", vertices[i], vertices[j]) for i, j in SIDES]
    for curve in curves:
        with torch.no_grad():
            curve.nodes.add_(torch.randn(curve.nodes.shape, generator=gen))
    tri = Triangle(vertices, curves)
    with torch.no_grad():
        tri.centre.add_(torch.randn(landscape.dim, generator=gen))
    return tri, landscape


@pytest.mark.parametrize("bn", [False, True])
def test_grid_metrics_adds_the_accuracy_and_leaves_the_losses_as_grid_measures_them(bn):
    tri, landscape = network_triangle(bn)
    measured_points = []
    metrics = landscape.metrics

    def counted(theta, split="train"):  # evaluate measures through metrics too
        measured_points.append(len(landscape.as_batch(theta)[0]))
        return metrics(theta, split)

    landscape.metrics = counted
    points, losses = tri.grid(7, landscape, profile_points=9, refine=2)
    cost = sum(measured_points)
    measured_points.clear()
    same_points, same_losses, accuracy = tri.grid_metrics(7, landscape, profile_points=9, refine=2)
    assert sum(measured_points) == cost  # the accuracy costs no extra pass
    del landscape.metrics
    # the upper-bound estimate (the losses) is exactly what it was without the accuracy
    np.testing.assert_array_equal(same_points, points)
    np.testing.assert_array_equal(same_losses, losses)
    assert accuracy.shape == losses.shape and ((accuracy >= 0) & (accuracy <= 1)).all()
    assert len(np.unique(accuracy)) > 3
    # each accuracy is the one measured at that sample (120 samples: 1/120 per prediction)
    measured = landscape.metrics(tri.weights(torch.from_numpy(points)), "train")
    np.testing.assert_allclose(accuracy, measured["accuracy"].double().numpy(), atol=1.5 / 120)
    np.testing.assert_allclose(losses, measured["loss"].double().numpy(), rtol=1e-4)


def test_grid_metrics_on_a_function_has_no_accuracy_and_equal_losses_keep_their_own_accuracies():
    landscape = FunctionLandscape(lambda p: torch.sin(3 * p).sum(-1), dim=4)
    tri = triangle()
    points, losses, accuracy = tri.grid_metrics(6, landscape, profile_points=11, refine=1)
    np.testing.assert_array_equal(losses, tri.grid(6, landscape, profile_points=11, refine=1)[1])
    assert accuracy is None

    class Flat(FunctionLandscape):
        """The same loss everywhere, an accuracy that varies: every side sample's loss is a tie."""

        def metrics(self, theta, split="train"):
            return {"loss": self.evaluate(theta), "accuracy": torch.sigmoid(self.as_batch(theta)[0][:, 0])}

    flat = Flat(lambda p: torch.ones(len(p), dtype=p.dtype), dim=4)
    points, losses, accuracy = tri.grid_metrics(6, flat, profile_points=11, refine=1)
    assert (losses == 1).all()
    expected = flat.metrics(tri.weights(torch.from_numpy(points)))["accuracy"]
    torch.testing.assert_close(torch.from_numpy(accuracy), expected)
