"""Barcodes checked against independent, gudhi-free computations on random filtered complexes."""

import json
import subprocess
import sys
from itertools import combinations
from math import inf, sqrt

import gudhi
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lossbarcode.barcode import (
    CONVERGED,
    UNCONVERGED,
    ZERO,
    convergence_summary,
    direct_deaths,
    estimate_state,
    h0_deaths,
    h0_deciding_edges,
    h1_pairs,
    persistence,
    sublevel_persistence,
    summary,
    to_score,
    triangle_lifespans,
    w_inf,
)

# Values mostly from a small set, so that equal losses and equal curve maxima are common.
SMALL = st.sampled_from([0.0, 1.0, 2.0, 3.0])
VALUE = st.one_of(SMALL, SMALL, st.floats(-4, 4, allow_nan=False))
# Triangles often above their sides, else most H1 bars would have length zero.
TRIANGLE_VALUE = st.one_of(VALUE, st.sampled_from([3.0, 4.0, 5.0]))
PROPERTY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def complexes(draw):
    """(vertex values, edges, triangles or None) as the caller would pass them."""
    n = draw(st.integers(0, 9))
    values = draw(st.lists(VALUE, min_size=n, max_size=n))
    edge_density = draw(st.sampled_from([0.15, 0.4, 0.8]))
    triangle_density = draw(st.sampled_from([0.3, 0.9]))
    rnd = draw(st.randoms(use_true_random=False))
    edges = {}
    for i, j in combinations(range(n), 2):
        if rnd.random() < edge_density:
            edges[(j, i) if rnd.random() < 0.5 else (i, j)] = inf if rnd.random() < 0.1 else draw(VALUE)
    present = {tuple(sorted(e)) for e in edges}
    if draw(st.integers(0, 3)) == 0:
        return values, edges, None
    triangles = {}
    for tri in combinations(range(n), 3):
        if set(combinations(tri, 2)) <= present and rnd.random() < triangle_density:
            triangles[tuple(rnd.sample(tri, 3))] = draw(TRIANGLE_VALUE)
    return values, edges, triangles


def filtration(values, edges, triangles):
    """Clamped value of every simplex present (finite), keyed by its sorted vertices."""
    f = {(i,): float(v) for i, v in enumerate(values)}
    for (i, j), w in edges.items():
        f[tuple(sorted((i, j)))] = max(w, values[i], values[j])
    for tri, t in (triangles or {}).items():
        tri = tuple(sorted(tri))
        f[tri] = max(t, *(f.get(e, inf) for e in combinations(tri, 2)))
    return {s: v for s, v in f.items() if v < inf}


def minimax(n, f):
    """[n, n] min over paths of the max edge value (bottleneck Floyd-Warshall), inf when unconnected."""
    m = np.full((n, n), inf)
    for s, v in f.items():
        if len(s) == 2:
            m[s] = m[s[::-1]] = v
    for k in range(n):
        m = np.minimum(m, np.maximum(m[:, [k]], m[[k], :]))
    return m


def elder_rule_deaths(values, f):
    """Each vertex dies at the cheapest connection to any elder vertex, elder meaning lower (loss, index)."""
    n = len(values)
    m = minimax(n, f)
    order = sorted(range(n), key=lambda i: (values[i], i))
    return np.array([min((m[i, j] for j in order[: order.index(i)]), default=inf) for i in range(n)])


def reduced_pairs(f):
    """[(birth simplex, death simplex or None)] by the textbook column reduction of the Z/2 boundary
    matrix, simplices in (value, dimension, vertices) order."""
    simplices = sorted(f, key=lambda s: (f[s], len(s), s))
    index = {s: k for k, s in enumerate(simplices)}
    # A column is an int whose set bits are the rows of its faces: xor is addition over Z/2.
    faces = {s: combinations(s, len(s) - 1) if len(s) > 1 else () for s in simplices}
    columns = [sum(1 << index[face] for face in faces[s]) for s in simplices]
    column_of_low = {}
    for j, column in enumerate(columns):
        while column and column.bit_length() - 1 in column_of_low:
            column ^= columns[column_of_low[column.bit_length() - 1]]
        columns[j] = column
        if column:
            column_of_low[column.bit_length() - 1] = j
    pairs = [(simplices[low], simplices[j]) for low, j in column_of_low.items()]
    return pairs + [(s, None) for k, s in enumerate(simplices) if columns[k] == 0 and k not in column_of_low]


def reduced_diagrams(f):
    """{dim: [(birth, death)]} of ``reduced_pairs``."""
    diagrams = {0: [], 1: [], 2: []}
    for birth, death in reduced_pairs(f):
        diagrams[len(birth) - 1].append((f[birth], inf if death is None else f[death]))
    return diagrams


def ranked_minimax_edges(values, f):
    """The edge deciding each vertex's death, by brute force: edges ranked by (value, sorted pair), each
    vertex dies at the lowest rank r such that a path of edges ranked r or lower reaches an elder vertex
    (bottleneck Floyd-Warshall over the ranks)."""
    n = len(values)
    ranked = sorted((v, s) for s, v in f.items() if len(s) == 2)
    m = minimax(n, {s: r for r, (_, s) in enumerate(ranked)})
    order = sorted(range(n), key=lambda i: (values[i], i))
    ranks = [min((m[i, j] for j in order[: order.index(i)]), default=inf) for i in range(n)]
    return [None if r == inf else ranked[int(r)][1] for r in ranks]


def gf2_rank(a):
    a = a.astype(bool)
    rank = 0
    for col in range(a.shape[1]):
        pivots = np.flatnonzero(a[rank:, col])
        if len(pivots) == 0:
            continue
        a[[rank, rank + pivots[0]]] = a[[rank + pivots[0], rank]]
        below = a[:, col].copy()
        below[rank] = False
        a[below] ^= a[rank]
        rank += 1
    return rank


def betti(f):
    """(b0, b1) of the final complex from boundary-matrix ranks over Z/2."""
    by_dim = [sorted(s for s in f if len(s) == d + 1) for d in range(3)]
    ranks = []
    for d in (1, 2):
        rows = {s: r for r, s in enumerate(by_dim[d - 1])}
        boundary = np.zeros((len(by_dim[d - 1]), len(by_dim[d])), dtype=bool)
        for c, s in enumerate(by_dim[d]):
            boundary[[rows[face] for face in combinations(s, d)], c] = True
        ranks.append(gf2_rank(boundary))
    return len(by_dim[0]) - ranks[0], len(by_dim[1]) - ranks[0] - ranks[1]


def multiset(bars):
    return sorted(np.asarray(bars, dtype=float).reshape(-1, 2).tolist())


# --- properties ---------------------------------------------------------------------------------------


@PROPERTY
@given(complexes())
def test_h0_is_the_minimax_elder_rule(cx):
    values, edges, triangles = cx
    f = filtration(values, edges, triangles)
    expected = elder_rule_deaths(values, f)
    np.testing.assert_array_equal(h0_deaths(values, edges), expected)
    assert multiset(persistence(values, edges, triangles)[0]) == multiset(np.column_stack([values, expected]))
    # the edge that ends each bar: the ranked minimax's, its (clamped) value the death
    deciding = h0_deciding_edges(values, edges)
    assert deciding == ranked_minimax_edges(values, f)
    assert [inf if e is None else f[e] for e in deciding] == expected.tolist()


@st.composite
def generic_complexes(draw):
    """Complexes whose simplices all have distinct values, each above its faces: one filtration order,
    so one pairing of births and deaths."""
    n = draw(st.integers(3, 8))
    rnd = draw(st.randoms(use_true_random=False))
    values = [rnd.random() for _ in range(n)]
    edges = {e: max(values[e[0]], values[e[1]]) + rnd.random() for e in combinations(range(n), 2)
             if rnd.random() < 0.7}
    triangles = {t: max(edges[e] for e in combinations(t, 2)) + rnd.random() for t in combinations(range(n), 3)
                 if set(combinations(t, 2)) <= set(edges) and rnd.random() < 0.5}
    # shrinking makes the random numbers 0, and ties, which have more than one pairing: the values are
    # replaced by their ranks, a face before its cofaces where their values tie
    order = sorted([(v, 0, i) for i, v in enumerate(values)] + [(v, 1, e) for e, v in edges.items()]
                   + [(v, 2, t) for t, v in triangles.items()], key=lambda item: item[:2])
    rank = {(dim, key): float(r) for r, (_, dim, key) in enumerate(order)}
    return ([rank[0, i] for i in range(n)], {e: rank[1, e] for e in edges}, {t: rank[2, t] for t in triangles})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generic_complexes())
def test_h1_pairs_are_the_column_reductions_pairs(cx):
    f = filtration(*cx)
    pairs = h1_pairs(*cx)
    assert sorted(pairs, key=str) == sorted(((b, d) for b, d in reduced_pairs(f) if len(b) == 2), key=str)
    # in persistence's rows' order, their values the H1 bars
    assert [[f[e], inf if t is None else f[t]] for e, t in pairs] == persistence(*cx)[1].tolist()


@PROPERTY
@given(complexes())
def test_h1_pairs_give_the_h1_bars_with_ties(cx):
    f = filtration(*cx)
    pairs = h1_pairs(*cx)
    assert [[f[e], inf if t is None else f[t]] for e, t in pairs] == persistence(*cx)[1].tolist()
    # each edge gives birth to one cycle at most, each triangle fills one at most
    assert len({e for e, _ in pairs}) == len(pairs)
    assert len({t for _, t in pairs if t}) == sum(t is not None for _, t in pairs)


@PROPERTY
@given(complexes())
def test_persistence_matches_column_reduction(cx):
    bars = persistence(*cx)
    expected = reduced_diagrams(filtration(*cx))
    for d in (0, 1):
        assert bars[d].dtype == np.float64 and bars[d].shape[1:] == (2,)
        assert multiset(bars[d]) == multiset(expected[d]) == bars[d].tolist()  # also sorted rows
    assert len(bars[0]) == len(cx[0])


@PROPERTY
@given(complexes())
def test_essential_bars_count_betti_numbers(cx):
    bars = persistence(*cx)
    b0, b1 = betti(filtration(*cx))
    assert (np.isinf(bars[0][:, 1]).sum(), np.isinf(bars[1][:, 1]).sum()) == (b0, b1)


@PROPERTY
@given(complexes())
def test_direct_rule_never_dies_before_graph_rule(cx):
    values, edges, _ = cx
    graph, direct = h0_deaths(values, edges), direct_deaths(values, edges)
    assert np.all(direct >= graph)
    # The global minimum (lowest index among ties) survives under both rules.
    if values:
        eldest = min(range(len(values)), key=lambda i: (values[i], i))
        assert graph[eldest] == direct[eldest] == inf


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(complexes())
def test_distances_agree_with_gudhi_bottleneck(cx):
    bars = persistence(*cx)
    h0_ideal = np.array([[bars[0][:, 0].min(), inf]]) if len(bars[0]) else np.empty((0, 2))
    assert to_score(bars[0], "linf") == pytest.approx(gudhi.bottleneck_distance(bars[0], h0_ideal))
    assert w_inf(bars[1], "linf") == pytest.approx(gudhi.bottleneck_distance(bars[1], np.empty((0, 2))))
    # Only finite bars differ between conventions, and their distance to the diagonal scales by sqrt(2).
    for dist, b in [(to_score, bars[0]), (w_inf, bars[1])]:
        if dist(b, "linf") < inf:
            assert dist(b, "euclidean") == pytest.approx(sqrt(2) * dist(b, "linf"))


# --- hand-worked examples -----------------------------------------------------------------------------

# Minimum 3 (loss 2) reaches minimum 0 directly only at 5, but through 2 and 1 already at 4.
VALUES = [0.0, 1.0, 3.0, 2.0]
EDGES = {(0, 1): 2.0, (1, 2): 4.0, (3, 2): 3.5, (0, 3): 5.0}


def test_four_minima():
    bars = persistence(VALUES, EDGES)
    assert bars[0].tolist() == [[0, inf], [1, 2], [2, 4], [3, 3.5]]
    assert bars[1].tolist() == [[5, inf]]  # the 4-cycle closes at 5 and nothing fills it
    assert h0_deaths(VALUES, EDGES).tolist() == [inf, 2, 3.5, 4]
    assert direct_deaths(VALUES, EDGES).tolist() == [inf, 2, 3.5, 5]


def test_three_cycle_with_and_without_its_triangle():
    values, edges = [0.0, 0.0, 0.0], {(0, 1): 1.0, (1, 2): 2.0, (0, 2): 3.0}
    assert persistence(values, edges)[1].tolist() == [[3, inf]]
    assert persistence(values, edges, {(0, 1, 2): 4.0})[1].tolist() == [[3, 4]]
    # A triangle estimated below its sides is clamped up: a zero-length bar, kept.
    assert persistence(values, edges, {(2, 0, 1): 2.5})[1].tolist() == [[3, 3]]
    assert persistence(values, edges)[0].tolist() == [[0, 1], [0, 2], [0, inf]]


def test_edges_are_clamped_to_their_endpoints_and_inf_means_unconnected():
    assert persistence([0.0, 2.0], {(0, 1): 1.5})[0].tolist() == [[0, inf], [2, 2]]
    assert h0_deaths([0.0, 2.0], {(1, 0): 1.5}).tolist() == [inf, 2]
    assert direct_deaths([0.0, 2.0], {(1, 0): 1.5}).tolist() == [inf, 2]
    assert persistence([0.0, 2.0], {(0, 1): inf})[0].tolist() == [[0, inf], [2, inf]]
    assert h0_deaths([0.0, 2.0], {(0, 1): inf}).tolist() == direct_deaths([0.0, 2.0], {(0, 1): inf}).tolist()
    # A triangle with a never-connected side is never filled in.
    edges = {(0, 1): 1.0, (1, 2): 1.0, (0, 2): 1.0, (2, 3): inf, (1, 3): 1.0}
    assert persistence([0.0] * 4, edges, {(1, 2, 3): 2.0})[1].tolist() == [[1, inf]]


def test_equal_losses_the_lower_index_is_elder():
    # gudhi alone lets vertex 0 die here when {1, 2} and {0, 3} merge.
    assert h0_deaths([0.0] * 4, {(1, 2): 1.0, (0, 3): 1.0, (2, 3): 1.0}).tolist() == [inf, 1, 1, 1]


def test_deciding_edges_of_four_minima_and_of_ties():
    # minimum 2 dies where it meets 3, at 3.5; minimum 3 where {2, 3} meets {0, 1}, at 4
    assert h0_deciding_edges(VALUES, EDGES) == [None, (0, 1), (2, 3), (1, 2)]
    # equal values: the lower pair first, so (0, 3) joins 3 to 0, (1, 2) ends 2, and (2, 3) ends 1
    assert h0_deciding_edges([0.0] * 4, {(1, 2): 1.0, (0, 3): 1.0, (2, 3): 1.0}) == [None, (2, 3), (1, 2), (0, 3)]
    assert h0_deciding_edges([0.0, 2.0], {(0, 1): inf}) == [None, None]
    assert h0_deciding_edges([], {}) == []


def test_h1_pairs_of_a_square_with_its_diagonal_and_two_triangles():
    edges = {(0, 1): 1.0, (1, 2): 1.1, (2, 3): 1.2, (3, 0): 1.3, (0, 2): 1.4}
    # (0, 2) closes the younger cycle, which (0, 1, 2) fills first; (0, 2, 3) fills the elder one
    assert h1_pairs([0.0] * 4, edges, {(0, 1, 2): 2.0, (2, 3, 0): 3.0}) == [((0, 3), (0, 2, 3)), ((0, 2), (0, 1, 2))]
    assert persistence([0.0] * 4, edges, {(0, 1, 2): 2.0, (2, 3, 0): 3.0})[1].tolist() == [[1.3, 3.0], [1.4, 2.0]]
    assert h1_pairs([0.0] * 4, edges) == [((0, 3), None), ((0, 2), None)]
    assert h1_pairs(VALUES, EDGES) == [((0, 3), None)]
    assert h1_pairs([], {}) == []


def converged(tolerance=0.01, verdict="converged"):
    return {"verdict": verdict, "converged": verdict == "converged", "tolerance": tolerance}


def test_estimate_state():
    assert estimate_state(None) == estimate_state(converged(verdict="falling"), 0.0) == UNCONVERGED
    assert estimate_state(converged()) == estimate_state(converged(0.01), 0.02) == CONVERGED
    assert estimate_state(converged(0.01), 0.01) == estimate_state(converged(0.01), -0.5) == ZERO


def test_convergence_summary_names_the_estimate_behind_each_bar():
    estimates = {(0, 1): converged(), (3, 2): converged(verdict="falling"), (1, 2): converged(2.5), (0, 3): None}
    s = convergence_summary(VALUES, EDGES, {}, estimates, names=["a", "b", "c", "d"])
    assert json.loads(json.dumps(s)) == s
    assert s["edges"] == {"a-b": converged(), "b-c": converged(2.5), "d-c": converged(verdict="falling"), "a-d": None}
    assert s["triangles"] == {}
    assert s["h0"] == [
        {"edge": None, "converged": True, "zero": False},  # the global minimum: nothing estimated ends it
        {"edge": "a-b", "converged": True, "zero": False},  # length 1 > 0.01
        {"edge": "d-c", "converged": False, "zero": False},  # named as the edge was given, (3, 2)
        {"edge": "b-c", "converged": True, "zero": True},  # length 4 - 2 within the tolerance 2.5
    ]
    assert s["h1"] == [{"edge": "a-d", "triangle": None, "converged": False}]
    assert (s["edges_converged"], s["edges_total"], s["triangles_converged"], s["triangles_total"]) == (2, 4, 0, 0)


def test_an_h1_bar_converged_iff_its_edge_and_triangle_did():
    edges = {(0, 1): 1.0, (1, 2): 1.1, (2, 3): 1.2, (0, 3): 1.3, (0, 2): 1.4}
    triangles = {(0, 1, 2): 2.0, (0, 2, 3): 3.0}
    estimates = {**{e: converged() for e in edges}, (0, 1, 2): converged(), (0, 2, 3): converged(verdict="rising")}
    s = convergence_summary([0.0] * 4, edges, triangles, estimates)
    assert s["h1"] == [{"edge": "0-3", "triangle": "0-2-3", "converged": False},
                       {"edge": "0-2", "triangle": "0-1-2", "converged": True}]
    assert (s["edges_converged"], s["triangles_converged"], s["triangles_total"]) == (5, 1, 2)
    unconverged_edge = convergence_summary([0.0] * 4, edges, triangles, {**estimates, (0, 2): None})
    assert [bar["converged"] for bar in unconverged_edge["h1"]] == [False, False]
    assert unconverged_edge["edges"]["0-2"] is None


def test_empty_complex():
    bars = persistence([], {})
    assert bars[0].shape == bars[1].shape == (0, 2) and bars[0].dtype == bars[1].dtype == np.float64
    assert h0_deaths([], {}).shape == direct_deaths([], {}).shape == (0,)
    assert to_score(bars[0]) == w_inf(bars[1]) == 0.0


def test_to_score_and_w_inf_in_both_conventions():
    h0 = persistence(VALUES, EDGES)[0]
    assert to_score(h0) == pytest.approx(2 / sqrt(2))  # the bar [2, 4]
    assert to_score(h0, "linf") == pytest.approx(1.0)
    assert to_score(h0, "linf") == pytest.approx(gudhi.bottleneck_distance(h0, np.array([[0.0, inf]])))
    # The ideal is born at the lowest birth, so an essential bar born above it costs the difference.
    assert to_score([[0.0, 0.1], [0.5, inf]], "linf") == pytest.approx(0.5)
    assert to_score([[0.0, inf], [1.0, inf]]) == to_score([[0.0, inf], [1.0, inf]], "linf") == inf

    h1 = persistence([0.0] * 3, {(0, 1): 1.0, (1, 2): 2.0, (0, 2): 3.0}, {(0, 1, 2): 4.0})[1]
    assert w_inf(h1) == pytest.approx(1 / sqrt(2))
    assert w_inf(h1, "linf") == pytest.approx(0.5)
    assert w_inf(h1, "linf") == pytest.approx(gudhi.bottleneck_distance(h1, np.empty((0, 2))))
    assert w_inf([[3.0, inf]]) == w_inf([[3.0, inf]], "linf") == inf
    assert w_inf(np.empty((0, 2))) == w_inf([], "linf") == 0.0


def test_unknown_convention():
    with pytest.raises(ValueError, match="'l2'.*euclidean.*linf"):
        to_score([[0.0, inf]], "l2")
    with pytest.raises(ValueError, match="'l2'.*euclidean.*linf"):
        w_inf([], "l2")


def test_bars_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"\[k, 2\].*\(3,\)"):
        w_inf([1.0, 2.0, 3.0])


def test_triangle_lifespans():
    sides = [[1.0, 2.0, 3.0], [4.0, 1.0, 1.0]]
    assert triangle_lifespans(sides, [2.5, 6.0]).tolist() == [[3, 3], [4, 6]]
    assert triangle_lifespans(np.empty((0, 3)), []).shape == (0, 2)
    with pytest.raises(ValueError, match=r"\[m, 3\].*\(2, 3\).*\(3,\)"):
        triangle_lifespans(sides, [1.0, 2.0, 3.0])


def test_summary():
    s = summary(VALUES, EDGES, {})
    assert list(s) == ["h0", "h1", "h0_graph_deaths", "h0_direct_deaths", "to_score", "to_score_direct", "w_inf"]
    assert json.loads(json.dumps(s)) == s
    assert s["h0"] == persistence(VALUES, EDGES)[0].tolist() and s["h1"] == [[5, inf]]
    assert s["h0_graph_deaths"] == [inf, 2, 3.5, 4] and s["h0_direct_deaths"] == [inf, 2, 3.5, 5]
    for convention in ("euclidean", "linf"):
        assert s["to_score"][convention] == to_score(persistence(VALUES, EDGES)[0], convention)
        assert s["w_inf"][convention] == inf
    # The direct rule's longest bar is minimum 3's [2, 5].
    assert s["to_score_direct"]["euclidean"] == pytest.approx(3 / sqrt(2))
    assert s["to_score_direct"]["linf"] == pytest.approx(1.5)


@pytest.mark.parametrize(
    "values, edges, triangles, match",
    [
        ([0.0, np.nan], {}, None, r"vertex_values\[1\] is nan"),
        ([np.inf, 0.0], {}, None, r"vertex_values\[0\] is inf"),
        ([[0.0, 1.0]], {}, None, "one-dimensional"),
        ([0.0, 1.0], {(0, 1): np.nan}, None, r"edge \(0, 1\) has value nan"),
        ([0.0, 1.0], {(0, 2): 1.0}, None, r"edge \(0, 2\): vertex 2 is not an index in range\(0, 2\)"),
        ([0.0, 1.0], {(-1, 0): 1.0}, None, r"edge \(-1, 0\): vertex -1"),
        ([0.0, 1.0], {(0, 1.0): 1.0}, None, r"vertex 1.0 is not an index"),
        ([0.0, 1.0], {(1, 1): 1.0}, None, r"edge \(1, 1\) joins a vertex to itself"),
        ([0.0, 1.0], {(0, 1): 1.0, (1, 0): 2.0}, None, r"edge \(1, 0\) is given twice"),
        ([0.0, 1.0], {(0, 1, 1): 1.0}, None, r"edge \(0, 1, 1\) must be a pair"),
        ([0.0] * 3, {(0, 1): 1, (1, 2): 1, (0, 2): 1}, {(0, 1, 2): np.nan}, r"triangle \(0, 1, 2\) has value nan"),
        ([0.0] * 3, {(0, 1): 1, (1, 2): 1, (0, 2): 1}, {(0, 1, 3): 1.0}, r"triangle \(0, 1, 3\): vertex 3"),
        ([0.0] * 3, {(0, 1): 1, (1, 2): 1, (0, 2): 1}, {(0, 1, 0): 1.0}, r"triangle \(0, 1, 0\) repeats a vertex"),
        ([0.0] * 3, {(0, 1): 1, (1, 2): 1}, {(2, 1, 0): 1.0}, r"triangle \(2, 1, 0\) needs edge \(0, 2\)"),
        ([0.0] * 3, {(0, 1): 1, (1, 2): 1, (0, 2): 1}, {(0, 1, 2): 1, (2, 0, 1): 1}, r"\(2, 0, 1\) is given twice"),
    ],
)
def test_invalid_input(values, edges, triangles, match):
    with pytest.raises(ValueError, match=match):
        persistence(values, edges, triangles)
    if triangles is None:
        for rule in (h0_deaths, direct_deaths):
            with pytest.raises(ValueError, match=match):
                rule(values, edges)


def test_import_is_cheap():
    """Job start-up must not pay for gudhi: it is imported only when a barcode is computed."""
    code = "import sys, lossbarcode.barcode; print([m for m in ('gudhi', 'scipy', 'torch') if m in sys.modules])"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == "[]\n"


def test_sublevel_persistence_of_a_sampled_double_well():
    x = np.linspace(-2, 2, 401)
    values = (x**2 - 1) ** 2 + 0.3 * x  # minima near -1 and 1, a maximum near 0
    bars = sublevel_persistence(values)
    lower, upper = values[:200].min(), values[200:].min()
    assert bars[0].tolist() == [[lower, np.inf], [upper, values[190:210].max()]]
    assert len(bars[1]) == 0
    with pytest.raises(ValueError, match="finite"):
        sublevel_persistence([0.0, np.nan])
