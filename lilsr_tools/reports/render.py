"""Reports as a list of blocks, rendered twice: ``report.md`` and a self-contained ``report.html``
(figures embedded as base64 PNG, so the file opens anywhere on its own). Table headers are shown in
words with units (``headers.readable``); the CSV files keep the column names."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import atomic_file
from .headers import readable

CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 2em auto; max-width: 1400px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.table-wrap { max-width: 100%; overflow-x: auto; margin: 0.6em 0; }
table { border-collapse: collapse; font-size: 0.8em; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; }
td { white-space: nowrap; }
th { background: #f4f4f4; font-weight: 600; vertical-align: bottom; }
td:first-child, th:first-child { text-align: left; white-space: normal; min-width: 14em; max-width: 28em;
                                 overflow-wrap: anywhere; }
tr:nth-child(even) { background: #fafafa; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; } .failed { color: #b00; }
.findings li { margin: 0.3em 0; line-height: 1.4; }
"""

# where long names may break: cell ids at '/', column names at '_' (an HTML table is only as narrow as its
# longest unbreakable word)
_BREAK_CELL = ("/",)
_BREAK_HEAD = ("_", "/", "@")


@dataclass
class Block:
    kind: str  # "h1", "h2", "text", "list", "table", "image", "code"
    content: object
    caption: str = ""


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.3f}"
        if abs(value) < 1e-4:  # a p-value of 3e-9 is not "0.0000"
            return f"{value:.1e}"
        return f"{value:.4f}"
    return str(value)


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(readable(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _breakable(text: str, after: tuple[str, ...]) -> str:
    escaped = html.escape(text)
    for mark in after:
        escaped = escaped.replace(html.escape(mark), html.escape(mark) + "<wbr>")
    return escaped


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_breakable(readable(c), _BREAK_HEAD)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{_breakable(_fmt(v), _BREAK_CELL)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def write_report(blocks: list[Block], folder: Path, title: str) -> tuple[Path, Path]:
    md, doc = [], []
    for block in blocks:
        if block.kind == "h1":
            md.append(f"# {block.content}\n")
            doc.append(f"<h1>{html.escape(str(block.content))}</h1>")
        elif block.kind == "h2":
            md.append(f"\n## {block.content}\n")
            doc.append(f"<h2>{html.escape(str(block.content))}</h2>")
        elif block.kind == "text":
            md.append(f"{block.content}\n")
            doc.append(f"<p class='note'>{html.escape(str(block.content))}</p>")
        elif block.kind == "list":  # sentences, e.g. the Findings
            md.append("\n".join(f"- {item}" for item in block.content) + "\n")
            doc.append("<ul class='findings'>" + "".join(f"<li>{html.escape(str(item))}</li>"
                                                         for item in block.content) + "</ul>")
        elif block.kind == "code":
            md.append(f"```\n{block.content}\n```\n")
            doc.append(f"<pre>{html.escape(str(block.content))}</pre>")
        elif block.kind == "table":
            md.append(_markdown_table(block.content) + "\n")
            doc.append(_html_table(block.content))
            if block.caption:
                md.append(f"{block.caption}\n")
                doc.append(f"<p class='note'>{html.escape(block.caption)}</p>")
        elif block.kind == "image":
            path = Path(block.content)
            md.append(f"![{block.caption}]({path.relative_to(folder)})\n")
            data = base64.b64encode(path.read_bytes()).decode()
            doc.append(f"<figure><img alt='{html.escape(block.caption)}' src='data:image/png;base64,{data}'>"
                       f"<figcaption class='note'>{html.escape(block.caption)}</figcaption></figure>")
    md_path, html_path = folder / "report.md", folder / "report.html"
    with atomic_file(md_path) as handle:
        handle.write("\n".join(md))
    with atomic_file(html_path) as handle:
        handle.write(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                     f"<style>{CSS}</style></head><body>{''.join(doc)}</body></html>")
    return md_path, html_path
