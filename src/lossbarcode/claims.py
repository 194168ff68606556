"""The papers' findings, checked on the workflow's results: one row per claim, with the statistic that
decides it, our value and the verdict.

A claim is configured like a figure: each experiment (or analytic experiment) that feeds it lists it
under ``claims``, with what the paper says (``item``: where, ``statement``, ``paper_value`` where the
paper gives a number) and its ``kind``, whose options say what to compare. A kind is one ``KINDS``
entry: ``check(records, spec) -> Outcome``, its options and their defaults. Records are run records
as figures and tables read them (``lossbarcode.jobs``). The verdict is "holds", "does not hold",
"undecided", or "not computed yet" where the records cannot decide it (too few runs, no finite bar).
Imports no torch and no matplotlib.

Claims are judged on converged values only. Every curve maximum (a saddle, an H0 bar's death) and
every triangle maximum is an estimate, an upper bound that a longer fit may still lower; its record
says whether it converged (``lossbarcode.figures.records``). A claim is "undecided" when one of the
estimates its deciding values rest on had not converged (or has no record), and says so before our
values: "undecided (k of n edges unconverged)"; it is undecided too when every bar it compares
converged within its tolerance of zero (minima connected without a barrier): there is nothing to
compare. What a run's value rests on, per measure:

- mean_bar, mean_saddle, to_score: the run's finite H0 bars, each resting on the one curve whose
  maximum is its death (the edge that merges its minimum into a lower one's component); a bar that
  converged within that curve's tolerance of zero is a zero bar.
- w_inf: the run's H1 bars, each resting on the edge that closes its cycle and the triangle that
  fills it (none for a cycle never filled).
- mean_minimum, test_accuracy: on no curve; always decided.

A kind's deciding values are its measure's on the runs that decide it (trend: the groups with two
networks or more; compare: the pairs with both values). separated and intervals rest on the finite H0
bars of the runs they compare, embedding on the bars of the minima it compares, in both networks;
levels on every curve of a run it decides, a curve that converged with its maximum within its
tolerance of its higher end counting as a zero bar; linear_fit (an analytic experiment) on none.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

from . import models, pages, tables
from .figures.records import (
    UNCONVERGED, ZERO, edge_convergence, estimate_state, experiment_label, h0_states, h1_estimates,
)
from .figures.robustness import interval
from .io import atomic_write, write_csv

HOLDS, FAILS, UNDECIDED, PENDING = "holds", "does not hold", "undecided", "not computed yet"
# The estimates a value rests on: ("edge" or "triangle", its state) each.
Estimates = list[tuple[str, str]]
COLUMNS = ("claim", "item", "statement", "paper", "ours", "statistic", "verdict", "scale", "data")


@dataclass(frozen=True)
class Outcome:
    ours: str        # our values, as the table shows them
    statistic: str   # what was computed, and the rule that decides the verdict
    verdict: str


# ----- what is measured on one run -------------------------------------------------------------------------------

def _mean(values: list[float]) -> float:
    return fmean(values) if values else math.nan


def finite_deaths(record: dict) -> list[float]:
    """The saddles: deaths of the run's H0 bars that end (the global minimum's never does)."""
    return [d for d in record["barcode"]["h0_graph_deaths"] if math.isfinite(d)]


def penalties(record: dict) -> dict[str, float]:
    """minimum name -> the length of its finite H0 bar (death - birth, its penalty)."""
    minima = record["barcode"]["minima"]
    return {name: death - loss for name, loss, death
            in zip(minima["names"], minima["train_loss"], record["barcode"]["h0_graph_deaths"], strict=True)
            if math.isfinite(death)}


def bar_states(record: dict) -> dict[str, str]:
    """minimum name -> the state of its finite H0 bar (that of the curve it ends on)."""
    barcode = record["barcode"]
    return {name: state for name, death, state in zip(barcode["minima"]["names"], barcode["h0_graph_deaths"],
                                                      h0_states(record), strict=True) if math.isfinite(death)}


def bar_estimates(record: dict) -> Estimates:
    """The curves the run's finite H0 bars end on, one per bar."""
    return [("edge", state) for state in bar_states(record).values()]


def barriers(record: dict) -> dict[str, float]:
    """curve name -> its barrier: its maximum over its higher end."""
    minima = record["barcode"]["minima"]
    loss = dict(zip(minima["names"], minima["train_loss"], strict=True))
    return {edge: height - max(loss[m] for m in edge.split("-")) for edge, height in record["barcode"]["edges"].items()}


def barrier_estimates(record: dict) -> Estimates:
    """Every curve of the run, ZERO where it converged with its barrier within its tolerance."""
    convergence = edge_convergence(record)
    return [("edge", estimate_state(convergence[edge], barrier)) for edge, barrier in barriers(record).items()]


@dataclass(frozen=True)
class Measure:
    description: str
    of: Callable[[dict], float]
    estimates: Callable[[dict], Estimates] = lambda r: []  # what a run's value rests on (module docstring)


MEASURES = {
    "mean_bar": Measure("mean length of the finite H0 bars (death − birth, nats)",
                        lambda r: _mean(list(penalties(r).values())), bar_estimates),
    "mean_saddle": Measure("mean saddle, the finite H0 deaths (train loss, nats)", lambda r: _mean(finite_deaths(r)),
                           bar_estimates),
    "mean_minimum": Measure("mean train loss of the minima (nats)", lambda r: _mean(r["barcode"]["minima"]["train_loss"])),
    "to_score": Measure("TO-score (Euclidean)", lambda r: r["barcode"]["to_score"]["euclidean"], bar_estimates),
    "w_inf": Measure("W∞ of the index-1 barcode (Euclidean)", lambda r: r["barcode"]["w_inf"]["euclidean"],
                     h1_estimates),
    "test_accuracy": Measure("mean held-out accuracy of the minima",
                             lambda r: _mean([a for a in r["barcode"]["minima"]["test_accuracy"] if a is not None])),
}


def _value(x: float) -> str:
    return "∞" if math.isinf(x) else "—" if math.isnan(x) else f"{x:.3g}"


def _label(record: dict) -> str:
    return f"{record['model_label']}, {record['dataset']}"


def _selected(records: list[dict], selector: str) -> list[dict]:
    """Runs named by a model or an experiment name."""
    return [r for r in records if selector in (r["model"], r["experiment"])]


def _outcome(ours: str, statistic: str, decided: list[bool], estimates: Estimates = ()) -> Outcome:
    """The outcome of a claim whose checks came out ``decided``, on values resting on ``estimates``:
    undecided, the reason before our values, where one had not converged or every one is a zero bar."""
    if not decided:
        return Outcome(ours, statistic, PENDING)
    if unconverged := sum(state == UNCONVERGED for _, state in estimates):
        kinds = " and ".join(f"{kind}s" for kind in sorted({kind for kind, _ in estimates}))
        reason = f"undecided ({unconverged} of {len(estimates)} {kinds} unconverged)"
    elif estimates and all(state == ZERO for _, state in estimates):
        reason = "undecided: all compared bars are zero (minima connected without a barrier)"
    else:
        return Outcome(ours, statistic, HOLDS if all(decided) else FAILS)
    return Outcome(f"{reason}; {ours}", statistic, UNDECIDED)


# ----- the kinds -------------------------------------------------------------------------------------------------

def _ranks(values: list[float]) -> list[float]:
    """Ranks from 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in order[i:j + 1]:
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (Pearson's on the ranks, ties averaged); NaN where either is constant."""
    rx, ry = _ranks(x), _ranks(y)
    mx, my = fmean(rx), fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else math.nan


def _attribute(record: dict, name: str) -> float:
    """A model's shape parameter (``depth``, ``width``, ``k``...) or its parameter count."""
    if name == "parameters":
        return record["parameters"]
    shape = models.parse(record["model"])[1]
    if name not in shape:
        raise ValueError(f"model {record['model']!r} has no {name!r} in its name (it has: {', '.join(shape) or 'none'})")
    return shape[name]


def trend(records: list[dict], spec: dict) -> Outcome:
    """The measure falls (or rises) with a model attribute: Spearman's ρ per dataset and per group of
    models sharing the ``within`` attributes; holds if every ρ has the expected sign."""
    measure, by, within = MEASURES[spec["measure"]], spec["by"], spec["within"]
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if not math.isnan(measure.of(r)):
            groups.setdefault((r["dataset"], *(_attribute(r, w) for w in within)), []).append(r)
    sign = -1 if spec["expect"] == "falls" else 1
    shown, decided, estimates = [], [], []
    for key, runs in groups.items():
        if len({_attribute(r, by) for r in runs}) < 2:
            continue
        rho = spearman([_attribute(r, by) for r in runs], [measure.of(r) for r in runs])
        decided.append(rho * sign > 0)
        estimates += [e for r in runs for e in measure.estimates(r)]
        where = ", ".join([key[0], *(f"{w} {v}" for w, v in zip(within, key[1:], strict=True))])
        value = "undefined (the values are all equal)" if math.isnan(rho) else f"{rho:+.2f}"
        shown.append(f"ρ = {value} ({where}; {len(runs)} networks)")
    per = " and ".join(["dataset", *within])
    return _outcome("; ".join(shown) or "fewer than two networks to compare",
                    f"Spearman ρ of {by} against the {measure.description}, per {per}; "
                    f"holds if every ρ is {'negative' if sign < 0 else 'positive'}", decided, estimates)


def compare(records: list[dict], spec: dict) -> Outcome:
    """Pairs of networks (or experiments) on the same data: the first's measure is lower (or higher)
    than the second's in every pair."""
    measure, lower = MEASURES[spec["measure"]], spec["expect"] == "lower"
    shown, decided, estimates = [], [], []
    for first, second in spec["pairs"]:
        a_runs, b_runs = _selected(records, first), _selected(records, second)
        for a in a_runs:
            matched = [b for b in b_runs if b["dataset"] == a["dataset"]]
            if len(matched) != 1 or len([x for x in a_runs if x["dataset"] == a["dataset"]]) != 1:
                raise ValueError(f"claim pair {first!r}, {second!r}: expected one run of each on {a['dataset']!r}, "
                                 f"found {len(matched)}; name models or experiments that pick one run each")
            (b,) = matched
            va, vb = measure.of(a), measure.of(b)
            if math.isnan(va) or math.isnan(vb):
                continue
            decided.append(va < vb if lower else va > vb)
            estimates += measure.estimates(a) + measure.estimates(b)
            shown.append(f"{a['model_label'] if first == a['model'] else experiment_label(a)} {_value(va)} vs "
                         f"{b['model_label'] if second == b['model'] else experiment_label(b)} {_value(vb)} "
                         f"({a['dataset']})")
    return _outcome("; ".join(shown) or "no pair with both values",
                    f"{measure.description} of the first of each pair against the second, on the same data; "
                    f"holds if it is {'lower' if lower else 'higher'} in every pair ({sum(decided)} of {len(decided)})",
                    decided, estimates)


def separated(records: list[dict], spec: dict) -> Outcome:
    """Every saddle of one group of runs lies below every saddle of the other, per dataset."""
    shown, decided, estimates = [], [], []
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        mine = [r for r in records if r["dataset"] == dataset]
        below = [d for s in spec["below"] for r in _selected(mine, s) for d in finite_deaths(r)]
        above = [d for s in spec["above"] for r in _selected(mine, s) for d in finite_deaths(r)]
        if not below or not above:
            continue
        decided.append(max(below) < min(above))
        estimates += [e for s in (*spec["below"], *spec["above"]) for r in _selected(mine, s) for e in bar_estimates(r)]
        names = {side: " + ".join(dict.fromkeys(experiment_label(r) for s in spec[side] for r in _selected(mine, s)))
                 for side in ("below", "above")}
        shown.append(f"highest of {names['below']}: {_value(max(below))}, lowest of {names['above']}: "
                     f"{_value(min(above))} ({dataset}; {len(below)} and {len(above)} saddles)")
    return _outcome("; ".join(shown) or "no saddles on both sides",
                    "the highest saddle (finite H0 death, train loss) of the first group against the lowest of the "
                    "second, per dataset; holds if it is lower on every dataset", decided, estimates)


def embedding(records: list[dict], spec: dict) -> Outcome:
    """Theorem 2: a minimum embedded into a larger network has a penalty no greater than in the smaller."""
    shown, decided, estimates = [], [], []
    for r in records:
        if not r.get("source_model"):
            continue
        source = next((s for s in records if s["model"] == r["source_model"] and s["dataset"] == r["dataset"]
                       and s["experiment"] == r["source_experiment"]), None)
        if source is None:
            raise ValueError(f"claim on embedding: the run of {r['source_model']!r} that {r['run']!r} embeds "
                             "is not among its runs; list the claim in the source experiment too")
        small, embedded = penalties(source), penalties(r)
        common = sorted(small.keys() & embedded.keys(), key=int)
        lower = [embedded[m] <= small[m] + spec["tolerance"] for m in common]
        decided += lower
        states = bar_states(source), bar_states(r)
        estimates += [("edge", network[m]) for m in common for network in states]
        if common:
            shown.append(f"{source['model_label']} → {r['model_label']} ({r['dataset']}): {sum(lower)} of "
                         f"{len(common)}, mean {_value(_mean([small[m] for m in common]))} → "
                         f"{_value(_mean([embedded[m] for m in common]))}")
    return _outcome("; ".join(shown) or "no minimum with a finite bar in both networks",
                    "each minimum's penalty (death − birth, nats) in the larger network against the same minimum's in "
                    f"the smaller, where both bars end; holds if none grows (beyond {spec['tolerance']:g})",
                    decided, estimates)


def levels(records: list[dict], spec: dict) -> Outcome:
    """Minima at two quality levels, with higher barriers between levels than within one: the minima
    split at the largest gap of their train losses, the levels distinct if that gap exceeds each
    level's own spread; a curve's barrier is its maximum over its higher end."""
    shown, decided, estimates = [], [], []
    for r in records:
        minima = r["barcode"]["minima"]
        loss = dict(zip(minima["names"], minima["train_loss"], strict=True))
        ordered = sorted(loss, key=loss.get)
        if len(ordered) < 3:
            continue
        gaps = [loss[b] - loss[a] for a, b in zip(ordered, ordered[1:])]
        cut = max(range(len(gaps)), key=gaps.__getitem__) + 1
        low, high = set(ordered[:cut]), set(ordered[cut:])
        spread = max(loss[ordered[cut - 1]] - loss[ordered[0]], loss[ordered[-1]] - loss[ordered[cut]])
        between = {tuple(edge.split("-")): barrier for edge, barrier in barriers(r).items()}
        across = [b for (m, n), b in between.items() if (m in low) != (n in low)]
        inside = [b for (m, n), b in between.items() if (m in low) == (n in low)]
        distinct = gaps[cut - 1] > spread
        if not inside:
            continue
        decided.append(distinct and min(across) > max(inside))
        estimates += barrier_estimates(r)
        shown.append(f"{_label(r)}: levels {_value(fmean(loss[m] for m in low))} ({len(low)}) and "
                     f"{_value(fmean(loss[m] for m in high))} ({len(high)}), gap {_value(gaps[cut - 1])} vs spread "
                     f"{_value(spread)}; barriers across {_value(min(across))}–{_value(max(across))}, within "
                     f"{_value(min(inside))}–{_value(max(inside))}")
    return _outcome("; ".join(shown) or "too few minima (3 or more, and a pair within a level, are needed)",
                    "minima split at the largest gap of their train losses (two levels if it exceeds each level's "
                    "spread); barrier: a curve's maximum over its higher end; holds if the levels are distinct and "
                    "every barrier across levels exceeds every barrier within one", decided, estimates)


def intervals(records: list[dict], spec: dict) -> Outcome:
    """Repeated estimates agree: the 95% Student-t interval of each sorted saddle over repetitions is
    narrow against the mean bar height of that rank (saddle minus the minima's mean train loss)."""
    shown, decided, estimates = [], [], []
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["dataset"], experiment_label(r)), []).append(r)
    for (dataset, variant), runs in groups.items():
        deaths = [sorted(finite_deaths(r)) for r in runs]
        ranks = min(map(len, deaths))  # the ranks every repetition has
        if len(runs) < 2 or not ranks:
            continue
        floor = _mean([loss for r in runs for loss in r["barcode"]["minima"]["train_loss"]])
        worst = 0.0
        for rank in range(ranks):
            mean, _, high = interval([d[rank] for d in deaths])
            worst = max(worst, (high - mean) / (mean - floor) if mean > floor else math.inf)
        decided.append(worst < spec["narrow"])
        estimates += [e for r in runs for e in bar_estimates(r)]
        shown.append(f"{variant}, {dataset}: widest ± {100 * worst:.3g}% of its bar height ({len(runs)} repetitions)")
    return _outcome("; ".join(shown) or "fewer than two repetitions",
                    "95% Student-t half-width of each sorted saddle over the repetitions, relative to its mean height "
                    f"above the minima's mean train loss; holds if every one is below {100 * spec['narrow']:g}%",
                    decided, estimates)


def linear_fit(records: list[dict], spec: dict) -> Outcome:
    """An analytic experiment's least-squares line fits well: R² of its ``fit`` at least ``r2``."""
    shown, decided = [], []
    for r in records:
        fit = r["fit"]
        decided.append(fit["r2"] >= spec["r2"])
        shown.append(f"R² = {fit['r2']:.5f}, slope {fit['slope']:.3g} over {fit['n']} points ({r['function']})")
    return _outcome("; ".join(shown) or "no fit",
                    f"R² of the least-squares line of escape learning rate against bar height; holds if at least "
                    f"{spec['r2']:g}", decided)


@dataclass(frozen=True)
class ClaimKind:
    check: Callable[[list[dict], dict], Outcome]
    required: tuple[str, ...] = ()
    defaults: dict = field(default_factory=dict)
    choices: dict[str, tuple] = field(default_factory=dict)  # option -> allowed values


KINDS = {
    "trend": ClaimKind(trend, ("measure", "by", "expect"), {"within": []}, {"expect": ("falls", "rises")}),
    "compare": ClaimKind(compare, ("measure", "pairs", "expect"), choices={"expect": ("lower", "higher")}),
    "separated": ClaimKind(separated, ("below", "above")),
    "embedding": ClaimKind(embedding, defaults={"tolerance": 0.0}),
    "levels": ClaimKind(levels),
    "intervals": ClaimKind(intervals, ("narrow",)),
    "linear_fit": ClaimKind(linear_fit, ("r2",)),
}
DESCRIPTIVE = ("kind", "item", "statement", "paper_value", "models")


def selectors(spec: dict) -> list[str]:
    """The models and experiments a claim's options name."""
    return [s for option in ("below", "above") for s in spec.get(option, [])] + \
        [s for pair in spec.get("pairs", []) for s in pair]


def option_problems(key: str, spec: dict) -> list[str]:
    """What is wrong with the options of a claim of a known kind, one sentence each (no records needed)."""
    kind = KINDS[spec["kind"]]
    options = {*kind.required, *kind.defaults}
    out = [f"{key}: claim kind {spec['kind']!r} needs {option!r}" for option in kind.required if option not in spec]
    out += [f"{key}.{option}: claim kind {spec['kind']!r} takes no option {option!r} (it takes: "
            f"{', '.join(sorted(options)) or 'none'})" for option in spec if option not in {*options, *DESCRIPTIVE}]
    out += [f"{key}.{option}: {spec[option]!r} is not one of {list(allowed)}"
            for option, allowed in kind.choices.items() if option in spec and spec[option] not in allowed]
    if "measure" in spec and spec["measure"] not in MEASURES:
        out.append(f"{key}.measure: unknown measure {spec['measure']!r}; choose one of {sorted(MEASURES)}")
    if any(not isinstance(pair, list) or len(pair) != 2 for pair in spec.get("pairs", [])):
        out.append(f"{key}.pairs: each pair is a list of two models or experiments")
    return out


def check(records: list[dict], spec: dict) -> Outcome:
    """The outcome of one claim on its runs' records."""
    kind = KINDS[spec["kind"]]
    return kind.check(records, {**kind.defaults, **spec})


def row(name: str, spec: dict, records: list[dict], scale: str) -> dict:
    outcome = check(records, spec) if records else Outcome("no runs", "", PENDING)
    data = dict.fromkeys(f"{r['dataset']}: {r['dataset_title']}" if "dataset" in r else "analytic" for r in records)
    return {"claim": name, "item": spec["item"], "statement": spec["statement"], "paper": spec.get("paper_value", ""),
            "ours": outcome.ours, "statistic": outcome.statistic, "verdict": outcome.verdict, "scale": scale,
            "data": "; ".join(data)}


TITLE = "The papers' findings on our results"
# The columns shown for reading, the verdict beside the finding (the CSV keeps COLUMNS' order).
SHOWN = {"item": "paper", "statement": "finding", "verdict": "verdict", "paper": "paper's value", "ours": "ours",
         "statistic": "statistic", "data": "data"}


def summary(rows: list[dict], scale: str) -> str:
    counts = {v: sum(r["verdict"] == v for r in rows) for v in (HOLDS, FAILS, UNDECIDED, PENDING)}
    return (f"{scale} scale: {counts[HOLDS]} hold, {counts[FAILS]} do not hold, {counts[UNDECIDED]} undecided "
            f"(resting on unconverged estimates, or on zero bars only), {counts[PENDING]} not computed yet. "
            "Each statistic is computed by lossbarcode.claims from the barcodes of this run.")


def render(claims: list[dict], records: Callable[[list[dict]], list[dict]], *, scale: str,
           out: str | Path) -> list[Path]:
    """Writes out.csv, out.md and out.html (the report's page), each atomically, with one row per claim;
    ``claims`` are the configured claims (``name``, the spec, ``runs``), ``records`` loads a claim's runs.
    Returns the three paths."""
    rows = [row(c["name"], c, records(c["runs"]), scale) for c in claims]
    cells = [[str(r[c]) for c in SHOWN] for r in rows]
    out = Path(out)
    paths = [out.with_suffix(".csv"), out.with_suffix(".md"), out.with_suffix(".html")]
    write_csv(paths[0], COLUMNS, rows)
    atomic_write(paths[1], lambda f: f.write(tables.markdown(TITLE, summary(rows, scale), list(SHOWN.values()),
                                                             cells).encode()))
    pages.write(paths[2], pages.table(TITLE, summary(rows, scale), list(SHOWN.values()),
                                      [[text or "—" for text in r] for r in cells]))
    return paths
