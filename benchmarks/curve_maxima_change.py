"""How the curve maxima (the H0 edges) and the H1 bars of two workflow runs differ, run by run.

    python benchmarks/curve_maxima_change.py BEFORE_RESULTS AFTER_RESULTS [--experiments fcn_depth ...]

Reads every ``barcode.json`` under both results folders (e.g. the quick profile at two commits)
and prints one row per experiment: how many curve maxima rose, fell or stayed (within 1e-6 of the
loss), the largest and median rise, and the same for the H1 bars' births and deaths. A rise means
the new estimate found loss the old one missed on its path (an upper bound that was not one).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lossbarcode.io import read_json

TOLERANCE = 1e-6


def paired(before: Path, after: Path, experiments: list[str] | None):
    """``{experiment: (edges before, edges after, H1 before, H1 after)}`` over runs found in both."""
    table: dict[str, list[list[float]]] = {}
    for old in sorted(before.glob("*/*/barcode.json")):
        experiment = old.parts[-3]
        new = after / old.relative_to(before)
        if (experiments and experiment not in experiments) or not new.exists():
            continue
        a, b = read_json(old), read_json(new)
        rows = table.setdefault(experiment, [[], [], [], []])
        shared = sorted(set(a["edges"]) & set(b["edges"]))
        rows[0] += [a["edges"][k] for k in shared]
        rows[1] += [b["edges"][k] for k in shared]
        if len(a["triangle_lifespans"]) == len(b["triangle_lifespans"]):
            rows[2] += [v for bar in a["triangle_lifespans"] for v in bar]
            rows[3] += [v for bar in b["triangle_lifespans"] for v in bar]
    return table


def describe(old: list[float], new: list[float]) -> str:
    if not old:
        return "-"
    change = np.asarray(new) - np.asarray(old)
    rose, fell = change > TOLERANCE, change < -TOLERANCE
    text = f"{len(change)}: {rose.sum()} rose, {fell.sum()} fell"
    if rose.any():
        text += f"; rise max {change[rose].max():.4g}, median {np.median(change[rose]):.4g}"
    if fell.any():
        text += f"; fall max {-change[fell].min():.4g}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--experiments", nargs="*")
    args = parser.parse_args()
    print("| experiment | curve maxima (loss) | H1 births and deaths (loss) |")
    print("|---|---|---|")
    for experiment, (edges_old, edges_new, h1_old, h1_new) in paired(args.before, args.after, args.experiments).items():
        print(f"| {experiment} | {describe(edges_old, edges_new)} | {describe(h1_old, h1_new)} |")


if __name__ == "__main__":
    main()
