import numpy as np
import pytest
import torch

from lossbarcode.curves import make_curve
from lossbarcode.landscape import FunctionLandscape
from lossbarcode.simplex import Triangle, fit_triangle, sample_simplex, simplex_grid

g = torch.Generator().manual_seed(0)
V = torch.randn(3, 4, generator=g, dtype=torch.float64)
S = torch.randn(3, 4, generator=g, dtype=torch.float64)  # side centres (0,1), (0,2), (1,2)
C = torch.randn(4, generator=g, dtype=torch.float64)


def triangle() -> Triangle:
    tri = Triangle(V, S)
    with torch.no_grad():
        tri.centre.copy_(C)
    return tri


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


def test_triangle_is_paper_eq_6():
    tri = triangle()
    points = torch.cat([sample_simplex(200, g), simplex_grid(6)])
    ours = tri.weights(points)
    # our vertex i is the paper's e_{4-i}: reverse the coordinates
    paper = torch.stack([paper_eq_6(*p.flip(0).tolist()) for p in points])
    torch.testing.assert_close(ours, paper)


def test_triangle_corners_side_midpoints_and_centre():
    tri = triangle()
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(tri.weights(eye), V)
    mids = torch.tensor([[0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(tri.weights(mids), S)
    torch.testing.assert_close(tri.weights(torch.full((1, 3), 1 / 3, dtype=torch.float64))[0], C)


def test_triangle_sides_are_the_one_bend_chains():
    tri = triangle()
    s = torch.linspace(0, 1, 11, dtype=torch.float64)
    side = torch.stack([1 - s, s, torch.zeros_like(s)], dim=1)  # from vertex 0 to vertex 1
    chain = make_curve("polychain", V[0], V[1])
    with torch.no_grad():
        chain.nodes.copy_(S[:1])
    torch.testing.assert_close(tri.weights(side), chain.weights(s))


def test_simplex_samples_are_uniform():
    t = sample_simplex(20000, torch.Generator().manual_seed(1))
    assert torch.all(t >= 0) and torch.allclose(t.sum(1), torch.ones(len(t), dtype=torch.float64))
    torch.testing.assert_close(t.mean(0), torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01, rtol=0)
    # uniform on the simplex: each coordinate is Beta(1, 2), with P(t_1 < 1/2) = 3/4
    assert abs(float((t[:, 0] < 0.5).double().mean()) - 0.75) < 0.01


def test_simplex_grid():
    points = simplex_grid(4)
    assert points.shape == (15, 3)
    assert torch.allclose(points.sum(1), torch.ones(15, dtype=torch.float64))


def test_lifespan_of_a_linear_function_is_exact():
    # a linear loss has its maxima at vertices: every side max and the triangle max are known
    weights = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    landscape = FunctionLandscape(lambda p: p @ weights, dim=4)
    tri = triangle()
    values = V @ weights
    span = tri.lifespan(10, landscape)
    expected = [max(values[0], values[1]), max(values[0], values[2]), max(values[1], values[2])]
    corners = [float(torch.stack([values[i], values[j], S[k] @ weights]).max()) for k, (i, j) in enumerate([(0, 1), (0, 2), (1, 2)])]
    assert np.allclose(span["side_max"], corners)
    assert span["max"] >= max(corners) and span["bar"] == [max(span["side_max"]), span["max"]]
    assert min(expected) <= span["bar"][0]
    assert tri.lifespan(10, landscape, grid=tri.grid(10, landscape)) == span


def test_fit_triangle_lowers_the_mean_loss():
    landscape = FunctionLandscape(lambda p: (p**2).sum(-1), dim=4)
    curves = [make_curve("polychain", V[i], V[j]) for i, j in [(0, 1), (0, 2), (1, 2)]]
    tri = fit_triangle(landscape, tuple(V), curves, train_sides=True)
    points = simplex_grid(12)
    fitted = landscape.evaluate(tri.weights(points)).mean()
    flat = Triangle(V, torch.stack([c.weights(torch.tensor([0.5], dtype=torch.float64))[0] for c in curves]))
    assert fitted < landscape.evaluate(flat.weights(points)).mean()


def test_triangle_errors():
    landscape = FunctionLandscape(lambda p: (p**2).sum(-1), dim=4)
    curves = [make_curve("polychain", V[i], V[j]) for i, j in [(0, 1), (0, 2), (1, 2)]]
    with pytest.raises(ValueError, match="vertices 0 and 1 are the same point"):
        fit_triangle(landscape, (V[0], V[0].clone(), V[2]), curves)
    with pytest.raises(ValueError, match=r"side \(0, 2\) does not join"):
        fit_triangle(landscape, tuple(V), [curves[0], curves[0], curves[2]])
    with pytest.raises(ValueError, match="three side curves"):
        fit_triangle(landscape, tuple(V), curves[:2])
    bad = FunctionLandscape(lambda p: p.sum(-1) * torch.nan, dim=4)
    with pytest.raises(FloatingPointError, match="triangle: the loss became nan"):
        fit_triangle(bad, tuple(V), curves)
