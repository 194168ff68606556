"""Barcodes of the filtered complex of minima, curves and triangles, and their distance to the ideal.

A sampled landscape is a complex: vertex i = a local minimum with loss L_i, edge (i, j) = the optimized
curve between two minima, valued at the max loss along it, triangle (i, j, k) = the optimized triangle,
valued at the max loss over it. Its H0 barcode is the minima barcode (paper 002) and its H1 barcode the
index-1 barcode (paper 004). All persistence is over Z/2 and keeps zero-length bars.

Every edge and triangle value is an estimate: the highest loss found on a fitted curve (triangle), an
upper bound whose closeness depends on the budget. Its record says whether it converged (a
"convergence" dict: its trace, verdict, tolerance...). ``convergence_summary`` says which estimate
decides each bar, and so whether the bar converged.
"""

from itertools import combinations
from math import inf, sqrt

import numpy as np
from numpy.typing import ArrayLike

CONVENTIONS = ("euclidean", "linf")
# What an estimate (or a value made of estimates) is, as figures, tables and claims show it.
CONVERGED, UNCONVERGED, ZERO = "converged", "not converged", "no barrier"
NO_RECORD = "no record"  # the verdict of an estimate whose file carries no convergence (written before it did)
Edges = dict[tuple[int, int], float]
Triangles = dict[tuple[int, int, int], float]


def _vertex(v, n: int, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 <= v < n:
        raise ValueError(f"{what}: vertex {v!r} is not an index in range(0, {n})")
    return int(v)


def _validated(
    vertex_values: ArrayLike, edges: Edges, triangles: Triangles | None
) -> tuple[np.ndarray, dict, dict]:
    """Checked losses and the clamped value of every edge and triangle, keyed by sorted vertices.

    A simplex is clamped up to its faces' values because an estimated curve (triangle) maximum can fall
    a hair below an endpoint's (side's) loss; +inf ("never connected") is kept and skipped at insertion.
    """
    values = np.asarray(vertex_values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"vertex_values must be one-dimensional, got shape {values.shape}")
    if len(bad := np.flatnonzero(~np.isfinite(values))):
        raise ValueError(f"vertex_values[{bad[0]}] is {values[bad[0]]}; losses at minima must be finite")
    n = len(values)

    edge_values = {}
    for key, w in edges.items():
        if len(key) != 2:
            raise ValueError(f"edge {key!r} must be a pair of vertex indices")
        i, j = (_vertex(v, n, f"edge {key!r}") for v in key)
        if i == j:
            raise ValueError(f"edge {key!r} joins a vertex to itself")
        e = (min(i, j), max(i, j))
        if e in edge_values:
            raise ValueError(f"edge {key!r} is given twice, as {e} and {e[::-1]}")
        if np.isnan(w := float(w)):
            raise ValueError(f"edge {key!r} has value nan")
        edge_values[e] = max(w, values[i], values[j])

    triangle_values = {}
    for key, t in (triangles or {}).items():
        if len(key) != 3:
            raise ValueError(f"triangle {key!r} must be a triple of vertex indices")
        tri = tuple(sorted(_vertex(v, n, f"triangle {key!r}") for v in key))
        if len(set(tri)) != 3:
            raise ValueError(f"triangle {key!r} repeats a vertex")
        if tri in triangle_values:
            raise ValueError(f"triangle {key!r} is given twice (as {tri} in some order)")
        if np.isnan(t := float(t)):
            raise ValueError(f"triangle {key!r} has value nan")
        sides = list(combinations(tri, 2))
        for e in sides:
            if e not in edge_values:
                raise ValueError(f"triangle {key!r} needs edge {e}, which is not in edges")
        triangle_values[tri] = max(t, *(edge_values[e] for e in sides))
    return values, edge_values, triangle_values


def _simplex_tree(vertex_values: ArrayLike, edge_values: dict, triangle_values: dict):
    import gudhi

    st = gudhi.SimplexTree()
    for i, v in enumerate(vertex_values):
        st.insert([i], float(v))
    for simplices in (edge_values, triangle_values):
        for s, f in simplices.items():
            if f < inf:
                st.insert(list(s), f)
    return st


def _as_bars(bars: ArrayLike) -> np.ndarray:
    bars = np.asarray(bars, dtype=np.float64)
    if bars.size == 0:
        return bars.reshape(0, 2)
    if bars.ndim != 2 or bars.shape[1] != 2:
        raise ValueError(f"bars must have shape [k, 2], got {bars.shape}")
    return bars


def _sorted_bars(bars: ArrayLike) -> np.ndarray:
    bars = _as_bars(bars)
    return bars[np.lexsort((bars[:, 1], bars[:, 0]))]


def _persistent(values: np.ndarray, edge_values: dict, triangle_values: dict):
    """The simplex tree of a validated complex, its persistence computed."""
    st = _simplex_tree(values, edge_values, triangle_values)
    # Without persistence_dim_max gudhi skips the top dimension: H1 of a complex without triangles, and
    # even H0 of one without edges.
    st.persistence(homology_coeff_field=2, min_persistence=-1, persistence_dim_max=True)
    return st


def persistence(
    vertex_values: ArrayLike, edges: Edges, triangles: Triangles | None = None
) -> dict[int, np.ndarray]:
    """H0 and H1 barcodes {0: [k, 2], 1: [m, 2]} of (birth, death), death = inf for essential classes.

    vertex_values: [n] losses at the minima. edges: {(i, j): max loss along the curve}, +inf meaning
    never connected. triangles: {(i, j, k): max loss over the triangle}, whose sides must be in edges.
    Rows are sorted by (birth, death); zero-length bars are kept, so H0 has one bar per vertex.
    """
    st = _persistent(*_validated(vertex_values, edges, triangles))
    return {d: _sorted_bars(st.persistence_intervals_in_dimension(d)) for d in (0, 1)}


def _deciding_edges(values: np.ndarray, edge_values: dict) -> list[tuple[int, int] | None]:
    n = len(values)
    # gudhi picks an arbitrary survivor when two roots have equal values, so it is given distinct ranks in
    # the order above instead of losses. Listing all vertices before all edges is harmless: when a vertex
    # is born does not change which edge kills it, only the elder order does.
    vertex_ranks = np.empty(n)
    vertex_ranks[np.lexsort((np.arange(n), values))] = np.arange(n)
    finite = sorted((w, e) for e, w in edge_values.items() if w < inf)
    edge_ranks = {e: float(r) for r, (_, e) in enumerate(finite, start=n)}
    st = _simplex_tree(vertex_ranks, edge_ranks, {})
    st.persistence(homology_coeff_field=2, min_persistence=-1)

    deciding: list[tuple[int, int] | None] = [None] * n
    for birth, death in st.persistence_pairs():
        if len(birth) == 1 and death:
            deciding[birth[0]] = tuple(sorted(death))
    return deciding


def h0_deciding_edges(vertex_values: ArrayLike, edges: Edges) -> list[tuple[int, int] | None]:
    """[n] the edge (its sorted vertex pair) whose addition ends each vertex's H0 class under the elder
    rule: the one that merges its component into one with an elder minimum; None for the eldest of each
    component, whose bar never dies.

    A bar's death is this one curve's maximum, so the bar is as good as that estimate. Vertices age by
    (loss, index); among edges of equal value the one with the lower sorted pair comes first.
    """
    return _deciding_edges(*_validated(vertex_values, edges, None)[:2])


def h0_deaths(vertex_values: ArrayLike, edges: Edges) -> np.ndarray:
    """[n] death of each vertex's H0 class under the elder rule, inf for the eldest of each component.

    Vertices age by (loss, index): among equal losses the lower index is the elder and survives.
    """
    values, edge_values, _ = _validated(vertex_values, edges, None)
    return np.array([inf if e is None else edge_values[e] for e in _deciding_edges(values, edge_values)],
                    dtype=np.float64)


def h1_pairs(
    vertex_values: ArrayLike, edges: Edges, triangles: Triangles | None = None
) -> list[tuple[tuple[int, int], tuple[int, int, int] | None]]:
    """(edge, triangle) behind each H1 bar, in the order of ``persistence(...)[1]``'s rows: the edge whose
    addition closes the cycle (its birth) and the triangle whose addition fills it (its death; None for
    a cycle never filled), each as its sorted vertices."""
    values, edge_values, triangle_values = _validated(vertex_values, edges, triangles)
    st = _persistent(values, edge_values, triangle_values)
    pairs = [(tuple(sorted(birth)), tuple(sorted(death)) or None) for birth, death in st.persistence_pairs()
             if len(birth) == 2]
    # the rows' order: by (birth, death), the simplices breaking ties so the order is the same every time
    return sorted(pairs, key=lambda p: (edge_values[p[0]], inf if p[1] is None else triangle_values[p[1]],
                                        p[0], p[1] or ()))


def direct_deaths(vertex_values: ArrayLike, edges: Edges) -> np.ndarray:
    """[n] death by the authors' rule: min of w_ij over edges to a strictly lower minimum j, else inf.

    It ignores paths through intermediate minima, so it is never below h0_deaths.
    """
    values, edge_values, _ = _validated(vertex_values, edges, None)
    deaths = np.full(len(values), np.inf)
    for (i, j), w in edge_values.items():
        if values[i] != values[j]:
            upper = i if values[i] > values[j] else j
            deaths[upper] = min(deaths[upper], w)
    return deaths


def triangle_lifespans(edge_maxima: ArrayLike, triangle_maxima: ArrayLike) -> np.ndarray:
    """[m, 2] per-triple bars [max of the sides, max(triangle, max of the sides)] (paper 004, Alg. 2).

    edge_maxima: [m, 3] max loss along each side; triangle_maxima: [m] max loss over each triangle.
    """
    sides = np.asarray(edge_maxima, dtype=np.float64)
    tri = np.asarray(triangle_maxima, dtype=np.float64)
    if tri.ndim != 1 or sides.shape != (len(tri), 3):
        raise ValueError(
            f"need edge_maxima [m, 3] and triangle_maxima [m], got {sides.shape} and {tri.shape}"
        )
    birth = sides.max(axis=1)
    return np.stack([birth, np.maximum(tri, birth)], axis=1)


def _distance_to_ideal(bars: np.ndarray, ideal_births: list[float], convention: str) -> float:
    """Bottleneck distance from bars to an ideal barcode of essential bars born at ideal_births only.

    Essential bars can only be matched to essential ones; finite bars all go to the diagonal.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; expected one of {CONVENTIONS}")
    essential = np.isinf(bars[:, 1])
    births = np.sort(bars[essential, 0])
    if len(births) != len(ideal_births):
        return inf
    # On a line the bottleneck matching pairs sorted births with sorted births.
    distance = float(np.max(np.abs(births - np.sort(ideal_births)), initial=0.0))

    finite = bars[~essential]
    if len(finite) == 0:
        return distance
    if convention == "linf":
        import gudhi

        return max(distance, gudhi.bottleneck_distance(finite, np.empty((0, 2))))
    return max(distance, float(np.max(finite[:, 1] - finite[:, 0])) / sqrt(2))


def to_score(h0_bars: ArrayLike, convention: str = "euclidean") -> float:
    """TO-score: bottleneck distance from the H0 barcode to one essential bar born at the lowest birth.

    A landscape without minima (empty barcode) scores 0.
    """
    bars = _as_bars(h0_bars)
    ideal = [float(bars[:, 0].min())] if len(bars) else []
    return _distance_to_ideal(bars, ideal, convention)


def w_inf(h1_bars: ArrayLike, convention: str = "euclidean") -> float:
    """Bottleneck distance from the H1 barcode to the empty barcode of a convex function (paper 004)."""
    return _distance_to_ideal(_as_bars(h1_bars), [], convention)


def summary(vertex_values: ArrayLike, edges: Edges, triangles: Triangles | None = None) -> dict:
    """JSON-ready barcodes, per-minimum deaths (graph and direct rule) and distances in every convention."""
    bars = persistence(vertex_values, edges, triangles)
    graph = h0_deaths(vertex_values, edges)
    direct = direct_deaths(vertex_values, edges)
    direct_bars = np.column_stack([np.asarray(vertex_values, dtype=np.float64), direct])
    return {
        "h0": bars[0].tolist(),
        "h1": bars[1].tolist(),
        "h0_graph_deaths": graph.tolist(),
        "h0_direct_deaths": direct.tolist(),
        "to_score": {c: to_score(bars[0], c) for c in CONVENTIONS},
        "to_score_direct": {c: to_score(direct_bars, c) for c in CONVENTIONS},
        "w_inf": {c: w_inf(bars[1], c) for c in CONVENTIONS},
    }


def estimate_state(convergence: dict | None, height: float | None = None) -> str:
    """UNCONVERGED unless an estimate's ``convergence`` says it converged (None: it has no record);
    ZERO when it converged and ``height``, what it rises above what it is compared with (a bar's
    length, a curve's barrier), is within its tolerance: connected without a barrier; else CONVERGED."""
    if not (convergence or {}).get("converged"):
        return UNCONVERGED
    return ZERO if height is not None and height <= convergence["tolerance"] else CONVERGED


def convergence_summary(vertex_values: ArrayLike, edges: Edges, triangles: Triangles | None,
                        estimates: dict[tuple[int, ...], dict | None], names: list[str] | None = None) -> dict:
    """JSON-ready: which estimate decides each bar of ``persistence``, and whether it converged.

    estimates: {edge or triangle key, as given in edges and triangles: the "convergence" of its record, or
    None where the record has none}; names: the vertices' names (default "0", "1"...), a key named by its
    vertices' names joined by "-". Returns "edges" and "triangles" ({name: convergence or None}); "h0",
    one {"edge", "converged", "zero"} per vertex: the edge that ends its bar (None where none does, a bar
    that never dies and is converged), converged iff that edge is, zero iff moreover death - birth is
    within the edge's tolerance (``estimate_state``): the minima are connected without a barrier; "h1",
    one {"edge", "triangle", "converged"} per H1 bar (``h1_pairs``), converged iff both are (the edge
    alone for a cycle never filled); and the counts of converged edges and triangles.
    """
    names = names or [str(i) for i in range(len(vertex_values))]
    label = {tuple(sorted(k)): "-".join(names[i] for i in k) for k in [*edges, *(triangles or {})]}
    given = {tuple(sorted(k)): c for k, c in estimates.items()}

    def state(key, height=None) -> str:
        return estimate_state(given.get(key), height)

    values, edge_values, _ = _validated(vertex_values, edges, triangles)
    h0 = []
    for birth, edge in zip(values, _deciding_edges(values, edge_values), strict=True):
        decided = CONVERGED if edge is None else state(edge, edge_values[edge] - birth)
        h0.append({"edge": label.get(edge), "converged": decided != UNCONVERGED, "zero": decided == ZERO})
    h1 = [{"edge": label.get(edge), "triangle": label.get(triangle),
           "converged": state(edge) != UNCONVERGED and (triangle is None or state(triangle) != UNCONVERGED)}
          for edge, triangle in h1_pairs(vertex_values, edges, triangles)]
    out = {kind: {label[key]: given.get(key) for key in (tuple(sorted(k)) for k in simplices)}
           for kind, simplices in (("edges", edges), ("triangles", triangles or {}))}
    out.update(h0=h0, h1=h1)
    for kind in ("edges", "triangles"):
        out[f"{kind}_converged"] = sum(estimate_state(c) != UNCONVERGED for c in out[kind].values())
        out[f"{kind}_total"] = len(out[kind])
    return out


def sublevel_persistence(grid_values: ArrayLike) -> dict[int, np.ndarray]:
    """Exact H0 and H1 barcodes of a function sampled on a regular grid (any dimension).

    Sublevel-set persistence of the cubical complex whose vertices carry ``grid_values`` (gudhi's
    CubicalComplex, Z/2; the grid's countless zero-length bars are dropped): the reference that estimates are checked against on
    analytic landscapes, exact up to the grid's resolution.
    """
    import gudhi

    values = np.asarray(grid_values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("grid_values must be finite")
    complex_ = gudhi.CubicalComplex(vertices=values)
    complex_.compute_persistence(homology_coeff_field=2, min_persistence=0)
    return {d: _sorted_bars(complex_.persistence_intervals_in_dimension(d)) for d in (0, 1)}
