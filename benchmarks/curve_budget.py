"""Were the curve maxima still falling? The quick profile's experiments rerun with k times the budget of
their curves and triangles, on the same minima, and the claims checked at each budget.

    python benchmarks/curve_budget.py [--experiments fcn_depth li_resnets ...] [--factors 2 4]
                                      [--curve momentum=0.9 ...]

For each factor k the script writes a configuration (config/quick.yaml's experiments, the named ones and
those they read, with every curve and triangle budget times k: epochs or iterations, and the schedule
arguments counted in them, so the schedules keep their shapes), copies the minima of the quick run
(results/quick, which must exist: `make quick`) so that only curves, triangles, barcodes and claims are
computed, and runs the workflow into results/budget/xK (with ``--curve``, the curve recipes changed as
given, at 1x too: results/budget/KEYVALUE-xK). It then prints, per experiment and step
(1 -> 2, 2 -> 4, ...), how many curve maxima (H0 edges) fell or rose and their median relative change,
and each claim's verdict at every budget, and whether it is the same at 1x and 2x. A maximum that
still falls when the budget doubles was not converged; the claims decided on such maxima are about the
budget, not the landscape (the claims table calls them undecided where the curves' own records say so).
"""

from __future__ import annotations

import argparse
import copy
import csv
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from lossbarcode import claims
from lossbarcode.io import read_json
from lossbarcode.train import SCHEDULES

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "config/quick.yaml"
TOLERANCE = 1e-3  # relative change of a maximum counted as none


def _times(value, k: int):
    """A schedule argument counted in budget units, times k (knots: their moments only)."""
    if isinstance(value, list):
        return [[item[0] * k, *item[1:]] if isinstance(item, list) else item * k for item in value]
    return value * k


def scaled(recipe: dict, k: int) -> dict:
    """The recipe with k times its budget: epochs or iterations, the schedule arguments counted in
    them (``SCHEDULES[...].from_budget``) and the point chain's insertion period."""
    out = copy.deepcopy(recipe)
    for unit in ("epochs", "iterations"):
        if unit in out:
            out[unit] *= k
    counted = SCHEDULES[out.get("schedule", "constant")].from_budget
    if "schedule_args" in out:
        out["schedule_args"] = {name: _times(v, k) if name in counted else v for name, v in out["schedule_args"].items()}
    if "insert_every" in out:
        out["insert_every"] *= k
    return out


def configuration(experiments: list[str], k: int, results: Path, figures: Path, curve: dict | None = None) -> dict:
    """The quick configuration of these experiments (and those they read) with k times the curve and
    triangle budgets, after setting ``curve``'s keys in their curve recipes."""
    config = yaml.safe_load(QUICK.read_text())
    wanted = set(experiments)
    for name in experiments:  # an embedding experiment reads its source's minima
        if "embed" in config["experiments"][name]:
            wanted.add(config["experiments"][name]["embed"]["from_experiment"])
    config["experiments"] = {n: e for n, e in config["experiments"].items() if n in wanted}
    names = {*wanted, *(m for e in config["experiments"].values() for m in e["models"])}
    for experiment in config["experiments"].values():  # claims about experiments left out go too
        experiment["claims"] = {c: spec for c, spec in experiment.get("claims", {}).items()
                                if set(claims.selectors(spec)) <= names}
    for name in experiments:
        config["experiments"][name]["curve"].update(curve or {})
    for experiment in config["experiments"].values():
        for stage in ("curve", "triangle"):
            if stage in experiment:
                experiment[stage] = scaled(experiment[stage], k)
    return {**config, "results": str(results), "figures_dir": str(figures)}


def copy_minima(source: Path, target: Path, experiments: list[str]) -> None:
    for experiment in experiments:
        for minima in (source / experiment).glob("*/minima"):
            destination = target / minima.relative_to(source)
            if not destination.exists():
                shutil.copytree(minima, destination)


def run(experiments: list[str], k: int, curve: dict, tag: str) -> tuple[Path, Path]:
    """Runs the workflow at k times the budget; returns its results and figures folders."""
    results, figures = ROOT / f"results/budget/{tag}x{k}", ROOT / f"figures/budget/{tag}x{k}"
    config = configuration(experiments, k, results, figures, curve)
    copy_minima(ROOT / "results/quick", results, list(config["experiments"]))
    path = ROOT / f"results/budget/{tag}x{k}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/quick", "--configfile", str(path)],
                   cwd=ROOT, check=True)
    return results, figures


def edges(results: Path, experiment: str) -> dict[str, float]:
    return {f"{b.parent.name}/{edge}": value for b in sorted((results / experiment).glob("*/barcode.json"))
            for edge, value in read_json(b)["edges"].items()}


def verdicts(figures: Path) -> dict[str, str]:
    with open(figures / "claims.csv") as f:
        return {row["claim"]: row["verdict"] for row in csv.DictReader(f)}


def same_at_1x_and_2x(by_budget: dict[int, dict[str, str]], claim: str) -> str:
    """Whether a claim's verdict is the same at 1x and 2x the budget: "yes", "no", or "-" where either
    budget did not run or has no such claim."""
    if any(claim not in by_budget.get(k, {}) for k in (1, 2)):
        return "-"
    return "yes" if by_budget[1][claim] == by_budget[2][claim] else "no"


def claim_lines(by_budget: dict[int, dict[str, str]]) -> list[str]:
    """The table of each claim's verdict per budget (``by_budget``: factor -> claim -> verdict), under a
    header, the claims of the lowest budget in their order."""
    factors = sorted(by_budget)
    same = "same at 1x and 2x"
    lines = [f"{'claim':42s} " + " ".join(f"{f'{k}x':>14s}" for k in factors) + f" {same:>18s}"]
    for claim in by_budget[factors[0]]:
        lines.append(f"{claim:42s} " + " ".join(f"{by_budget[k].get(claim, '-'):>14s}" for k in factors)
                     + f" {same_at_1x_and_2x(by_budget, claim):>18s}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=None, help="default: those that feed a claim")
    parser.add_argument("--factors", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--curve", nargs="+", default=[], metavar="KEY=VALUE",
                        help="set these keys of the experiments' curve recipes (YAML values), e.g. momentum=0.9; "
                             "the 1x budget is then run too")
    args = parser.parse_args()
    curve = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.curve)}
    tag = "".join(f"{key}{value}-" for key, value in curve.items())
    quick = yaml.safe_load(QUICK.read_text())["experiments"]
    experiments = args.experiments or [name for name, experiment in quick.items() if experiment.get("claims")]
    if not (ROOT / "figures/quick/claims.csv").exists():
        sys.exit("results/quick and figures/quick/claims.csv are missing: run `make quick` first")
    budgets = {} if curve else {1: (ROOT / "results/quick", ROOT / "figures/quick")}
    for k in sorted({*args.factors, *([1] if curve else [])}):
        budgets[k] = run(experiments, k, curve, tag)

    factors = sorted(budgets)
    print(f"\ncurve maxima (H0 edges) as the curve and triangle budgets grow{f' (curves with {curve})' if curve else ''}; "
          "change relative to the lower budget")
    print(f"{'experiment':28s} {'step':>7s} {'edges':>5s} {'fell':>5s} {'rose':>5s} {'median change':>14s}")
    for experiment in experiments:
        for lo, hi in zip(factors, factors[1:]):
            before, after = edges(budgets[lo][0], experiment), edges(budgets[hi][0], experiment)
            changes = [(after[e] - before[e]) / abs(before[e]) for e in before if e in after and before[e]]
            if not changes:
                continue
            fell = sum(c < -TOLERANCE for c in changes)
            rose = sum(c > TOLERANCE for c in changes)
            print(f"{experiment:28s} {f'{lo}x->{hi}x':>7s} {len(changes):5d} {fell:5d} {rose:5d} "
                  f"{100 * statistics.median(changes):+13.1f}%")
    print("\nclaims by budget")
    print("\n".join(claim_lines({k: verdicts(figures) for k, (_, figures) in budgets.items()})))


if __name__ == "__main__":
    main()
