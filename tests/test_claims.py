"""The papers' findings checked on synthetic run records whose answer is known by construction."""

import math
import random

import pytest
from scipy.stats import spearmanr

from lossbarcode import claims
from lossbarcode.barcode import estimate_state
from lossbarcode.claims import FAILS, HOLDS, PENDING, UNDECIDED

ZERO_BARS = "undecided: all compared bars are zero (minima connected without a barrier)"


def converged(verdict="converged", tolerance=1e-3):
    """A curve's (or triangle's) convergence as its record carries it (the parts read downstream)."""
    return {"verdict": verdict, "converged": verdict == "converged", "tolerance": tolerance}


def record(model, deaths, losses=None, *, dataset="d", experiment="e", repetition=None, edges=None,
           w_inf=0.0, to_score=0.0, accuracy=None, parameters=1000, bars=None, curves=None, h1=(), recorded=True,
           **extra):
    """A run record as figures read it: minima with train losses, their bars' deaths (inf: never dies).

    Every estimate converged unless ``bars`` (per minimum, the convergence of the curve its bar ends on;
    None: no record), ``curves`` ({edge: its convergence}) or ``h1`` ((edge's, triangle's) convergence
    per H1 bar) say otherwise; without ``recorded`` the barcode predates convergence records."""
    losses = losses or [0.0] * len(deaths)
    names = [str(i) for i in range(len(deaths))]
    r = {"run": f"{dataset}-{model}", "experiment": experiment, "model": model, "model_label": model.upper(),
         "dataset": dataset, "dataset_title": dataset.upper(), "order": parameters, "parameters": parameters,
         "barcode": {"h0_graph_deaths": deaths, "h0": [[l, d] for l, d in zip(losses, deaths)],
                     "minima": {"names": names, "train_loss": losses,
                                "test_accuracy": accuracy or [0.5] * len(deaths)},
                     "edges": edges or {}, "w_inf": {"euclidean": w_inf, "linf": w_inf / 2},
                     "to_score": {"euclidean": to_score, "linf": to_score / 2}}, **extra}
    if recorded:
        bars = bars or [converged()] * len(deaths)
        ends = {f"bar-{i}": bars[i] for i, d in enumerate(deaths) if math.isfinite(d)}  # the curves bars end on
        states = [estimate_state(bars[i], d - loss) if math.isfinite(d) else "converged"
                  for i, (loss, d) in enumerate(zip(losses, deaths))]
        r["barcode"]["convergence"] = {
            "edges": {**ends, **{e: (curves or {}).get(e, converged()) for e in edges or {}},
                      **{f"h1-{k}": edge for k, (edge, _) in enumerate(h1)}},
            "triangles": {f"h1-{k}": triangle for k, (_, triangle) in enumerate(h1)},
            "h0": [{"edge": f"bar-{i}" if math.isfinite(d) else None, "converged": state != "not converged",
                    "zero": state == "no barrier"} for i, (d, state) in enumerate(zip(deaths, states))],
            "h1": [{"edge": f"h1-{k}", "triangle": f"h1-{k}", "converged": None not in (edge, triangle)
                    and edge["converged"] and triangle["converged"]} for k, (edge, triangle) in enumerate(h1)]}
    if repetition is not None:
        r["repetition"] = repetition
    return r


def check(kind, records, **options):
    spec = {"kind": kind, "item": "§x", "statement": "s", **options}
    assert claims.option_problems("claim", spec) == []
    return claims.check(records, spec)


@pytest.mark.parametrize("seed", range(5))
def test_spearman_is_scipys_with_ties(seed):
    rng = random.Random(seed)
    x = [rng.choice([1, 2, 3, 4]) for _ in range(9)]
    y = [rng.choice([0.1, 0.2, 0.5]) + 0.01 * rng.random() * (seed % 2) for _ in range(9)]
    assert claims.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert math.isnan(claims.spearman(x, [1.0] * 9))


def fcn(depth, bar, dataset="d"):
    return record(f"fcn-{depth}", [math.inf, bar, bar / 2], [0.0, 0.0, 0.0], dataset=dataset)


def test_trend_holds_when_every_dataset_falls_and_fails_when_one_rises():
    falling = [fcn(d, 1.0 / d, "a") for d in (2, 4, 8)] + [fcn(d, 2.0 / d, "b") for d in (2, 4, 8)]
    outcome = check("trend", falling, measure="mean_bar", by="depth", expect="falls")
    assert outcome.verdict == HOLDS and outcome.ours.count("ρ = -1.00") == 2
    rising_on_b = falling[:3] + [fcn(d, d, "b") for d in (2, 4, 8)]
    assert check("trend", rising_on_b, measure="mean_bar", by="depth", expect="falls").verdict == FAILS
    assert check("trend", [fcn(d, d) for d in (2, 4)], measure="mean_bar", by="depth", expect="rises").verdict == HOLDS


def test_a_trend_over_equal_values_says_its_correlation_is_undefined():
    outcome = check("trend", [fcn(d, 0.5) for d in (2, 4, 8)], measure="mean_bar", by="depth", expect="falls")
    assert "ρ = undefined (the values are all equal)" in outcome.ours and "nan" not in outcome.ours


def test_trend_within_groups_and_not_computed_with_one_network_per_group():
    cnns = [record(f"cnn-{layers}-{width}", [math.inf, 1.0 / (width * layers)]) for layers, width
            in ((1, 32), (1, 64), (1, 128), (2, 32), (2, 64), (3, 32))]
    by_width = check("trend", cnns, measure="mean_saddle", by="width", within=["depth"], expect="falls")
    assert by_width.verdict == HOLDS and "depth 1; 3 networks" in by_width.ours and "depth 3" not in by_width.ours
    alone = check("trend", cnns[:1] + cnns[3:4], measure="mean_saddle", by="width", within=["depth"], expect="falls")
    assert alone.verdict == PENDING
    with pytest.raises(ValueError, match="no 'width'"):
        check("trend", [fcn(2, 1.0), fcn(3, 1.0)], measure="mean_bar", by="width", expect="falls")


def test_trend_by_parameters_ignores_runs_without_a_finite_bar():
    runs = [record("a", [math.inf, 0.3], parameters=10), record("b", [math.inf, 0.2], parameters=20),
            record("c", [math.inf], parameters=30)]  # one minimum: no bar, no value
    outcome = check("trend", runs, measure="mean_bar", by="parameters", expect="falls")
    assert outcome.verdict == HOLDS and "2 networks" in outcome.ours


def test_compare_pairs_models_and_experiments_on_the_same_data():
    bn = [record("cnn-bn-1-32", [math.inf, 0.2], [0.1, 0.1]), record("cnn-1-32", [math.inf, 0.5], [0.2, 0.3])]
    assert check("compare", bn, measure="mean_minimum", pairs=[["cnn-bn-1-32", "cnn-1-32"]], expect="lower").verdict == HOLDS
    assert check("compare", bn, measure="mean_saddle", pairs=[["cnn-1-32", "cnn-bn-1-32"]], expect="lower").verdict == FAILS
    types = [record("resnet9", [math.inf, 1.0], accuracy=[0.9, 0.8], experiment="type2", dataset=d) for d in "xy"] + \
            [record("resnet9", [math.inf, 1.0], accuracy=[0.7, 0.6], experiment="type1", dataset=d) for d in "xy"]
    outcome = check("compare", types, measure="test_accuracy", pairs=[["type2", "type1"]], expect="higher")
    assert outcome.verdict == HOLDS and "(2 of 2)" in outcome.statistic
    with pytest.raises(ValueError, match="expected one run of each"):
        check("compare", types, measure="test_accuracy", pairs=[["resnet9", "type1"]], expect="higher")
    assert check("compare", bn, measure="w_inf", pairs=[["absent", "cnn-1-32"]], expect="lower").verdict == PENDING


def test_separated_needs_every_saddle_of_one_group_below_every_saddle_of_the_other():
    low = record("m", [math.inf, 0.1, 0.3], experiment="type2")
    high = record("m", [math.inf, 0.35, 0.9], experiment="type1")
    assert check("separated", [low, high], below=["type2"], above=["type1"]).verdict == HOLDS
    overlapping = record("m", [math.inf, 0.25, 0.9], experiment="type1")
    outcome = check("separated", [low, overlapping], below=["type2"], above=["type1"])
    assert outcome.verdict == FAILS and "0.3" in outcome.ours and "0.25" in outcome.ours


def test_embedding_compares_each_minimum_with_itself_in_the_smaller_network():
    small = record("cnn-1-32", [math.inf, 0.5, 0.4], [0.1, 0.1, 0.1], experiment="cnn")
    embedded = record("cnn-1-64", [0.6, math.inf, 0.3], [0.1, 0.1, 0.1], experiment="embed",
                      source_model="cnn-1-32", source_experiment="cnn")
    outcome = check("embedding", [small, embedded])
    assert outcome.verdict == HOLDS and "1 of 1" in outcome.ours  # only minimum 2 ends in both
    grown = record("cnn-1-64", [math.inf, 0.7, 0.3], [0.1, 0.1, 0.1], experiment="embed",
                   source_model="cnn-1-32", source_experiment="cnn")
    assert check("embedding", [small, grown]).verdict == FAILS
    with pytest.raises(ValueError, match="is not among its runs"):
        check("embedding", [grown])


def gpt(losses, edges, **extra):
    return record("gpt-2-64", [math.inf] + [max(losses)] * (len(losses) - 1), losses, edges=edges, **extra)


def test_levels_two_quality_levels_with_higher_barriers_across():
    losses = [1.0, 1.01, 2.0, 2.02]  # two levels: {0, 1} and {2, 3}
    edges = {"0-1": 1.05, "2-3": 2.05, "0-2": 2.5, "0-3": 2.6, "1-2": 2.4, "1-3": 2.7}
    assert check("levels", [gpt(losses, edges)]).verdict == HOLDS
    low_across = {**edges, "1-2": 2.02}  # a barrier of 0.02 over its higher end, below the within-level 0.05
    assert check("levels", [gpt(losses, low_across)]).verdict == FAILS
    one_level = [1.0, 1.2, 1.4, 1.6]  # evenly spread: the largest gap does not exceed a level's spread
    assert check("levels", [gpt(one_level, {e: 3.0 for e in edges})]).verdict == FAILS
    assert check("levels", [gpt([1.0, 2.0], {"0-1": 3.0})]).verdict == PENDING


def test_intervals_narrow_when_repetitions_agree():
    same = [record("resnet9", [math.inf, 1.0, 2.0], [0.0, 0.0, 0.0], repetition=k) for k in range(3)]
    outcome = check("intervals", same, narrow=0.25)
    assert outcome.verdict == HOLDS and "± 0%" in outcome.ours
    spread = [record("resnet9", [math.inf, 1.0 + k, 10.0], [0.0, 0.0, 0.0], repetition=k) for k in range(3)]
    # saddles 1, 2, 3 on rank 1: mean 2, half-width t(2) * 1 / sqrt(3) = 2.48, 124% of the height 2
    outcome = check("intervals", spread, narrow=0.25)
    assert outcome.verdict == FAILS and "124%" in outcome.ours
    assert check("intervals", same[:1], narrow=0.25).verdict == PENDING


def test_linear_fit_by_r2():
    result = {"experiment": "escape", "function": "f", "fit": {"r2": 0.97, "slope": 0.2, "intercept": 0.1, "n": 8}}
    assert check("linear_fit", [result], r2=0.95).verdict == HOLDS
    assert check("linear_fit", [result], r2=0.99).verdict == FAILS


def test_option_problems_name_the_option():
    def problems(**spec):
        return claims.option_problems("k", {"item": "i", "statement": "s", **spec})

    assert problems(kind="trend", measure="mean_bar", by="depth", expect="falls") == []
    assert problems(kind="trend", measure="mean_bar", by="depth") == ["k: claim kind 'trend' needs 'expect'"]
    assert "not one of ['falls', 'rises']" in problems(kind="trend", measure="mean_bar", by="depth", expect="up")[0]
    assert "unknown measure 'bars'" in problems(kind="trend", measure="bars", by="depth", expect="falls")[0]
    assert "takes no option 'narrow'" in problems(kind="levels", narrow=0.1)[0]
    assert "two models or experiments" in problems(kind="compare", measure="w_inf", pairs=[["a"]], expect="lower")[0]


def test_render_writes_one_row_per_claim(tmp_path):
    configured = [{"name": "falls", "kind": "trend", "item": "§4.1", "statement": "bars | fall", "measure": "mean_bar",
                   "by": "depth", "expect": "falls", "paper_value": "Fig. 2", "runs": [2, 4]},
                  {"name": "nothing", "kind": "levels", "item": "§7", "statement": "levels", "runs": []}]
    paths = claims.render(configured, lambda runs: [fcn(d, 1.0 / d) for d in runs], scale="quick",
                          out=tmp_path / "claims")
    text = paths[1].read_text()
    assert "1 hold, 0 do not hold, 0 undecided" in text and ", 1 not computed yet" in text and "bars \\| fall" in text
    rows = paths[0].read_text().splitlines()
    assert rows[0] == ",".join(claims.COLUMNS) and len(rows) == 3 and rows[1].startswith("falls,§4.1")


# --- judged on converged values only -------------------------------------------------------------------------

def test_a_trend_on_an_unconverged_bar_is_undecided_and_counts_the_edges():
    falling = [fcn(d, 1.0 / d) for d in (2, 4, 8)]  # two finite bars each: six edges
    falling[1] = record("fcn-4", [math.inf, 0.25, 0.125], [0.0] * 3, bars=[None, converged("falling"), converged()])
    outcome = check("trend", falling, measure="mean_bar", by="depth", expect="falls")
    assert outcome.verdict == UNDECIDED and outcome.ours.startswith("undecided (1 of 6 edges unconverged); ρ = -1.00")
    # a barcode written before estimates carried their convergence: none of its bars' curves is known to have
    old = [record(f"fcn-{d}", [math.inf, 1.0 / d, 0.5 / d], [0.0] * 3, recorded=False) for d in (2, 4)]
    assert check("trend", old, measure="to_score", by="depth", expect="falls").ours.startswith(
        "undecided (4 of 4 edges unconverged)")
    # the minima's losses rest on no curve: decided however the curves stand
    assert check("trend", old, measure="mean_minimum", by="depth", expect="rises").verdict == FAILS


def test_a_compare_is_decided_only_on_the_pairs_it_compares():
    bn = [record("cnn-bn-1-32", [math.inf, 0.2], [0.1, 0.1], bars=[None, converged("rising")]),
          record("cnn-1-32", [math.inf, 0.5], [0.2, 0.3]),
          record("cnn-1-64", [math.inf, 0.4], [0.2, 0.3], bars=[None, converged("too short")])]
    outcome = check("compare", bn, measure="mean_saddle", pairs=[["cnn-bn-1-32", "cnn-1-32"]], expect="lower")
    assert outcome.verdict == UNDECIDED and "(1 of 2 edges unconverged)" in outcome.ours
    assert check("compare", bn[1:], measure="mean_saddle", pairs=[["cnn-1-32", "cnn-1-64"]],
                 expect="lower").verdict == UNDECIDED
    assert check("compare", bn, measure="test_accuracy", pairs=[["cnn-bn-1-32", "cnn-1-32"]],
                 expect="higher").verdict == FAILS


def test_w_inf_rests_on_the_edges_and_triangles_of_the_h1_bars():
    shortcut = record("resnet-8", [math.inf], w_inf=0.1, h1=[(converged(), converged())])
    plain = record("resnet-ns-8", [math.inf], w_inf=0.3, h1=[(converged(), converged("falling")), (None, converged())])
    outcome = check("compare", [shortcut, plain], measure="w_inf", pairs=[["resnet-8", "resnet-ns-8"]], expect="lower")
    assert outcome.verdict == UNDECIDED and "(2 of 6 edges and triangles unconverged)" in outcome.ours
    plain = record("resnet-ns-8", [math.inf], w_inf=0.3, h1=[(converged(), converged())])
    assert check("compare", [shortcut, plain], measure="w_inf", pairs=[["resnet-8", "resnet-ns-8"]],
                 expect="lower").verdict == HOLDS


def test_comparing_only_zero_bars_is_undecided():
    """Bars of length 0.0005, each within its curve's tolerance 0.001: the minima are connected without a barrier."""
    flat = [record(f"fcn-{d}", [math.inf, 0.0005, 0.0005], [0.0] * 3) for d in (2, 4)]
    outcome = check("trend", flat, measure="mean_bar", by="depth", expect="falls")
    assert (outcome.verdict, outcome.ours.split(";")[0]) == (UNDECIDED, ZERO_BARS)
    low, high = (record("m", [math.inf, 0.0005], experiment=e) for e in ("type2", "type1"))
    assert check("separated", [low, high], below=["type2"], above=["type1"]).ours.startswith(ZERO_BARS)
    # one bar with a barrier among them: decided
    high = record("m", [math.inf, 0.5], experiment="type1")
    assert check("separated", [low, high], below=["type2"], above=["type1"]).verdict == HOLDS


def test_separated_embedding_and_intervals_rest_on_the_bars_they_compare():
    low = record("m", [math.inf, 0.1, 0.3], experiment="type2", bars=[None, converged(), None])
    high = record("m", [math.inf, 0.35, 0.9], experiment="type1")
    assert check("separated", [low, high], below=["type2"], above=["type1"]).ours.startswith(
        "undecided (1 of 4 edges unconverged)")
    # embedding compares minimum 2 only: minimum 0's curve does not matter
    small = record("cnn-1-32", [math.inf, 0.5, 0.4], [0.1] * 3, experiment="cnn")
    embedded = record("cnn-1-64", [0.6, math.inf, 0.3], [0.1] * 3, experiment="embed", source_model="cnn-1-32",
                      source_experiment="cnn", bars=[converged("falling"), None, converged()])
    assert check("embedding", [small, embedded]).verdict == HOLDS
    embedded["barcode"]["convergence"]["h0"][2]["converged"] = False
    assert check("embedding", [small, embedded]).ours.startswith("undecided (1 of 2 edges unconverged)")
    same = [record("resnet9", [math.inf, 1.0, 2.0], [0.0] * 3, repetition=k) for k in range(3)]
    same[2] = record("resnet9", [math.inf, 1.0, 2.0], [0.0] * 3, repetition=2, recorded=False)
    assert check("intervals", same, narrow=0.25).ours.startswith("undecided (2 of 6 edges unconverged)")


def test_levels_rest_on_every_curve_and_flat_curves_are_zero_bars():
    losses = [1.0, 1.01, 2.0, 2.02]
    edges = {"0-1": 1.05, "2-3": 2.05, "0-2": 2.5, "0-3": 2.6, "1-2": 2.4, "1-3": 2.7}
    outcome = check("levels", [gpt(losses, edges, curves={"1-3": converged("falling")})])
    assert outcome.verdict == UNDECIDED and "(1 of 6 edges unconverged)" in outcome.ours
    # every curve at most a hair above its higher end: no barriers to compare
    flat = {e: max(losses[int(m)] for m in e.split("-")) + 0.0005 for e in edges}
    assert check("levels", [gpt(losses, flat)]).ours.startswith(ZERO_BARS)


def test_the_summary_counts_undecided_claims(tmp_path):
    configured = [{"name": "falls", "kind": "trend", "item": "§4.1", "statement": "bars fall", "measure": "mean_bar",
                   "by": "depth", "expect": "falls", "runs": [2, 4]}]
    paths = claims.render(configured, lambda runs: [record(f"fcn-{d}", [math.inf, 1.0 / d], recorded=False)
                                                    for d in runs], scale="quick", out=tmp_path / "claims")
    assert "0 hold, 0 do not hold, 1 undecided" in paths[1].read_text()
    assert paths[0].read_text().splitlines()[1].endswith(",undecided,quick,d: D")
