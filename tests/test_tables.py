"""Tables: every kind writes a CSV at full precision, and a Markdown table and an HTML page naming scale, data
and units, from run records as the workflow writes them."""

import csv
import math
import statistics

import pytest

from lossbarcode import barcode as bc
from lossbarcode.barcode import UNCONVERGED, ZERO
from lossbarcode.tables import FOOTNOTES, KINDS, render


def converged(verdict: str = "converged", tolerance: float = 0.01) -> dict:
    return {"verdict": verdict, "converged": verdict == "converged", "tolerance": tolerance}


def record(experiment: str, losses: list[float], *, accuracy: float = 0.9, unit: str = "sample",
           held_out: str = "test", label: str | None = None, estimates: dict | None = None) -> dict:
    """A run's record whose curves all converged but for ``estimates`` ({edge: its convergence or None})."""
    names = [str(i) for i in range(len(losses))]
    edges = {(i, j): max(losses[i], losses[j]) + 0.1 * (i + j + 1) for i in range(len(losses))
             for j in range(i + 1, len(losses))}
    barcode = bc.summary(losses, edges, {})
    barcode["convergence"] = bc.convergence_summary(losses, edges, {}, {**dict.fromkeys(edges, converged()),
                                                                        **(estimates or {})})
    barcode["minima"] = {
        "names": names, "train_loss": losses, "train_accuracy": [accuracy] * len(losses),
        "test_loss": [2 * x for x in losses], "test_accuracy": [accuracy - 0.1 * i for i in range(len(losses))],
        "parameters": [195_210] * len(losses), "unit": [unit] * len(losses),
    }
    return {"experiment": experiment, "experiment_label": label or experiment, "run": f"svhn-{experiment}",
            "dataset": "svhn", "dataset_title": "SVHN", "held_out": held_out, "model": "resnet9",
            "model_label": "ResNet-9 (195.2K)", "barcode": barcode}


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_minima_table_has_a_row_per_minimum_with_its_bar(tmp_path):
    run = record("type1", [0.3, 0.1, 0.2])
    csv_path, md_path, html_path = render("minima", [run], scale="quick", title="Minima", out=tmp_path / "t")
    rows = read(csv_path)
    assert [r["minimum"] for r in rows] == ["0", "1", "2"]
    assert [float(r["train_loss"]) for r in rows] == [0.3, 0.1, 0.2]
    deaths = dict(zip(run["barcode"]["minima"]["names"], run["barcode"]["h0_graph_deaths"]))
    assert [float(r["death"]) for r in rows] == [deaths[r["minimum"]] for r in rows]
    assert math.isinf(float(rows[1]["death"]))  # the global minimum never dies
    text = md_path.read_text()
    assert text.startswith("# Minima\n") and "quick scale; data: SVHN." in text
    assert "| type1 | SVHN | ResNet-9 (195.2K) | 1 | 0.1 |" in text and "∞" in text
    assert "train loss (nats/sample)" in text and "test accuracy" in text
    page = html_path.read_text()
    assert "<h1>Minima</h1>" in page and "quick scale; data: SVHN." in page
    assert "<th>train loss (nats/sample)</th>" in page
    assert ('<tr><td class="short">type1</td><td class="short">SVHN</td><td class="short">ResNet-9 (195.2K)</td>'
            '<td class="number">1</td><td class="number">0.1</td>') in page


def test_summary_is_mean_and_sample_std_per_run(tmp_path):
    runs = [record("type1", [0.3, 0.1, 0.2], label="type 1"), record("type2", [0.05, 0.07], accuracy=0.95)]
    csv_path, md_path, _ = render("minima_summary", runs, scale="paper", title="Table 7", out=tmp_path / "t7")
    first, second = read(csv_path)
    assert first["experiment"] == "type 1" and first["minima"] == "3"
    assert float(first["train_loss_mean"]) == pytest.approx(0.2)
    assert float(first["train_loss_std"]) == pytest.approx(statistics.stdev([0.3, 0.1, 0.2]))
    assert float(second["test_accuracy_mean"]) == pytest.approx(0.9)
    assert f"{0.2:.4g} ± {statistics.stdev([0.3, 0.1, 0.2]):.4g}" in md_path.read_text()


def test_text_tables_name_the_validation_split_and_the_token(tmp_path):
    run = record("gpt", [2.5, 2.6], unit="token", held_out="validation")
    _, md_path, _ = render("minima", [run], scale="quick", title="GPT minima", out=tmp_path / "g")
    assert "validation loss (nats/token)" in md_path.read_text()


def test_a_single_minimum_has_no_spread(tmp_path):
    csv_path, md_path, _ = render("minima_summary", [record("one", [0.4])], scale="quick", title="T", out=tmp_path / "o")
    assert read(csv_path)[0]["train_loss_std"] == "nan"
    assert "| 0.4 |" in md_path.read_text()


def test_unknown_kind_and_no_runs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown table kind .pie.; expected one of minima, index1, minima_summary"):
        render("pie", [record("a", [0.1])], scale="quick", title="T", out=tmp_path / "x")
    with pytest.raises(ValueError, match="no runs"):
        render("minima", [], scale="quick", title="T", out=tmp_path / "x")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_column_has_a_markdown_header_or_is_a_spread_or_the_csvs_own(kind):
    spec = KINDS[kind]
    assert all(c in spec.headers or c.endswith("_std") or c in spec.csv_only for c in spec.columns)
    assert set(spec.marks) <= set(spec.headers) and set(spec.marks.values()) <= set(spec.csv_only)


def test_unconverged_deaths_and_zero_bars_are_marked(tmp_path):
    """Minimum 1's bar ends on curve 0-1 (falling) at 0.4, 2's on 0-2 at 0.6 (converged, its length 0.3
    within the tolerance 0.5: no barrier), 3's on 0-3 at 0.8, which has no record."""
    run = record("type1", [0.1, 0.2, 0.3, 0.4], estimates={(0, 1): converged("falling"), (0, 2): converged(tolerance=0.5),
                                                           (0, 3): None})
    csv_path, md_path, html_path = render("minima", [run], scale="quick", title="Minima", out=tmp_path / "t")
    rows = read(csv_path)
    assert [(r["death_state"], r["death_verdict"]) for r in rows] == [
        ("converged", ""), ("not converged", "falling"), ("no barrier", "converged"), ("not converged", "no record")]
    text = md_path.read_text()
    assert "| ∞ |" in text and "| 0.4† |" in text and "| 0.6‡ |" in text and "| 0.8† |" in text
    assert text.rstrip().endswith(FOOTNOTES[ZERO]) and f"\n\n{FOOTNOTES[UNCONVERGED]}\n\n" in text
    page = html_path.read_text()
    assert '<td class="number">0.4†</td>' in page and f'</table>\n<p class="note">{FOOTNOTES[UNCONVERGED]}</p>' in page
    # all converged: nothing marked, no notes
    _, md_path, _ = render("minima", [record("type1", [0.1, 0.2])], scale="quick", title="Minima", out=tmp_path / "c")
    assert "†" not in md_path.read_text() and "‡" not in md_path.read_text()


def test_w_inf_is_marked_when_an_edge_or_triangle_of_its_bars_did_not_converge(tmp_path):
    # three minima of equal loss: one cycle, closed by edge 1-2 and never filled
    runs = [record("a", [0.1, 0.1, 0.1]), record("b", [0.1, 0.1, 0.1], estimates={(1, 2): converged("too short")})]
    csv_path, md_path, _ = render("index1", runs, scale="quick", title="T", out=tmp_path / "t")
    assert [r["w_inf_state"] for r in read(csv_path)] == ["converged", "not converged"]
    lines = md_path.read_text().splitlines()
    assert lines[6].count("†") == 0 and lines[7].count("∞†") == 2 and lines[-1] == FOOTNOTES[UNCONVERGED]


def test_index1_table_puts_the_papers_value_beside_ours(tmp_path):
    runs = [record("shortcut", [0.1, 0.2, 0.3]), record("no_shortcut", [0.1, 0.25, 0.3])]
    runs[0]["model"], runs[1]["model"] = "resnet-20", "resnet-ns-20"
    for run, w in zip(runs, (0.07, 0.12)):
        run["barcode"]["w_inf"] = {"euclidean": w, "linf": w / 2 ** 0.5}
        run["barcode"]["triangles"] = {"0-1-2": {}}
    csv_path, md_path, _ = render("index1", runs, scale="quick", title="Table 1a", out=tmp_path / "t1a",
                               paper={"resnet-20": 0.083})
    first, second = read(csv_path)
    assert float(first["w_inf"]) == 0.07 and float(first["paper"]) == 0.083
    assert float(first["difference"]) == pytest.approx(0.07 - 0.083) and first["triangles"] == "1"
    assert second["paper"] == "nan" and second["difference"] == "nan"
    assert "| W∞, ours (nats, Euclidean) |" in md_path.read_text() and "| 0.083 | -0.013 |" in md_path.read_text()
