"""Toy experiments (paper 002 Fig 1, §9 with Appendix D, Appendices C and H): polynomials that satisfy their
conditions, bars that equal the analytic barriers, escape regimes and thresholds, point-chain logs, figures."""

import csv
import math

import numpy as np
import pytest
from numpy.polynomial import Polynomial

from lossbarcode import toy
from lossbarcode.figures import KINDS, render
from lossbarcode.io import read_json, write_json

FIGURES = {  # figure kind -> the experiment it is drawn from, and the experiment's data title
    "toy_barcode_1d": ("minima_barcode_1d", "analytic: 1-D function with five minima"),
    "escape_regimes": ("escape_regimes", "analytic: degree-6 polynomial"),
    "escape_trajectory": ("escape_regimes", "analytic: degree-6 polynomial"),
    "escape_polynomials": ("escape_vs_barrier", "analytic: degree-6 polynomials"),
    "escape_lr_vs_barrier": ("escape_vs_barrier", "analytic: degree-6 polynomials"),
    "escape_steps": ("escape_vs_barrier", "analytic: degree-6 polynomials"),
    "insertion": ("insertion", "analytic: bent valley"),
    "tangent_gradient": ("gradient_components", "analytic: bent valley"),
    "orthogonal_gradient": ("gradient_components", "analytic: bent valley"),
}
REDUCED = {  # fewer heights and starts than the defaults, same code paths
    "escape_vs_barrier": dict(heights=(0.7306, 0.7318, 0.7330), starts=3, bisections=16, steps_lrs=41),
    "escape_minima": dict(family="minima", heights=(0.45, 0.65, 0.85), starts=3, bisections=16, steps_lrs=41),
}


@pytest.fixture(scope="module")
def results() -> dict:
    """Every experiment once (the polynomial families with fewer heights and starts), about 3 s."""
    out = {name: toy.run(name, **REDUCED.get(name, {})) for name in toy.EXPERIMENTS}
    out["escape_minima"] = toy.run("escape_vs_barrier", **REDUCED["escape_minima"])
    return out


def derivative(p, order: int, x: float) -> float:
    """p^(order)(x) by numpy's own polynomial class, independently of toy.derivative_row."""
    return float(Polynomial(p).deriv(order)(x)) if order else float(Polynomial(p)(x))


def real_critical_points(p) -> np.ndarray:
    roots = Polynomial(p).deriv().roots()
    return np.sort(roots[np.abs(roots.imag) < 1e-9].real)


def test_results_are_json_files(results, tmp_path):
    for name, result in results.items():
        assert read_json(write_json(tmp_path / f"{name}.json", result)) == result  # no NaN, no numpy types


# ----- polynomials ---------------------------------------------------------------------------------
def test_approach1_satisfies_its_seven_conditions():
    c = toy.REFERENCE
    p = toy.approach1(**c)
    for x, order, value in [(c["x1"], 0, c["y1"]), (c["x1"], 1, 0), (c["x1"], 2, c["c1"]),
                            (c["x2"], 0, c["y2"]), (c["x2"], 1, 0), (c["x2"], 2, c["c2"])]:
        assert derivative(p, order, x) == pytest.approx(value, abs=1e-9)
    assert p[6] == pytest.approx(c["lead"], abs=1e-12)
    # exactly a local minimum, the barrier between, and the global minimum; the other two roots of p' are complex
    x_max, x2 = toy.landmarks(p, c["x1"])
    np.testing.assert_allclose(real_critical_points(p), [c["x1"], x_max, c["x2"]], atol=1e-9)
    assert c["x1"] < x_max < x2 == pytest.approx(c["x2"])
    assert derivative(p, 2, x_max) < 0


@pytest.mark.parametrize("height", [0.7306, 0.7321, 0.7336])
def test_approach2_members_share_the_taylor_data_and_have_the_asked_barrier(height):
    reference = toy.approach1(**toy.REFERENCE)
    x1 = toy.REFERENCE["x1"]
    data = toy.taylor(reference, x1)
    member = toy.with_barrier(lambda lead: toy.approach2(x1, data, lead), x1, height, toy.REFERENCE["lead"])
    for order in range(6):
        assert derivative(member, order, x1) == pytest.approx(derivative(reference, order, x1), abs=1e-9)
    critical = real_critical_points(member)
    assert len(critical) == 3 and critical[0] == pytest.approx(x1, abs=1e-9)
    assert derivative(member, 0, critical[1]) - derivative(member, 0, x1) == pytest.approx(height, abs=1e-9)
    assert derivative(member, 0, critical[2]) < derivative(member, 0, x1)  # x1 is local, not global


def test_families_refuse_what_they_cannot_build():
    x1 = toy.REFERENCE["x1"]
    data = toy.taylor(toy.approach1(**toy.REFERENCE), x1)
    with pytest.raises(ValueError, match="spans"):
        toy.with_barrier(lambda lead: toy.approach2(x1, data, lead), x1, 5.0, toy.REFERENCE["lead"])
    with pytest.raises(ValueError, match="real roots"):
        toy.landmarks(np.array([0, 0, -1, 0, 0, 0, 1.0]), 0.0)  # x^6 - x^2: a maximum at 0
    with pytest.raises(ValueError, match="unknown toy experiment 'nope'.*escape_regimes"):
        toy.run("nope")


@pytest.mark.parametrize("family", ["escape_vs_barrier", "escape_minima"])
def test_bars_from_the_curve_pipeline_equal_the_analytic_barriers(results, family):
    result = results[family]
    for target, poly in zip(result["heights"], result["polynomials"], strict=True):
        assert poly["bar"]["height"] == pytest.approx(poly["barrier"], abs=1e-6)
        assert poly["barrier"] == pytest.approx(target, abs=1e-9)
        assert poly["bar"]["birth"] == pytest.approx(poly["y1"], abs=1e-9)


def test_reference_bar_equals_its_barrier(results):
    poly = results["escape_regimes"]["polynomial"]
    assert poly["bar"]["height"] == pytest.approx(poly["barrier"], abs=1e-6)
    assert poly["barrier"] == pytest.approx(poly["y_max"] - poly["y1"])


# ----- Fig 1 ---------------------------------------------------------------------------------------
def test_pipeline_barcode_matches_the_exact_one_in_1d(results):
    r = results["minima_barcode_1d"]
    exact, ours = np.array(r["exact"]), np.array(r["pipeline"])
    assert len(exact) == len(ours) >= 4
    assert np.isinf(exact[:, 1]).sum() == np.isinf(ours[:, 1]).sum() == 1
    finite = np.isfinite(exact[:, 1])
    assert np.abs(exact[finite] - ours[finite]).max() <= r["resolution"]
    assert r["max_difference"] <= r["resolution"]
    assert abs(exact[~finite, 0] - ours[~finite, 0]).item() <= r["resolution"]


# ----- escape --------------------------------------------------------------------------------------
def test_tiny_rate_stays_escaping_rate_escapes_huge_rate_diverges():
    p = toy.approach1(**toy.REFERENCE)
    run = toy.descend_1d(p, np.full(3, 0.05), np.array([0.01, 0.45, 2.0]), 0.0, 2000)
    assert run["regime"].tolist() == ["stays", "escapes", "diverges"] and run["x"][2] == math.inf
    assert run["x"][0] == pytest.approx(0.0, abs=1e-9) and run["x"][1] == pytest.approx(3.0, abs=1e-6)
    assert run["steps_to_escape"][0] == math.inf and 1 <= run["steps_to_escape"][1] < 2000


def test_sweep_has_the_three_regimes_in_order(results):
    r = results["escape_regimes"]
    firsts = [next(lr for lr, g in zip(r["lr"], r["regime"]) if g == regime) for regime in toy.REGIMES]
    assert firsts == sorted(firsts)  # stays, then escapes, then diverges as the rate grows
    assert r["trajectory"]["regime"] == "escapes"
    x, barrier = np.array(r["trajectory"]["x"]), r["polynomial"]["x_max"]
    assert x[0] < barrier < x[-1] and x[-1] == pytest.approx(r["polynomial"]["x2"], abs=1e-6)


def test_bisected_escape_rate_is_a_threshold(results):
    r = results["escape_vs_barrier"]
    for k, poly in enumerate(r["polynomials"]):
        p = np.array(poly["coefficients"])
        below, above = np.array(r["escape_lr_below"][k]), np.array(r["escape_lr"][k])
        assert np.isfinite(above).all() and (above - below < 1e-5).all()
        starts = np.array(r["starts"])
        # just below, descent has not escaped within the steps (most stay; a late leaver is still on its way)
        assert (toy.descend_1d(p, starts, below, 0.0, r["steps"])["regime"] != "escapes").all()
        assert (toy.descend_1d(p, starts, above, 0.0, r["steps"])["regime"] == "escapes").all()


def test_fit_is_finite_and_exact_on_a_line(results):
    for family in ("escape_vs_barrier", "escape_minima"):
        fit = results[family]["fit"]
        assert all(math.isfinite(fit[k]) for k in ("slope", "intercept", "r2")) and 0 <= fit["r2"] <= 1
    x = np.linspace(0, 1, 5)
    assert toy.fit_line(x, 2 * x + 1) == pytest.approx(dict(slope=2, intercept=1, r2=1, n=5))
    assert toy.fit_line(x, np.full(5, 0.4))["r2"] == 0  # a constant: the flat line explains nothing
    assert toy.fit_line(np.r_[x, 2.0], np.r_[2 * x, np.inf])["n"] == 5
    assert toy.fit_line(x[:1], x[:1])["slope"] is None


# ----- point chain (Appendices C and H) -----------------------------------------------------------
def test_insertion_snapshots(results):
    r = results["insertion"]
    counts = {s["label"]: len(s["points"]) for s in r["snapshots"]}
    assert list(counts) == ["before", "first insertion", "second insertion", "after"]
    assert counts["first insertion"] == counts["before"] + 2 == 2 + 2 + 2  # 2 interior points, then 2 more
    assert counts["second insertion"] == counts["first insertion"] + 2
    for s in r["snapshots"]:
        assert np.array(s["points"]).shape == (len(s["t"]), 2) and len(s["loss"]) == len(s["t"])
        np.testing.assert_allclose([s["points"][0], s["points"][-1]], r["minima"])  # the endpoints stay put
    # the straight segment leaves the valley (saddle 0.6); the trained chain follows it
    assert r["snapshots"][0]["max_loss"] > 2 and r["snapshots"][-1]["max_loss"] == pytest.approx(0.6004, abs=1e-3)
    assert np.array(r["grid"]["loss"]).shape == (len(r["grid"]["x"]), len(r["grid"]["y"]))


def test_gradient_logs(results):
    r = results["gradient_components"]
    assert len(r["epochs"]) == r["steps"] // r["epoch"] and len(r["per_step"]["tangent_mean"]) == r["steps"]
    for e in r["epochs"]:
        points = 10 + 2 * (e["first_step"] // r["insert_every"])  # 10 at first, 2 more per insertion
        assert len(e["t"]) == len(e["tangent_mean"]) == len(e["orthogonal_sum"]) == points
        assert min(e["tangent_mean"]) >= 0 and min(e["orthogonal_sum"]) >= 0
        assert e["t"] == sorted(e["t"]) and 0 < e["t"][0] and e["t"][-1] < 1
    assert r["moments"][0] == 0 and r["moments"][-1] == len(r["epochs"]) - 1
    # the chain settles: far less orthogonal push in the last epoch than in the first
    assert sum(r["epochs"][-1]["orthogonal_sum"]) < 0.01 * sum(r["epochs"][0]["orthogonal_sum"])


# ----- figures -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(FIGURES))
def test_every_toy_kind_renders_from_the_experiment(kind, results, tmp_path):
    experiment, title = FIGURES[kind]
    record = dict(results[experiment], experiment=experiment, dataset_title=title)
    paths = render(kind, [record], scale="quick", title=f"toy {kind}", out=tmp_path / kind)
    assert paths[0].read_bytes().startswith(b"\x89PNG") and paths[1].read_bytes().startswith(b"%PDF")
    with open(tmp_path / f"{kind}.csv") as f:
        assert list(csv.DictReader(f))
    fig = KINDS[kind]([record], scale="quick", title=f"toy {kind}")
    assert "quick scale" in fig.get_suptitle() and title in fig.get_suptitle()
    for ax in fig.axes:
        if ax.get_label() != "<colorbar>":
            assert ax.get_xlabel() and ax.get_ylabel()


def test_escape_csv_holds_the_fit_and_missing_titles_are_tolerated(results, tmp_path):
    record = results["escape_minima"]  # no "experiment", no "dataset_title"
    render("escape_lr_vs_barrier", [record], scale="paper", title="t", out=tmp_path / "lr")
    with open(tmp_path / "lr.csv") as f:
        (fit,) = [row for row in csv.DictReader(f) if row["series"] == "fit"]
    assert float(fit["slope"]) == record["fit"]["slope"] and float(fit["r2"]) == record["fit"]["r2"]
    assert "approach 1" in KINDS["escape_lr_vs_barrier"]([record], scale="paper", title="t").get_suptitle()
    with pytest.raises(ValueError, match="one experiment result"):
        KINDS["insertion"]([results["insertion"]] * 2, scale="paper", title="t")
