"""benchmarks/curve_budget.py's helpers: budgets scaled with their schedules, and the claims' verdicts
compared across budgets (the reruns themselves take many minutes and are not run here)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def budget():
    spec = importlib.util.spec_from_file_location("curve_budget", ROOT / "benchmarks/curve_budget.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scaled_multiplies_the_budget_and_what_is_counted_in_it(budget):
    recipe = {"epochs": 10, "schedule": "piecewise", "schedule_args": {"knots": [[0, 1.0], [5, 0.1]]},
              "insert_every": 2, "lr": 0.1}
    assert budget.scaled(recipe, 3) == {"epochs": 30, "schedule": "piecewise",
                                        "schedule_args": {"knots": [[0, 1.0], [15, 0.1]]}, "insert_every": 6,
                                        "lr": 0.1}
    assert recipe["epochs"] == 10  # the original is left alone


def test_the_verdicts_at_1x_and_2x_are_compared_per_claim(budget, tmp_path):
    (tmp_path / "claims.csv").write_text("claim,verdict\nfalls,holds\nrises,undecided\n")
    by_budget = {1: budget.verdicts(tmp_path), 2: {"falls": "holds", "rises": "does not hold"},
                 4: {"falls": "undecided"}}
    assert [budget.same_at_1x_and_2x(by_budget, c) for c in ("falls", "rises", "gone")] == ["yes", "no", "-"]
    assert budget.same_at_1x_and_2x({2: by_budget[2], 4: by_budget[4]}, "falls") == "-"
    header, falls, rises = budget.claim_lines(by_budget)
    assert header.split() == ["claim", "1x", "2x", "4x", "same", "at", "1x", "and", "2x"]
    assert falls.split() == ["falls", "holds", "holds", "undecided", "yes"]
    assert rises.split()[-1] == "no" and rises.split()[-2] == "-"
