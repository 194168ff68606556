"""Robustness of the barcode estimate (paper 002 §8, Fig 11): one architecture's barcode estimated R times
(records with "repetition" 0..R-1) on each dataset, in variants that are experiments (e.g. everything
refitted per repetition, or the minima kept and only the curves refitted). Per dataset a panel of the
finite H0 deaths by rank (rank 1 = the lowest saddle), each repetition faint and their mean with a 95%
Student-t confidence interval; a last panel of the TO-scores' means and intervals. A value whose curves
had not converged is faded, and so is a mean made of one (a TO-score's state: ``to_score.score_state``)."""

from __future__ import annotations

import math
from statistics import fmean, stdev
from typing import TYPE_CHECKING

from .records import ZERO, checked, combined, datasets, experiment_label, experiments, h0_states, limits
from .style import (
    ZERO_MARK, convergence_handles, group_colours, headline, legend_below, opacity, panels, point_style, styled,
)
from .to_score import score_state

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLUMNS = ("dataset", "experiment", "quantity", "rank", "repetition", "x", "repetitions", "mean", "ci_low", "ci_high",
           "state")
LEVEL = 0.95
CONVENTION = "euclidean"
SPREAD = 0.5  # share of a rank's (or a dataset's) unit slot that the variants spread over
BESIDE = -0.05  # where a variant's single repetitions sit, next to their mean
DEATHS = "saddle: finite H0 death (train loss, nats)"
SCORE = "TO-score (bottleneck distance, Euclidean, nats)"


def _two_sided(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer df > 0, by the exact finite series (Abramowitz and
    Stegun 26.7.3-4); scipy is only a test dependency."""
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2:
        term, total = math.cos(theta), 0.0
        for k in range(1, (df - 1) // 2 + 1):  # cos + 2/3 cos^3 + (2*4)/(3*5) cos^5 ... up to cos^(df-2)
            total += term
            term *= c2 * 2 * k / (2 * k + 1)
        return 2 / math.pi * (theta + s * total)
    term, total = 1.0, 0.0
    for k in range(1, df // 2 + 1):  # 1 + 1/2 cos^2 + (1*3)/(2*4) cos^4 ... up to cos^(df-2)
        total += term
        term *= c2 * (2 * k - 1) / (2 * k)
    return s * total


def t_quantile(df: int, level: float = LEVEL) -> float:
    """The t with P(|T| <= t) = level: the half-width of a two-sided interval in standard errors."""
    hi = 1.0
    while _two_sided(hi, df) < level:
        hi *= 2
    lo = 0.0
    for _ in range(200):  # bisection; 200 halvings reach float precision
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if _two_sided(mid, df) < level else (lo, mid)
    return (lo + hi) / 2


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and the 95% Student-t confidence interval over repetitions; NaN bounds with one value, and an
    infinite value (minima never connected) makes the mean infinite and the bounds NaN."""
    mean = fmean(values)
    if len(values) < 2 or not math.isfinite(mean):
        return mean, math.nan, math.nan
    half = t_quantile(len(values) - 1) * stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def _repetitions(runs: list[dict]) -> list[dict]:
    """One group's runs, one per repetition, in repetition order (a record without one counts as 0)."""
    ordered = sorted(runs, key=lambda r: r.get("repetition", 0))
    seen = [r.get("repetition", 0) for r in ordered]
    if len(set(seen)) != len(seen):
        r = ordered[0]
        raise ValueError(f"dataset {r['dataset']!r}, experiment {experiment_label(r)!r}: repetitions {seen} repeat; "
                         "one record per repetition expected")
    return ordered


def _offset(i: int, n: int) -> float:
    return SPREAD * ((i + 0.5) / n - 0.5)


def rows(runs: list[dict]) -> list[dict]:
    """Per dataset and variant: one row per repetition's finite death (sorted ascending: rank 1 is the
    lowest saddle; the infinite death is dropped) and one row per rank with the mean and the 95% interval
    over the repetitions that have that rank ("repetition" empty, "repetitions" their number: a
    repetition with fewer minima has fewer ranks); then the same for the TO-score ("rank" empty). A
    single repetition's row has repetitions 1, its value as mean and NaN bounds. x is where it is drawn:
    the rank (deaths) or the dataset's place (TO-scores), plus the variant's offset (single repetitions
    a little to the left of their mean). state: a death's bar's, a mean's from its values together."""
    names = experiments(runs)  # the variants
    out = []
    for slot, dataset in enumerate(datasets(runs)):
        for i, variant in enumerate(names):
            group = _repetitions([r for r in runs if r["dataset"] == dataset and experiment_label(r) == variant])
            if not group:
                continue
            base = dict(dataset=dataset, experiment=variant)
            # (death, state) pairs, by death
            deaths = {r.get("repetition", 0): sorted((d, state) for d, state in zip(
                r["barcode"]["h0_graph_deaths"], h0_states(r), strict=True) if math.isfinite(d)) for r in group}
            for repetition, values in deaths.items():
                for rank, (death, state) in enumerate(values, 1):
                    out.append(dict(base, quantity="death", rank=rank, repetition=repetition,
                                    x=rank + _offset(i, len(names)) + BESIDE, repetitions=1, mean=death,
                                    ci_low=math.nan, ci_high=math.nan, state=state))
            for rank in range(1, max(map(len, deaths.values())) + 1):
                values = [v[rank - 1] for v in deaths.values() if len(v) >= rank]
                mean, low, high = interval([death for death, _ in values])
                out.append(dict(base, quantity="death", rank=rank, repetition=None, x=rank + _offset(i, len(names)),
                                repetitions=len(values), mean=mean, ci_low=low, ci_high=high,
                                state=combined(state for _, state in values)))
            scores = {r.get("repetition", 0): (r["barcode"]["to_score"][CONVENTION], score_state(r)) for r in group}
            x = slot + _offset(i, len(names))
            for repetition, (score, state) in scores.items():
                out.append(dict(base, quantity="to_score", rank=None, repetition=repetition, x=x + BESIDE,
                                repetitions=1, mean=score, ci_low=math.nan, ci_high=math.nan, state=state))
            mean, low, high = interval([score for score, _ in scores.values()])
            out.append(dict(base, quantity="to_score", rank=None, repetition=None, x=x, repetitions=len(scores),
                            mean=mean, ci_low=low, ci_high=high, state=combined(state for _, state in scores.values())))
    return out


def _draw(ax, points: list[dict], colour, marker: str, top: float, *, full: int) -> None:
    """Faint dots for the repetitions, a marker with error bars for the mean (hollow where fewer than
    ``full`` repetitions had the rank), a triangle on the top edge for an infinite value; each fainter
    still where it has not converged."""
    singles = [p for p in points if p["repetition"] is not None]
    summary = [p for p in points if p["repetition"] is None]
    for p in (p for p in singles if math.isfinite(p["mean"])):
        ax.scatter(p["x"], p["mean"], color=colour, zorder=2, **{"s": 14, "linewidths": 0, **point_style(p["state"], "o", 0.4)})
    for p in summary:
        alpha = opacity(p["state"])
        if not math.isfinite(p["mean"]):
            ax.scatter(p["x"], top, marker="^", s=60, color=colour, clip_on=False, zorder=4, alpha=alpha)
            ax.annotate("∞", (p["x"], top), xytext=(6, -4), textcoords="offset points", va="top", color=colour)
            continue
        err = [[p["mean"] - p["ci_low"]], [p["ci_high"] - p["mean"]]] if math.isfinite(p["ci_low"]) else None
        look = ZERO_MARK if p["state"] == ZERO else dict(
            marker=marker, ms=5, markerfacecolor=colour if p["repetitions"] == full else "white")
        ax.errorbar(p["x"], p["mean"], yerr=err, color=colour, lw=1.3, capsize=3, zorder=3, alpha=alpha, **look)


@styled
def figure(runs: list[dict], *, scale: str, title: str) -> Figure:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    runs = checked(runs)
    table = rows(runs)
    names = experiments(runs)  # the variants
    colours = group_colours(names)
    markers = dict(zip(names, "osD^vPX*" * len(names)))
    fig, axes = panels(len(datasets(runs)) + 1, height=4.8)

    def spread(rows_: list[dict]) -> list[float]:
        return [v for p in rows_ for v in (p["mean"], p["ci_low"], p["ci_high"])]

    hollow = False
    for ax, (dataset, dataset_title) in zip(axes, datasets(runs).items()):
        mine = [p for p in table if p["dataset"] == dataset and p["quantity"] == "death"]
        lo, top = limits(spread(mine), pad=0.1)
        for variant in names:
            points = [p for p in mine if p["experiment"] == variant]
            full = max((p["repetitions"] for p in points), default=0)
            hollow |= any(p["repetitions"] < full for p in points if p["repetition"] is None)
            _draw(ax, points, colours[variant], markers[variant], top, full=full)
        if not mine:
            ax.text(0.5, 0.5, "no finite deaths:\nno minimum ever merges", transform=ax.transAxes, ha="center",
                    va="center", color="0.3")
        ax.set_ylim(lo, top)
        ranks = max((p["rank"] for p in mine), default=1)
        ax.set_xlim(0.4, ranks + 0.6)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="x", visible=False)
        ax.set(title=dataset_title, ylabel=DEATHS, xlabel="rank of the death (1 = lowest saddle)")

    ax = axes[-1]
    scores = [p for p in table if p["quantity"] == "to_score"]
    top = limits([0.0] + spread(scores), pad=0.08)[1]
    for variant in names:
        points = [p for p in scores if p["experiment"] == variant]
        _draw(ax, points, colours[variant], markers[variant], top, full=max(p["repetitions"] for p in points))
    ax.set_ylim(-0.03 * top, top)
    ax.set_xticks(range(len(datasets(runs))), list(datasets(runs).values()))
    ax.set_xlim(-0.6, len(datasets(runs)) - 0.4)
    ax.grid(axis="x", visible=False)
    ax.set(title="TO-score", ylabel=SCORE, xlabel="dataset")

    counts = sorted({p["repetitions"] for p in scores if p["repetition"] is None})
    summary = f"mean ± {LEVEL:.0%} CI (Student t) over {'/'.join(map(str, counts))} repetitions"
    if 1 in counts:
        summary = "a single repetition: its value, no CI" if counts == [1] else f"{summary}; from one: no CI"
    handles = [Line2D([], [], color=colours[v], marker=markers[v], ms=5, lw=1.3, label=v) for v in names]
    handles += [
        Line2D([], [], color="0.35", marker="o", ms=5, lw=1.3, label=summary),
        Line2D([], [], color="0.35", marker="o", ms=4, ls="none", alpha=0.4, label="one repetition"),
    ]
    if hollow:
        handles.append(Line2D([], [], color="0.35", marker="o", ms=5, ls="none", markerfacecolor="white",
                              label="hollow: rank missing from some repetitions"))
    handles += convergence_handles([p["state"] for p in table], marker="o", ms=5, lw=1.3)
    legend_below(fig, handles, ncols=3 if len(handles) > 6 else 2)
    headline(fig, title, scale, datasets(runs).values())
    return fig
