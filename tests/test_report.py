"""The workflow's report (``snakemake --report``): a caption for every figure and table kind, captions that
render for every figure and table the configurations make, and the HTML pages it shows. The report
itself is rendered from a real run at the end of the quick profile's end-to-end test
(tests/test_workflow.py)."""

import csv
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from docutils.core import publish_parts
from jinja2 import Environment
from snakemake.iocontainers import Params, Wildcards

from lossbarcode import figures, pages, tables

ROOT = Path(__file__).resolve().parents[1]
CAPTIONS = ROOT / "report/captions"
KINDS = {"figures": sorted(figures.KINDS), "tables": sorted(tables.KINDS)}


def html(rst: str) -> str:
    """reStructuredText as the report renders it; any warning of docutils fails."""
    return publish_parts(rst, writer="html", settings_overrides={"halt_level": 2, "report_level": 5})["body"]


@pytest.mark.parametrize("section", sorted(KINDS))
def test_every_kind_has_its_own_caption_and_every_caption_a_kind(section):
    assert sorted(p.stem for p in (CAPTIONS / section).glob("*.rst")) == KINDS[section]


@pytest.mark.parametrize("section,kind", [(s, k) for s, kinds in KINDS.items() for k in kinds])
def test_a_kinds_caption_says_what_is_shown_and_what_the_paper_found(section, kind):
    text = (CAPTIONS / section / f"{kind}.rst").read_text()
    # Included into the rule's caption after Snakemake's Jinja pass: a template tag here would show raw.
    assert "{{" not in text and "{%" not in text
    body = html(text)
    assert "What is plotted." in body if section == "figures" else "What is tabulated." in body
    assert "The paper." in body


def configurations():
    toy = yaml.safe_load((ROOT / "config/toy.yaml").read_text())
    for name in ("config.yaml", "quick.yaml", "test.yaml"):
        yield {**yaml.safe_load((ROOT / "config" / name).read_text()), **toy}


def outputs(config: dict, section: str):
    """(name, kind, title) of every figure or table of a configuration."""
    found = {}
    for entry in [*config["experiments"].values(), *config["toy"].values()]:
        for name, spec in entry.get(section, {}).items():
            found[name] = (spec["kind"], spec["title"])
    return [(name, *found[name]) for name in sorted(found)]


@pytest.mark.parametrize("config", list(configurations()), ids=["paper", "quick", "test"])
def test_the_caption_of_every_configured_figure_and_table_renders(config, monkeypatch):
    """report/captions/output.rst as Snakemake renders a file's caption (its Jinja environment, then
    docutils from the working directory), with the job's wildcards, params and the configuration."""
    monkeypatch.chdir(ROOT)
    template = Environment(trim_blocks=True, lstrip_blocks=True).from_string((CAPTIONS / "output.rst").read_text())
    for section in ("figures", "tables"):
        for name, kind, title in outputs(config, section):
            job = SimpleNamespace(wildcards=Wildcards(fromdict={section[:-1]: name}),
                                  params=Params(fromdict={"kind": kind, "title": title}), config=config)
            caption = html(template.render(snakemake=job))
            assert re.sub(r"\s+", " ", caption).count(title.replace("&", "&amp;")) == 1
            assert "What is plotted." in caption if section == "figures" else "What is tabulated." in caption
            analytic = name in {f for toy in config["toy"].values() for f in toy.get("figures", {})}
            experiments = [e for e, spec in config["experiments"].items() if name in spec.get(section, {})]
            assert ("analytic experiment" in caption) == analytic
            assert all(f"<tt class=\"docutils literal\">{e}</tt>" in caption for e in experiments)
            # what an unconverged estimate and a zero bar look like, wherever a value rests on one
            assert ("not converged" in caption) == (not analytic and kind != "minima_summary")


def test_a_table_page_escapes_its_cells_and_aligns_numbers():
    rows = [["x<y", "0.25 ± 0.01"], ["long " * 20, "∞"]]
    page = pages.table("A <b> title", "made of & from", ["name", "value"], rows)
    assert "<h1>A &lt;b&gt; title</h1>" in page and "made of &amp; from" in page
    assert '<td class="short">x&lt;y</td><td class="number">0.25 ± 0.01</td>' in page
    assert f'<td class="long">{"long " * 20}</td>' in page and '<td class="number">∞</td>' in page


def test_a_csv_page_shows_every_cell_under_the_csv_header(tmp_path):
    path = tmp_path / "t.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["item", "ours"], ["a, quoted", 'say "so"\nthen more']])
    page = pages.csv_table(path, title="T", note="n")
    assert "<th>item</th><th>ours</th>" in page
    assert '<td class="short">a, quoted</td>' in page and "say &quot;so&quot;\nthen more" in page


def test_fidelity_table_marks_exactly_the_assumed_settings():
    with open(ROOT / "docs/fidelity.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == ["item", "paper", "ours", "assumed"]
    assert all(r["assumed"] == ("yes" if "assumed" in r["ours"] else "no") for r in rows)
    assert not any("*" in value for r in rows for value in r.values())  # Markdown emphasis stripped


def test_the_runs_own_items_are_a_copy_and_a_page(tmp_path):
    csv_out, page = pages.fidelity(ROOT / "docs/fidelity.csv", tmp_path / "f.csv", tmp_path / "f.html")
    assert csv_out.read_bytes() == (ROOT / "docs/fidelity.csv").read_bytes()
    with open(csv_out, newline="") as f:
        assert page.read_text().count("<tr>") == len(list(csv.reader(f)))  # the header and every row
    text = yaml.safe_dump({"scale": "quick", "title": "a <b> & c"})
    yaml_out, page = pages.configuration(text, "quick", tmp_path / "c.yaml", tmp_path / "c.html")
    assert yaml.safe_load(yaml_out.read_text()) == {"scale": "quick", "title": "a <b> & c"}
    assert "<h1>Configuration (quick scale)</h1>" in page.read_text() and "a &lt;b&gt; &amp; c" in page.read_text()
