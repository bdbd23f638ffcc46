"""Self-contained HTML reports: prose, tables and plotly figures on one page that opens offline."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import plotly.graph_objects as go

from implicit3d.fileio import atomic_write_text

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.5}
h1{font-size:1.8em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.note{color:#666;font-size:.9em}
code{background:#f4f4f4;padding:0 .2em}
"""


@dataclass
class Section:
    """One report section: a heading, HTML prose, then optional figures and tables (rows of cells)."""

    heading: str
    text_html: str = ""
    figures: list[go.Figure] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[object]]]] = field(default_factory=list)


def table_html(header: list[str], rows: list[list[object]]) -> str:
    """An HTML table; floats are shown with 4 significant digits."""

    def cell(x: object) -> str:
        return html.escape(f"{x:.4g}" if isinstance(x, float) else str(x))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_report(title: str, sections: list[Section], intro_html: str = "") -> str:
    """The whole page as a string; plotly.js is embedded once so the page works without network."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>{intro_html}",
    ]
    first = True
    for sec in sections:
        parts.append((f"<h2>{html.escape(sec.heading)}</h2>" if sec.heading else "") + sec.text_html)
        for header, rows in sec.tables:
            parts.append(table_html(header, rows))
        for fig in sec.figures:
            parts.append(fig.to_html(full_html=False, include_plotlyjs=True if first else False))
            first = False
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | os.PathLike, title: str, sections: list[Section], intro_html: str = "") -> Path:
    """Write the report atomically (temp file + rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(title, sections, intro_html)
    atomic_write_text(path, text)
    return path


def write_figure(path: str | os.PathLike, fig: go.Figure) -> Path:
    """Write one figure as a self-contained HTML file (atomic)."""
    return write_report(path, fig.layout.title.text or "implicit3d figure", [Section("", figures=[fig])])


def write_full_window_figure(path: str | os.PathLike, fig: go.Figure) -> Path:
    """Write one figure as a self-contained HTML page where the plot fills the browser window (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = fig.to_html(full_html=True, include_plotlyjs=True, default_width="100%", default_height="100vh",
                       config={"responsive": True})
    text = text.replace("<head>", "<head><style>html,body{margin:0;height:100%;overflow:hidden}</style>", 1)
    atomic_write_text(path, text)
    return path
