"""Tables from run records, as the figures are drawn from them (``lossbarcode.figures``): one dict per
trained model, its barcode.json under "barcode", with the labels the figure jobs add (dataset title,
model label, the experiment's label).

A kind is one ``KINDS`` entry: the columns it writes and ``rows(records)``. ``render`` writes the rows
three times, atomically: ``out.csv`` (every number at full precision, for programs), ``out.md`` (a
Markdown table under the title, the scale and the data, numbers rounded for reading) and ``out.html``
(the same for the workflow's report). Imports no torch and no matplotlib.

A value resting on an estimate that had not converged (``lossbarcode.figures.records``) carries a "†"
in Markdown and HTML, a bar converged within its tolerance of zero a "‡", each explained under the
table; the CSV says so in a column of its own (a state: converged, not converged or no barrier).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import pages
from .figures.records import UNCONVERGED, ZERO, combined, experiment_label, h0_states, h0_verdicts, h1_estimates
from .io import atomic_write, write_csv

METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")
MARKS = {UNCONVERGED: "†", ZERO: "‡"}
FOOTNOTES = {
    UNCONVERGED: "† not converged: a curve or triangle behind this value had not converged within its budget (or its "
                 "file has no record of it); an upper bound that may still fall, it decides no claim.",
    ZERO: "‡ no barrier: the bar converged within its tolerance of zero; the two minima are connected without a "
          "barrier.",
}


@dataclass(frozen=True)
class TableKind:
    """``columns`` in order, each shown under its Markdown header in ``headers`` (``{held_out}``
    becomes the held-out split's name, ``{unit}`` what one loss term is about) but for a ``_std``
    column (shown with its mean) and the CSV's own ``csv_only`` ones; ``marks`` maps a value column to
    the column of its state, which marks it."""

    columns: tuple[str, ...]
    rows: Callable[[list[dict]], list[dict]]
    headers: dict[str, str]
    marks: dict[str, str] = field(default_factory=dict)
    csv_only: tuple[str, ...] = ()


def _minima(record: dict) -> list[dict]:
    """The record's minima, one dict each, with the death of its H0 bar (inf: it never dies)."""
    minima = record["barcode"]["minima"]
    deaths = record["barcode"].get("h0_graph_deaths") or [math.nan] * len(minima["names"])
    return [{"minimum": name, **{m: minima[m][i] for m in METRICS}, "death": deaths[i]}
            for i, name in enumerate(minima["names"])]


def index1_rows(records: list[dict]) -> list[dict]:
    """One row per run: W_inf of its index-1 barcode (paper 004's distance to the empty diagram, both
    conventions) and its state (that of the edges and triangles of its H1 bars together), how many
    triangles it rests on, and the paper's value beside it where the table's config gives one
    (``paper``: model -> value; the difference is ours minus the paper's)."""
    rows = []
    for r in records:
        ours, paper = r["barcode"]["w_inf"]["euclidean"], r.get("paper")
        rows.append({"experiment": experiment_label(r), "dataset": r["dataset_title"], "model": r["model_label"],
                     "triangles": len(r["barcode"].get("triangles", {})), "w_inf": ours,
                     "w_inf_linf": r["barcode"]["w_inf"]["linf"], "paper": math.nan if paper is None else paper,
                     "difference": math.nan if paper is None else ours - paper,
                     "w_inf_state": combined(state for _, state in h1_estimates(r))})
    return rows


def minima_rows(records: list[dict]) -> list[dict]:
    """One row per minimum: its losses and accuracies, where its bar dies, and that death's state and
    the verdict of the curve it is the maximum of (None for a bar that never dies)."""
    rows = []
    for r in records:
        minima = [{**m, "death_state": state, "death_verdict": verdict}
                  for m, state, verdict in zip(_minima(r), h0_states(r), h0_verdicts(r), strict=True)]
        rows += [{"experiment": experiment_label(r), "dataset": r["dataset_title"], "model": r["model_label"], **m}
                 for m in sorted(minima, key=lambda m: int(m["minimum"]))]
    return rows


def summary_rows(records: list[dict]) -> list[dict]:
    """One row per run (experiment, dataset, model): the mean and sample standard deviation of each
    measure over its minima, and how many there are."""
    rows = []
    for r in records:
        minima = _minima(r)
        row = {"experiment": experiment_label(r), "dataset": r["dataset_title"], "model": r["model_label"], "minima": len(minima)}
        for metric in METRICS:
            values = [m[metric] for m in minima if m[metric] is not None]
            row[f"{metric}_mean"] = statistics.fmean(values) if values else math.nan
            row[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else math.nan
        rows.append(row)
    return rows


_NAMES = {"experiment": "experiment", "dataset": "data", "model": "model", "minimum": "minimum",
          "minima": "minima", "death": "bar's death (train loss)"}
_MEASURES = {"train_loss": "train loss (nats/{unit})", "train_accuracy": "train accuracy",
             "test_loss": "{held_out} loss (nats/{unit})", "test_accuracy": "{held_out} accuracy"}

KINDS: dict[str, TableKind] = {
    "minima": TableKind(("experiment", "dataset", "model", "minimum", *METRICS, "death", "death_state", "death_verdict"),
                        minima_rows, {**_NAMES, **_MEASURES}, marks={"death": "death_state"},
                        csv_only=("death_state", "death_verdict")),
    "index1": TableKind(
        ("experiment", "dataset", "model", "triangles", "w_inf", "w_inf_linf", "paper", "difference", "w_inf_state"),
        index1_rows,
        {**_NAMES, "triangles": "triangles", "w_inf": "W∞, ours (nats, Euclidean)", "w_inf_linf": "W∞, ours (L∞)",
         "paper": "W∞, paper", "difference": "ours − paper"},
        marks={"w_inf": "w_inf_state", "w_inf_linf": "w_inf_state", "difference": "w_inf_state"},
        csv_only=("w_inf_state",),
    ),
    "minima_summary": TableKind(
        ("experiment", "dataset", "model", "minima", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std"))),
        summary_rows,
        {**_NAMES, **{f"{m}_mean": header for m, header in _MEASURES.items()}},
    ),
}


def _number(value) -> str:
    if isinstance(value, float):
        return "∞" if math.isinf(value) else "—" if math.isnan(value) else f"{value:.4g}"
    return "—" if value is None else str(value)


def readable(kind: str, rows: list[dict], *, unit: str, held_out: str) -> tuple[list[str], list[list[str]]]:
    """The headers and the cells of a kind's rows, numbers rounded for reading; a kind's mean columns
    carry their standard deviation as ``mean ± std``, a marked value its state's mark."""
    spec = KINDS[kind]
    columns = [c for c in spec.columns if not c.endswith("_std") and c not in spec.csv_only]
    headers = [spec.headers[c].format(unit=unit, held_out=held_out) for c in columns]

    def cell(row: dict, column: str) -> str:
        text = _number(row[column])
        spread = row.get(column.removesuffix("_mean") + "_std") if column.endswith("_mean") else None
        text = f"{text} ± {_number(spread)}" if spread is not None and not math.isnan(spread) else text
        return text + MARKS.get(row[spec.marks[column]], "") if column in spec.marks else text

    return headers, [[cell(row, c) for c in columns] for row in rows]


def footnotes(kind: str, rows: list[dict]) -> list[str]:
    """The explanation of each mark the kind's rows carry."""
    states = {row[column] for row in rows for column in KINDS[kind].marks.values()}
    return [text for state, text in FOOTNOTES.items() if state in states]


def markdown(title: str, note: str, headers: list[str], cells: list[list[str]], notes: list[str] = ()) -> str:
    """A Markdown table under a heading and a line saying what it is made of (a ``|`` in a cell escaped,
    an empty cell shown as a dash), ``notes`` under it."""
    def row(texts):
        return "| " + " | ".join(t.replace("|", "\\|") or "—" for t in texts) + " |"

    lines = [f"# {title}", "", note, "", row(headers), "|" + "|".join("---" for _ in headers) + "|"]
    lines += [row(texts) for texts in cells]
    lines += [line for text in notes for line in ("", text)]
    return "\n".join(lines) + "\n"


def render(kind: str, records: list[dict], *, scale: str, title: str, out: str | Path,
           paper: dict[str, float] | None = None) -> list[Path]:
    """Writes out.csv (full precision), out.md and out.html (for reading), each atomically; returns the
    three paths. ``out``'s own suffix, if any, is replaced. ``paper``: the paper's values by model name, for the
    kinds that put them beside ours."""
    if kind not in KINDS:
        raise ValueError(f"unknown table kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not records:
        raise ValueError("no runs to tabulate")
    spec = KINDS[kind]
    rows = spec.rows([{**r, "paper": (paper or {}).get(r["model"])} for r in records])
    out = Path(out)
    units = {u for r in records for u in r["barcode"]["minima"].get("unit") or [] if u}
    headers, cells = readable(kind, rows, unit="/".join(sorted(units)) or "sample",
                              held_out="/".join(dict.fromkeys(r.get("held_out", "test") for r in records)))
    note = f"{scale} scale; data: {', '.join(dict.fromkeys(r['dataset_title'] for r in records))}."
    notes = footnotes(kind, rows)
    paths = [out.with_suffix(".csv"), out.with_suffix(".md"), out.with_suffix(".html")]
    write_csv(paths[0], spec.columns, rows)
    atomic_write(paths[1], lambda f: f.write(markdown(title, note, headers, cells, notes).encode()))
    pages.write(paths[2], pages.table(title, note, headers, cells, notes))
    return paths
