"""A report as a list of blocks, rendered to Markdown and to one self-contained HTML file.

Figures are files next to ``report.md`` (linked by relative path); in ``report.html`` they are
embedded as base64 ``data:`` URIs, so the HTML can be mailed or attached on its own.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["Heading", "Text", "Table", "Figure", "Document", "to_markdown", "to_html"]


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Text:
    """A paragraph (Markdown inline syntax allowed in ``report.md``; shown as plain text in HTML)."""

    text: str


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass
class Figure:
    """A PNG file in the report directory."""

    path: Path
    caption: str = ""


@dataclass
class Document:
    title: str
    blocks: list[Heading | Text | Table | Figure] = field(default_factory=list)

    def add(self, block: Heading | Text | Table | Figure) -> None:
        self.blocks.append(block)


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (no index)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(_md_cell(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
    return "\n".join(lines)


def to_markdown(doc: Document, base: Path) -> str:
    """``report.md`` text; figure links are relative to ``base`` (the report directory)."""
    out = [f"# {doc.title}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Text):
            out += [b.text, ""]
        elif isinstance(b, Table):
            if b.caption:
                out += [f"*{b.caption}*", ""]
            out += [markdown_table(b.frame) if not b.frame.empty else "(no data)", ""]
        elif isinstance(b, Figure):
            rel = b.path.relative_to(base) if b.path.is_relative_to(base) else b.path
            out += [f"![{b.caption}]({rel.as_posix()})", ""]
            if b.caption:
                out += [f"*{b.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
figure { margin: 1em 0; } figure img { max-width: 100%; } figcaption { font-size: 0.9em; color: #555; }
code { background: #f6f6f6; padding: 0 0.2em; }
"""


def to_html(doc: Document) -> str:
    """A self-contained HTML page (inline CSS, figures embedded as base64 PNG)."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
    ]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Text):
            out.append(f"<p>{html.escape(b.text).replace('`', '')}</p>")
        elif isinstance(b, Table):
            if b.caption:
                out.append(f"<p><em>{html.escape(b.caption)}</em></p>")
            out.append(b.frame.to_html(index=False, border=0, escape=True) if not b.frame.empty else "<p>(no data)</p>")
        elif isinstance(b, Figure):
            data = base64.b64encode(b.path.read_bytes()).decode("ascii")
            out.append(
                f'<figure><img alt="{html.escape(b.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(b.caption)}</figcaption></figure>"
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
