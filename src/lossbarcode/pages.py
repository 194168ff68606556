"""HTML pages for the workflow's report (``snakemake --report``): a table or a text under a title and a
line saying what it is made of, and the report's items about the run as a whole (the fidelity table,
the configuration).

Snakemake's report shows an HTML result in place, but offers a CSV or YAML file only as a download, so
what should be read there is also written as a page. A page is one file with its style inline: the
report embeds it as it is. Imports nothing heavy.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

from .io import atomic_write

SHORT = 40  # characters: a text cell this long or shorter is kept on one line

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1e293b; margin: 1.5em; }
h1 { font-size: 1.3em; margin: 0 0 0.3em; }
p.note { color: #475569; margin: 0 0 1em; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #cbd5e1; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
th { background: #f1f5f9; position: sticky; top: 0; }
td.short { white-space: nowrap; }
td.long { min-width: 16em; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:hover td { background: #f8fafc; }
pre { background: #f8fafc; border: 1px solid #e2e8f0; padding: 1em; overflow: auto; }
"""


def _page(title: str, note: str, body: str) -> str:
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>{escape(title)}</h1>\n"
            f'<p class="note">{escape(note)}</p>\n{body}\n</body>\n</html>\n')


def _is_number(text: str) -> bool:
    """Whether a cell reads as a number (right-aligned): digits with a sign, point, exponent, ± or ∞, and
    perhaps a footnote's mark (†, ‡)."""
    stripped = text.replace("±", "").replace(" ", "").rstrip("†‡")
    return (bool(stripped) and all(c in "0123456789.-+e∞—" for c in stripped)
            and any(c in "0123456789∞" for c in stripped))


def _cell(text: str) -> str:
    """A table cell: numbers right-aligned; short text kept on one line (a row of names and numbers
    stays one line), long text wrapped, in a column wide enough to read."""
    kind = "number" if _is_number(text) else "short" if len(text) <= SHORT else "long"
    return f'<td class="{kind}">{escape(text)}</td>'


def table(title: str, note: str, headers: Sequence[str], rows: Iterable[Sequence[str]],
          footnotes: Sequence[str] = ()) -> str:
    """A page of one table, ``footnotes`` under it; every cell is text, shown as given."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    below = "".join(f'\n<p class="note">{escape(text)}</p>' for text in footnotes)
    return _page(title, note,
                 f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>{below}")


def text(title: str, note: str, content: str) -> str:
    """A page of preformatted text (a configuration file, say)."""
    return _page(title, note, f"<pre>{escape(content)}</pre>")


def write(path: str | Path, page: str) -> Path:
    """Writes a page atomically."""
    return atomic_write(path, lambda f: f.write(page.encode()))


def csv_table(path: str | Path, *, title: str, note: str) -> str:
    """The page of a CSV file: its first row as the headers, every cell as written."""
    with open(path, newline="", encoding="utf-8") as f:
        headers, *rows = list(csv.reader(f))
    return table(title, note, headers, rows)


def fidelity(source: str | Path, csv_out: str | Path, html_out: str | Path) -> list[Path]:
    """The fidelity table (columns item, paper, ours, assumed) copied beside the figures, and its page."""
    page = csv_table(source, title="Fidelity to the papers",
                     note="Each setting as the papers give it (or do not) and as this workflow has it; "
                          "'assumed' marks our choices where the papers give none.")
    return [atomic_write(csv_out, lambda f: f.write(Path(source).read_bytes())), write(html_out, page)]


def configuration(yaml_text: str, scale: str, yaml_out: str | Path, html_out: str | Path) -> list[Path]:
    """A run's configuration (``yaml_text``) as a file and as a page."""
    page = text(f"Configuration ({scale} scale)",
                "What this workflow ran with: the config files and any --config overrides, merged, as YAML.", yaml_text)
    return [atomic_write(yaml_out, lambda f: f.write(yaml_text.encode())), write(html_out, page)]
