"""Run records (one dict per trained model, its barcode.json under "barcode") in display order."""

from __future__ import annotations

import math
from collections.abc import Iterable

REQUIRED = ("run", "dataset", "dataset_title", "model", "model_label", "order", "barcode")


def checked(runs: list[dict]) -> list[dict]:
    if not runs:
        raise ValueError("no runs to plot")
    for r in runs:
        if missing := [k for k in REQUIRED if k not in r]:
            raise ValueError(f"run record {r.get('run', r)!r} lacks {', '.join(missing)}")
    return runs


def experiment_label(run: dict) -> str:
    """How figures and tables name a run's experiment: its label, else its name."""
    return run.get("experiment_label") or run["experiment"]


def experiments(runs: list[dict]) -> list[str]:
    """Experiment labels in the order the runs first name them."""
    return list(dict.fromkeys(experiment_label(r) for r in runs))


def datasets(runs: list[dict]) -> dict[str, str]:
    """dataset -> title, in the order the runs first name them (the caller decides)."""
    return {r["dataset"]: r["dataset_title"] for r in runs}


def models(runs: list[dict]) -> dict[str, str]:
    """model -> label, sorted by the records' order key (depth, parameter count...)."""
    first: dict[str, dict] = {}
    for r in runs:
        first.setdefault(r["model"], r)
    return {m: r["model_label"] for m, r in sorted(first.items(), key=lambda kv: (kv[1]["order"], kv[0]))}


def limits(values: Iterable[float], pad: float = 0.06) -> tuple[float, float]:
    """Axis range around the finite values with a margin; still a range when there are none or one."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    margin = pad * (hi - lo) or 0.05 * abs(hi) or 0.05
    return lo - margin, hi + margin
