"""Run records (one dict per trained model, its barcode.json under "barcode") in display order, and
what their barcode says of its estimates' convergence.

A value read from a record is in one of three states (``lossbarcode.barcode``): CONVERGED; UNCONVERGED,
when an estimate it rests on had not converged (or has no record of it: a barcode.json written before
estimates carried their convergence); ZERO, an H0 bar (or a curve's barrier) that converged within its
tolerance of zero, two minima connected without a barrier.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..barcode import CONVERGED, NO_RECORD, UNCONVERGED, ZERO, estimate_state

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


def _convergence(run: dict) -> dict:
    """The barcode's convergence block; empty for a barcode written before there was one."""
    return run["barcode"].get("convergence") or {}


def verdict(convergence: dict | None) -> str:
    """An estimate's verdict ("converged", "falling"...), NO_RECORD where its file carries none."""
    return convergence["verdict"] if convergence else NO_RECORD


def edge_convergence(run: dict) -> dict[str, dict | None]:
    """curve name -> its convergence (None: no record), for every edge of the barcode."""
    given = _convergence(run).get("edges", {})
    return {name: given.get(name) for name in run["barcode"].get("edges", {})}


def triangle_convergence(run: dict) -> dict[str, dict | None]:
    """triangle name -> its convergence (None: no record), for every triangle of the barcode."""
    given = _convergence(run).get("triangles", {})
    return {name: given.get(name) for name in run["barcode"].get("triangles", {})}


def h0_states(run: dict) -> list[str]:
    """The state of each minimum's H0 bar, in the minima's order: its ending curve's (ZERO when it is
    within that curve's tolerance of zero); a bar that never ends rests on no estimate: CONVERGED."""
    if "h0" in (block := _convergence(run)):
        return [ZERO if bar["zero"] else CONVERGED if bar["converged"] else UNCONVERGED for bar in block["h0"]]
    return [CONVERGED if math.isinf(d) else UNCONVERGED for d in run["barcode"]["h0_graph_deaths"]]


def h0_verdicts(run: dict) -> list[str | None]:
    """The verdict of the curve that ends each minimum's H0 bar, in the minima's order; None where none does."""
    if "h0" in (block := _convergence(run)):
        return [None if bar["edge"] is None else verdict(block["edges"].get(bar["edge"])) for bar in block["h0"]]
    return [None if math.isinf(d) else NO_RECORD for d in run["barcode"]["h0_graph_deaths"]]


def h1_states(run: dict) -> list[str]:
    """The state of each H1 bar, in the order of the barcode's "h1": CONVERGED iff its edge and its
    triangle (if any) are."""
    if "h1" in (block := _convergence(run)):
        return [CONVERGED if bar["converged"] else UNCONVERGED for bar in block["h1"]]
    return [UNCONVERGED] * len(run["barcode"].get("h1", []))


def h1_estimates(run: dict) -> list[tuple[str, str]]:
    """("edge" or "triangle", its state) for each estimate behind the H1 bars: the edge that closes each
    cycle and the triangle that fills it (none for a cycle never filled)."""
    if "h1" in (block := _convergence(run)):
        return [(kind, estimate_state(block[f"{kind}s"].get(bar[kind])))
                for bar in block["h1"] for kind in ("edge", "triangle") if bar[kind] is not None]
    return [(kind, UNCONVERGED) for _, death in run["barcode"].get("h1", [])
            for kind in ("edge", "triangle") if kind == "edge" or math.isfinite(death)]


def combined(states: Iterable[str]) -> str:
    """The state of a value made of several (a mean, a score): UNCONVERGED if any part is, ZERO if every
    part is, else CONVERGED."""
    states = list(states)
    if UNCONVERGED in states:
        return UNCONVERGED
    return ZERO if states and all(s == ZERO for s in states) else CONVERGED
